package workers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"

	"github.com/switchboard-cc/switchboard/internal/metrics"
	"github.com/switchboard-cc/switchboard/internal/turn"
	"github.com/switchboard-cc/switchboard/providers"
	"github.com/switchboard-cc/switchboard/providers/messaging"
	"github.com/switchboard-cc/switchboard/providers/nlu"
	"github.com/switchboard-cc/switchboard/workflows"
)

// Router chooses the providers for a turn.
type Router interface {
	Route(ctx context.Context, in turn.RouteInput) (turn.Route, error)
}

// Providers looks up provider clients by the names the policy gives them. The
// clients are the vendors' own; Activities passes every call through its Guard.
type Providers interface {
	Detector(name string) (nlu.Detector, bool)
	Sender(name string) (messaging.Sender, bool)
}

// Activities are the conversation workflow's only way to touch the world. Each method
// makes one provider attempt; the workflow's retry policy is the only retry layer.
type Activities struct {
	Router    Router
	Providers Providers
	// Guard checks breakers, applies the policy's classification and records every
	// attempt. Nil: attempts go out unguarded and unrecorded (tests).
	Guard   *Guard
	Ledger  *SendLedger
	Events  jetstream.JetStream
	Metrics *metrics.Metrics
	Logger  *slog.Logger
	// Canary is the scheduled stack canary's activity (canary.go); nil: none.
	Canary *CanaryActivity
	// Hedges bounds hedged NLU attempts and lets a failing attempt release the
	// hedge beside it (hedge.go). The zero value is unbounded.
	Hedges Hedges
}

// callContext bounds an attempt's calls so that its activity returns, with the
// provider's own classified timeout, turn.AttemptGrace before the SDK's deadline: the
// SDK never cuts an attempt off (nor retries it for that), and never warns that a
// local activity completed after its deadline.
func callContext(ctx context.Context) (context.Context, context.CancelFunc) {
	if dl, ok := ctx.Deadline(); ok {
		return context.WithDeadline(ctx, dl.Add(-turn.AttemptGrace))
	}
	return context.WithCancel(ctx)
}

// Register registers the activities under the names the workflow uses.
func (a *Activities) Register(w worker.ActivityRegistry) {
	w.RegisterActivityWithOptions(a.Route, activity.RegisterOptions{Name: workflows.ActivityRoute})
	w.RegisterActivityWithOptions(a.Detect, activity.RegisterOptions{Name: workflows.ActivityDetect})
	w.RegisterActivityWithOptions(a.Send, activity.RegisterOptions{Name: workflows.ActivitySend})
	w.RegisterActivityWithOptions(a.PublishOutcome, activity.RegisterOptions{Name: workflows.ActivityPublish})
	w.RegisterActivityWithOptions(a.Escalate, activity.RegisterOptions{Name: workflows.ActivityEscalate})
}

// Route asks the router for the turn's candidates.
func (a *Activities) Route(ctx context.Context, in turn.RouteInput) (turn.Route, error) {
	return a.Router.Route(ctx, in)
}

// Detect makes one attempt on one NLU provider.
func (a *Activities) Detect(ctx context.Context, in workflows.DetectInput) (workflows.DetectOutput, error) {
	d, ok := a.Providers.Detector(in.Provider)
	if !ok {
		return workflows.DetectOutput{}, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("NLU provider %q is not configured on this worker", in.Provider), workflows.ErrTypeUnknown, nil)
	}
	if in.HedgeOf > 0 {
		// A hedge: it waits its delay (on its first try), unless the attempt it
		// runs beside fails first, and goes out only within its provider's bound.
		if in.Delay > 0 && activity.GetInfo(ctx).Attempt == 1 {
			if err := a.Hedges.wait(ctx, in); err != nil {
				return workflows.DetectOutput{}, err
			}
		}
		release, err := a.Hedges.acquire(in.Provider)
		if err != nil {
			a.metrics().Attempt(in.Provider, "hedge_refused", 0)
			return workflows.DetectOutput{}, err
		}
		defer release()
	}
	cctx, cancel := callContext(ctx)
	defer cancel()
	start := time.Now()
	r, err := guarded(ctx, a.Guard, in.Provider, false, in.SlowAfter, func() (nlu.Result, error) {
		return d.Detect(cctx, nlu.Query{SessionID: in.ConversationID, Text: in.Text, LanguageCode: in.LanguageCode})
	})
	if err != nil {
		if ctx.Err() == nil {
			a.Hedges.open(ctx, in) // the hedge beside this attempt need not wait any longer
		}
		return workflows.DetectOutput{}, activityError(err)
	}
	return workflows.DetectOutput{Intent: r.Intent, Reply: r.Reply, Confidence: r.Confidence, Elapsed: time.Since(start)}, nil
}

