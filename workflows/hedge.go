package workflows

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/switchboard-cc/switchboard/internal/turn"
)

// Since versionHedgedNLU the NLU candidates of a turn are asked with hedging:
//
//   - An attempt that has not answered within its provider's hedge delay
//     (NLUCandidate.HedgeAfter) gets the next remote candidate started beside it.
//     The first answer wins; the other attempt is cancelled, and the transcript
//     lists it under Outcome.Hedged. The local NLU is never a hedge: its no-match
//     would escalate a turn that a remote provider was about to answer.
//   - The hedge is scheduled with the attempt it hedges, as its own activity that
//     waits the delay before it calls (a workflow timer cannot fire while a
//     local activity holds the workflow task). An attempt that answers in time
//     cancels it before it calls; one that fails lets it call at once (the
//     worker's hedge gate).
//   - A timed-out attempt is not tried again on the same provider: its
//     ErrTypeTimeout is not retried, and the next candidate starts at once.
//   - A cancelled attempt that had waited its provider's hedge delay counts as a
//     slow call against that provider's breaker (DetectInput.SlowAfter), so a hung
//     provider trips after as many hedged turns as its breaker's
//     consecutive_failures, and is then routed out.
//   - A hedge refused for the provider's bound (ErrTypeHedgeRefused) is no
//     failure: the attempt it would have run beside goes on alone, the turn starts
//     no further hedge, and the refused provider stays next in line.
//
// At most two attempts of a turn are in flight. Replies are never hedged: two
// sends are two messages.

// nluNonRetryable are the NLU errors that end an attempt at once.
var nluNonRetryable = []string{ErrTypeRejected, ErrTypeUnknown, ErrTypeTimeout, ErrTypeHedgeRefused}

// nluAttempt is one NLU attempt of a turn, in flight.
type nluAttempt struct {
	n       int // its place among the turn's attempts, 1-based
	idx     int // its candidate's index in the route
	cand    turn.NLUCandidate
	hedgeOf int       // the attempt it runs beside; 0: none
	calls   time.Time // when it calls the provider (a hedge waits first)
	fut     workflow.Future
	cancel  workflow.CancelFunc
}

// askHedged asks the route's NLU candidates with hedging and returns the one that
// answered, if any.
func (c *conversation) askHedged(ctx workflow.Context, route turn.Route, t turn.Turn, out *turn.Outcome) *turn.NLUCandidate {
	var (
		active  []*nluAttempt
		next, n int
		refused bool // a hedge was refused: no more hedges for this turn
	)
	launch := func(beside *nluAttempt) {
		cand := route.NLU[next]
		n++
		in := DetectInput{Provider: cand.Provider, ConversationID: c.Conversation.ID, Text: t.Text, LanguageCode: route.LanguageCode,
			Seq: out.Seq, Attempt: n, SlowAfter: cand.HedgeAfter}
		summary := attemptSummary("Detect", cand.Provider, n)
		if beside != nil {
			in.HedgeOf = beside.n
			in.Delay = max(0, beside.calls.Add(beside.cand.HedgeAfter).Sub(workflow.Now(ctx)))
			summary += fmt.Sprintf(" · hedge of %d after %s", beside.n, in.Delay.Round(time.Millisecond))
		}
		retry := in
		retry.Delay = 0
		actx, cancel := workflow.WithCancel(ctx)
		a := &nluAttempt{n: n, idx: next, cand: cand, hedgeOf: in.HedgeOf, calls: workflow.Now(ctx).Add(in.Delay), cancel: cancel}
		a.fut = c.start(actx, attemptCall{activity: ActivityDetect, summary: summary, attempt: cand.Attempt, delay: in.Delay, nonRetryable: nluNonRetryable, input: in, retry: retry})
		active = append(active, a)
		next++
	}
	hedge := func(a *nluAttempt) {
		if !refused && a.cand.HedgeAfter > 0 && next < len(route.NLU) && !route.NLU[next].Local {
			launch(a)
		}
	}
	if len(route.NLU) > 0 {
		launch(nil)
		hedge(active[0])
	}
	for len(active) > 0 {
		var done *nluAttempt
		sel := workflow.NewSelector(ctx)
		for _, a := range active {
			sel.AddFuture(a.fut, func(workflow.Future) { done = a })
		}
		sel.Select(ctx)
		active = slices.DeleteFunc(active, func(a *nluAttempt) bool { return a == done })
		var d DetectOutput
		err := done.fut.Get(ctx, &d)
		switch {
		case err == nil:
			out.Intent, out.Reply, out.NLUProvider, out.NLUDuration = d.Intent, d.Reply, done.cand.Provider, d.Elapsed
			now := workflow.Now(ctx)
			for _, a := range active {
				a.cancel()
				if !now.Before(a.calls) { // it had called: a race it lost
					out.Hedged = append(out.Hedged, turn.FailedAttempt{Step: "nlu", Provider: a.cand.Provider,
						Error: fmt.Sprintf("cancelled: no answer within %s, %s answered first", now.Sub(a.calls).Round(time.Millisecond), done.cand.Provider)})
				}
			}
			return &route.NLU[done.idx]
		case isHedgeRefused(err):
			workflow.GetLogger(ctx).Info("NLU hedge refused", "provider", done.cand.Provider, "error", err)
			refused, next = true, done.idx
		default:
			workflow.GetLogger(ctx).Warn("NLU attempt failed", "provider", done.cand.Provider, "error", err)
			out.Failover = append(out.Failover, turn.FailedAttempt{Step: "nlu", Provider: done.cand.Provider, Error: errorText(err)})
			if isRejected(err) {
				// The query itself is refused; its twins would refuse it too.
				for _, a := range active {
					a.cancel()
				}
				return nil
			}
			now := workflow.Now(ctx)
			for _, a := range active {
				if a.hedgeOf == done.n && now.Before(a.calls) {
					a.calls = now // the worker's gate lets it call at once
				}
			}
		}
		switch {
		case len(active) == 0 && next < len(route.NLU):
			launch(nil)
			hedge(active[0])
		case len(active) == 1:
			hedge(active[0])
		}
	}
	return nil
}

// isHedgeRefused reports a hedge refused for its provider's bound.
func isHedgeRefused(err error) bool {
	var ae *temporal.ApplicationError
	return errors.As(err, &ae) && ae.Type() == ErrTypeHedgeRefused
}
