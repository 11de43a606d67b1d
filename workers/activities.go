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

	"github.com/switchboard-cc/switchboard/internal/canary"
	"github.com/switchboard-cc/switchboard/internal/metrics"
	"github.com/switchboard-cc/switchboard/internal/streams"
	"github.com/switchboard-cc/switchboard/internal/turn"
	"github.com/switchboard-cc/switchboard/providers"
	"github.com/switchboard-cc/switchboard/providers/messaging"
	"github.com/switchboard-cc/switchboard/providers/nlu"
	"github.com/switchboard-cc/switchboard/workflows"
)

// Router chooses the providers for a turn.
type Router interface {
	Route(ctx context.Context, in workflows.RouteInput) (workflows.Route, error)
}

// Providers looks up provider clients by the names the policy gives them.
type Providers interface {
	Detector(name string) (nlu.Detector, bool)
	Sender(name string) (messaging.Sender, bool)
}

// Activities are the conversation workflow's only way to touch the world. Each method
// makes one provider attempt; the workflow's retry policy is the only retry layer.
type Activities struct {
	Router    Router
	Providers Providers
	Ledger    *SendLedger
	Events    jetstream.JetStream
	Metrics   *metrics.Metrics
	Logger    *slog.Logger
	// Canary is the scheduled stack canary's activity (canary.go); nil: none.
	Canary *CanaryActivity
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
func (a *Activities) Route(ctx context.Context, in workflows.RouteInput) (workflows.Route, error) {
	return a.Router.Route(ctx, in)
}

// Detect makes one attempt on one NLU provider.
func (a *Activities) Detect(ctx context.Context, in workflows.DetectInput) (workflows.DetectOutput, error) {
	d, ok := a.Providers.Detector(in.Provider)
	if !ok {
		return workflows.DetectOutput{}, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("NLU provider %q is not configured on this worker", in.Provider), workflows.ErrTypeUnknown, nil)
	}
	start := time.Now()
	r, err := d.Detect(ctx, nlu.Query{SessionID: in.ConversationID, Text: in.Text, LanguageCode: in.LanguageCode})
	if err != nil {
		return workflows.DetectOutput{}, activityError(err)
	}
	return workflows.DetectOutput{Intent: r.Intent, Reply: r.Reply, Confidence: r.Confidence, Elapsed: time.Since(start)}, nil
}

// Send makes one attempt to deliver a reply, guarded by the send ledger so that the
// same idempotency key never reaches a vendor twice once a vendor accepted it.
func (a *Activities) Send(ctx context.Context, in workflows.SendInput) (workflows.SendOutput, error) {
	s, ok := a.Providers.Sender(in.Provider)
	if !ok {
		return workflows.SendOutput{}, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("CPaaS provider %q is not configured on this worker", in.Provider), workflows.ErrTypeUnknown, nil)
	}
	key := in.Message.IdempotencyKey
	claim, err := a.Ledger.Claim(ctx, key, in.Provider)
	if errors.Is(err, ErrSendInFlight) {
		return workflows.SendOutput{}, temporal.NewApplicationError(err.Error(), workflows.ErrTypeInFlight)
	}
	if err != nil {
		// Without the ledger a send could be a duplicate: wait for it instead.
		return workflows.SendOutput{}, temporal.NewApplicationError(err.Error(), workflows.ErrTypeUnavailable)
	}
	if claim.Sent != nil {
		a.logger().Info("reply already sent, not sending again", "key", key, "provider", claim.Sent.Provider)
		return workflows.SendOutput{MessageID: claim.Sent.MessageID, Reused: true}, nil
	}
	start := time.Now()
	r, err := s.Send(ctx, in.Message)
	elapsed := time.Since(start)
	if err != nil {
		if rerr := a.Ledger.Release(context.WithoutCancel(ctx), claim); rerr != nil {
			a.logger().Warn("send ledger claim not released; the next attempt waits for it to go stale", "key", key, "error", rerr)
		}
		return workflows.SendOutput{}, activityError(err)
	}
	if err := a.Ledger.Confirm(context.WithoutCancel(ctx), claim, in.Provider, r.MessageID); err != nil {
		// The reply is out. The receipt travels back in the activity result; only a
		// retry of this very attempt would miss the ledger entry, and none follows a
		// success.
		a.logger().Warn("reply sent but not recorded in the send ledger", "key", key, "error", err)
	}
	return workflows.SendOutput{MessageID: r.MessageID, Elapsed: elapsed}, nil
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
	_, err = a.Events.Publish(ctx, streams.EventSubject(o.ConversationID), data, jetstream.WithMsgID(msgID))
	// Canary turns count in switchboard_canary_*, replays in switchboard_replays_total.
	if err == nil && activity.GetInfo(ctx).Attempt == 1 && !canary.IsTurn(o.TurnID) && !o.Replayed {
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
	subject := streams.EscalationSubject(e.Queue)
	if e.State == turn.EscalationFlagged {
		subject = streams.FlaggedSubject
		a.logger().Error("ALERT: escalation acknowledged by no queue; the customer got the final message",
			"escalation", e.ID, "conversation", e.ConversationID, "reason", e.Reason)
	} else if !streams.ValidQueueName(e.Queue) {
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
func activityError(err error) error {
	switch {
	case errors.Is(err, providers.ErrRejected):
		return temporal.NewNonRetryableApplicationError(err.Error(), workflows.ErrTypeRejected, err)
	case errors.Is(err, providers.ErrRateLimited):
		return temporal.NewApplicationError(err.Error(), workflows.ErrTypeRateLimited, err)
	case errors.Is(err, providers.ErrTimeout):
		return temporal.NewApplicationError(err.Error(), workflows.ErrTypeTimeout, err)
	default:
		return temporal.NewApplicationError(err.Error(), workflows.ErrTypeUnavailable, err)
	}
}