// Send makes one attempt to deliver a reply, guarded by the send ledger so that the
// same idempotency key never reaches a vendor twice once a vendor may have taken it:
//   - a key already sent is not sent again (the receipt is returned, Reused);
//   - a key whose earlier send has an unknown outcome is settled first by asking
//     the vendor that may have it (messaging.Finder): it has the message (the key
//     becomes sent, nothing is sent), or it has not (this attempt sends). A vendor
//     that cannot be asked, or does not answer, fails the attempt with
//     ErrTypeDeliveryUnknown, unless in.SendUnknown says an operator decided;
//   - a send that fails definitely releases the key; one whose outcome is unknown
//     (providers.DeliveryUnknown) marks it unknown.
func (a *Activities) Send(ctx context.Context, in workflows.SendInput) (workflows.SendOutput, error) {
	s, ok := a.Providers.Sender(in.Provider)
	if !ok {
		return workflows.SendOutput{}, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("CPaaS provider %q is not configured on this worker", in.Provider), workflows.ErrTypeUnknown, nil)
	}
	key := in.Message.IdempotencyKey
	bg := context.WithoutCancel(ctx)
	ctx, cancel := callContext(ctx)
	defer cancel()
	claim, err := a.Ledger.Claim(ctx, key, in.Provider, in.Message)
	var inFlight *InFlightError
	if errors.As(err, &inFlight) {
		return workflows.SendOutput{}, temporal.NewApplicationError(err.Error(), workflows.ErrTypeInFlight, inFlight.Until)
	}
	if err != nil {
		// Without the ledger a send could be a duplicate: wait for it instead.
		return workflows.SendOutput{}, temporal.NewApplicationError(err.Error(), workflows.ErrTypeUnavailable)
	}
	if claim.Sent != nil {
		a.logger().Info("reply already sent, not sending again", "key", key, "provider", claim.Sent.Provider)
		return workflows.SendOutput{MessageID: claim.Sent.MessageID, Reused: true}, nil
	}
	if claim.Unknown != nil {
		out, settled, err := a.settle(ctx, claim, in)
		if err != nil || settled {
			return out, err
		}
		claim, err = a.Ledger.TakeOver(ctx, claim, in.Provider, in.Message)
		if err != nil {
			return workflows.SendOutput{}, temporal.NewApplicationError(err.Error(), workflows.ErrTypeInFlight, time.Now())
		}
	}
	claimedAt := time.Now()
	r, err := guarded(ctx, a.Guard, in.Provider, in.Forced, 0, func() (messaging.Receipt, error) { return s.Send(ctx, in.Message) })
	elapsed := time.Since(claimedAt)
	if err != nil {
		if providers.DeliveryUnknown(err) {
			if merr := a.Ledger.MarkUnknown(bg, claim, in.Provider, in.Message, claimedAt, err.Error()); merr != nil {
				// The pending claim stays; once it lapses, the next attempt finds it
				// unknown all the same.
				a.logger().Warn("send ledger: unknown delivery not recorded; the claim lapses into unknown", "key", key, "error", merr)
			}
			return workflows.SendOutput{}, temporal.NewApplicationError(err.Error(), workflows.ErrTypeDeliveryUnknown)
		}
		if rerr := a.Ledger.Release(bg, claim); rerr != nil {
			a.logger().Warn("send ledger claim not released; the next attempt waits for it to lapse", "key", key, "error", rerr)
		}
		return workflows.SendOutput{}, activityError(err)
	}
	if err := a.Ledger.Confirm(bg, claim, in.Provider, r.MessageID); err != nil {
		// The reply is out. The receipt travels back in the activity result; a
		// later attempt under the key finds the claim pending, then unknown once it
		// lapses, and asks the vendor before it sends.
		a.logger().Warn("reply sent but not recorded in the send ledger", "key", key, "error", err)
	}
	return workflows.SendOutput{MessageID: r.MessageID, Elapsed: elapsed}, nil
}

