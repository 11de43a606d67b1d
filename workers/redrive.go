package workers

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/switchboard-cc/switchboard/internal/turn"
)

// Redrive re-sends unanswered replies without an operator. Every interval it lists
// the conversations whose workflow reports itself stuck, oldest first, and replays
// (Replay) each one whose only unfinished work is replies no CPaaS provider could
// send, as soon as Deliverable says a CPaaS provider of the conversation is in
// rotation again. The replay is paced by Pace like any other, sends with the
// original idempotency keys (nothing leaves twice), and applies the stale-reply
// policy.
//
// What automation must not decide stays for an operator's replay: replies of unknown
// delivery (the vendor may have them), escalations no queue acknowledged, turns held
// in JetStream and failing workflow tasks. A conversation with any of those is left
// alone, and stays listed as stuck.
func (s *Stuck) Redrive(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		s.redrive(ctx)
	}
}

func (s *Stuck) redrive(ctx context.Context) {
	if s.Deliverable == nil {
		return
	}
	tctx, cancel := context.WithTimeout(ctx, temporalWait)
	list, err := s.workflowStuck(tctx)
	cancel()
	if err != nil {
		s.log().Debug("redrive: stuck conversations not listed", "error", err)
		return
	}
	slices.SortFunc(list, func(a, b turn.Stuck) int { return a.Since.Compare(b.Since) })
	for _, st := range list {
		if ctx.Err() != nil {
			return
		}
		if !automatic(st) {
			continue
		}
		tr, err := s.transcript(ctx, st.ConversationID)
		if err != nil || !s.Deliverable(ctx, tr) {
			continue
		}
		// Every worker redrives: the same unanswered turns of the same transcript
		// make the same update id, so Temporal runs their replay once. A replay
		// that failed again recorded its outcomes, so the next one has a new id.
		parts := []string{fmt.Sprint(len(tr.Turns))}
		if n := len(tr.Turns); n > 0 {
			parts = append(parts, tr.Turns[n-1].CompletedAt.String())
		}
		for _, r := range st.Reasons {
			parts = append(parts, r.Turns...)
		}
		rep, err := s.Replay(ctx, st.ConversationID, turn.ReplayOptions{
			By: "redrive (a CPaaS provider is back)", UpdateID: turn.RedriveUpdateID(parts),
		})
		result := "replayed"
		if err != nil || rep.Error != "" {
			result = "failed"
			s.log().Warn("redrive: unanswered replies not re-sent", "conversation", st.ConversationID, "error", err, "detail", rep.Error)
		} else {
			s.log().Info("redrive: unanswered replies re-sent", "conversation", st.ConversationID, "resent", len(rep.Resent))
		}
		s.metrics().AutoReplays.WithLabelValues(result).Inc()
	}
}

// automatic reports whether a stuck conversation's only unfinished work is replies
// no CPaaS provider could send.
func automatic(st turn.Stuck) bool {
	return len(st.Reasons) > 0 && !slices.ContainsFunc(st.Reasons, func(r turn.StuckReason) bool { return r.Source != turn.StuckUnanswered })
}