// unknownSkew is how much earlier than the unknown attempt's claim the vendor's
// clock may date the message.
const unknownSkew = 2 * time.Second

// settle decides an unknown earlier send before anything is sent under its key. It
// returns settled with the receipt when the vendor has the message, an error when it
// cannot be decided, and neither when the caller may send.
func (a *Activities) settle(ctx context.Context, claim Claim, in workflows.SendInput) (workflows.SendOutput, bool, error) {
	u := claim.Unknown
	asked := in.Message
	if u.Message != nil {
		asked = *u.Message
	}
	var finder messaging.Finder
	if s, ok := a.Providers.Sender(u.Provider); ok {
		finder, _ = s.(messaging.Finder)
	}
	why := u.Detail
	if finder != nil {
		r, found, err := finder.Find(ctx, asked, u.At.Add(-unknownSkew))
		switch {
		case err == nil && found:
			a.logger().Info("reply of unknown delivery found at the vendor; not sending again", "key", in.Message.IdempotencyKey, "provider", u.Provider, "message_id", r.MessageID)
			if cerr := a.Ledger.Confirm(context.WithoutCancel(ctx), claim, u.Provider, r.MessageID); cerr != nil {
				a.logger().Warn("send ledger: found reply not recorded", "key", in.Message.IdempotencyKey, "error", cerr)
			}
			a.metrics().DeliverySettled.WithLabelValues("found").Inc()
			return workflows.SendOutput{MessageID: r.MessageID, Reused: true}, true, nil
		case err == nil:
			a.logger().Info("reply of unknown delivery not at the vendor; sending it", "key", in.Message.IdempotencyKey, "provider", u.Provider)
			a.metrics().DeliverySettled.WithLabelValues("not_found").Inc()
			return workflows.SendOutput{}, false, nil
		default:
			why = fmt.Sprintf("%s; asking %s failed: %v", u.Detail, u.Provider, err)
		}
	} else {
		why = fmt.Sprintf("%s; %s cannot be asked for its messages", u.Detail, u.Provider)
	}
	if in.SendUnknown {
		a.logger().Warn("reply of unknown delivery sent again by an operator's decision", "key", in.Message.IdempotencyKey, "provider", u.Provider)
		a.metrics().DeliverySettled.WithLabelValues("operator").Inc()
		return workflows.SendOutput{}, false, nil
	}
	a.metrics().DeliverySettled.WithLabelValues("undecided").Inc()
	return workflows.SendOutput{}, false, temporal.NewApplicationError("delivery unknown: "+why, workflows.ErrTypeDeliveryUnknown)
}

// PublishOutcome announces a processed turn on the events stream. The message id is
// the turn's (and, for the outcome of a replay, the replay's completion time), so a
// retried publish is deduplicated by JetStream and a replayed outcome is not.
func (a *Activities) PublishOutcome(ctx context.Context, in workflows.PublishInput) error {
	o := in.Outcome
	data, err := json.Marshal(o)
	if err != nil {
		return temporal.NewNonRetryableApplicationError(err.Error(), "Encoding", err)
	}
	msgID := "outcome:" + o.TurnID
	if o.Replayed {
		msgID += fmt.Sprintf(":replayed:%d", o.CompletedAt.UnixNano())
	}
	_, err = a.Events.Publish(ctx, turn.EventSubject(o.ConversationID), data, jetstream.WithMsgID(msgID))
	// Canary turns count in switchboard_canary_*, replays in switchboard_replays_total.
	if err == nil && activity.GetInfo(ctx).Attempt == 1 && !turn.IsCanaryTurn(o.TurnID) && !o.Replayed {
		m := a.metrics()
		m.TurnsProcessed.WithLabelValues(o.Status).Inc()
		if !o.ReceivedAt.IsZero() {
			m.TurnLatency.Observe(o.CompletedAt.Sub(o.ReceivedAt).Seconds())
			if !o.AcceptedAt.IsZero() {
				m.TurnHops.WithLabelValues("bridge").Observe(max(0, o.AcceptedAt.Sub(o.ReceivedAt).Seconds()))
			}
		}
		if o.NLUDuration > 0 {
			m.TurnHops.WithLabelValues("nlu").Observe(o.NLUDuration.Seconds())
		}
		if o.CPaaSDuration > 0 {
			m.TurnHops.WithLabelValues("cpaas").Observe(o.CPaaSDuration.Seconds())
		}
	}
	return err
}

// Escalate publishes an escalation: to its queue's subject while it waits for an
// agent, to the alerts subject once flagged. The message id makes retries no-ops.
func (a *Activities) Escalate(ctx context.Context, in workflows.EscalateInput) error {
	e := in.Escalation
	subject := turn.EscalationSubject(e.Queue)
	if e.State == turn.EscalationFlagged {
		subject = turn.FlaggedSubject
		a.logger().Error("ALERT: escalation acknowledged by no queue; the customer got the final message",
			"escalation", e.ID, "conversation", e.ConversationID, "reason", e.Reason)
	} else if !turn.ValidQueueName(e.Queue) {
		return temporal.NewNonRetryableApplicationError(fmt.Sprintf("queue name %q is not valid", e.Queue), workflows.ErrTypeRejected, nil)
	}
	data, err := json.Marshal(e)
	if err != nil {
		return temporal.NewNonRetryableApplicationError(err.Error(), "Encoding", err)
	}
	_, err = a.Events.Publish(ctx, subject, data, jetstream.WithMsgID(e.ID+"/"+e.Queue+"/"+e.State))
	if err == nil {
		outcome := "queued"
		switch {
		case e.State == turn.EscalationFlagged:
			outcome = "flagged"
		case e.QueueIndex > 0:
			outcome = "rerouted"
		}
		a.metrics().Escalations.WithLabelValues(outcome).Inc()
	}
	return err
}

func (a *Activities) metrics() *metrics.Metrics {
	if a.Metrics != nil {
		return a.Metrics
	}
	return metrics.Discard()
}

func (a *Activities) logger() *slog.Logger {
	if a.Logger != nil {
		return a.Logger
	}
	return slog.Default()
}

// activityError turns a classified provider error into the application error the
// workflow decides on. Rejections are non-retryable: no retry or failover fixes them.
// The provider error is the message, once, and not also the cause: the SDK prints a
// cause after the message, and a cause's own causes after it, so the vendor's error
// would be repeated at every level.
func activityError(err error) error {
	msg := err.Error()
	switch {
	case errors.Is(err, providers.ErrRejected):
		return temporal.NewApplicationErrorWithOptions(msg, workflows.ErrTypeRejected, temporal.ApplicationErrorOptions{NonRetryable: true})
	case errors.Is(err, providers.ErrRateLimited):
		return temporal.NewApplicationError(msg, workflows.ErrTypeRateLimited)
	case errors.Is(err, providers.ErrTimeout):
		return temporal.NewApplicationError(msg, workflows.ErrTypeTimeout)
	default:
		return temporal.NewApplicationError(msg, workflows.ErrTypeUnavailable)
	}
}
