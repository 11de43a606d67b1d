package workers

import (
	"context"
	"errors"
	"log/slog"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/switchboard-cc/switchboard/internal/canary"
	"github.com/switchboard-cc/switchboard/internal/metrics"
	"github.com/switchboard-cc/switchboard/internal/turn"
	"github.com/switchboard-cc/switchboard/workflows"
)

// CanaryActivity is the scheduled stack canary: the Canary activity that
// CanaryWorkflow runs every minute. It sends one canary turn through the real stack
// (canary.Runner), counts the result in the switchboard_canary_* metrics and logs a
// failed hop. The turn's provider attempts go through the same breaker-guarded
// clients as customer turns, so a dead provider trips its breaker even with no
// customer traffic.
type CanaryActivity struct {
	// Run runs one canary turn, e.g. (*canary.Runner).Run. nil: the activity fails,
	// saying this worker has no canary.
	Run     func(ctx context.Context) (turn.CanaryReport, error)
	Metrics *metrics.Metrics
	Logger  *slog.Logger
}

// registerCanary registers the canary workflow and its activity; with a nil a, an
// activity that fails saying this worker has no canary.
func registerCanary(w worker.Registry, a *CanaryActivity) {
	if a == nil {
		a = &CanaryActivity{}
	}
	w.RegisterWorkflowWithOptions(workflows.CanaryWorkflow, workflow.RegisterOptions{Name: workflows.CanaryWorkflowName})
	w.RegisterActivityWithOptions(a.Canary, activity.RegisterOptions{Name: workflows.ActivityCanary})
}

// Canary runs the canary once. A failed hop is a successful activity whose report
// says so (the workflow fails the run); an error means the canary could not run.
func (a *CanaryActivity) Canary(ctx context.Context) (turn.CanaryReport, error) {
	m := a.metrics()
	if a.Run == nil {
		m.Runs.WithLabelValues("error").Inc()
		return turn.CanaryReport{}, temporal.NewNonRetryableApplicationError("this worker has no stack canary configured", "CanaryUnavailable", nil)
	}
	rep, err := a.Run(ctx)
	switch {
	case errors.Is(err, canary.ErrNotConfigured):
		m.Runs.WithLabelValues("skipped").Inc()
		a.logger().Debug("stack canary skipped", "reason", err)
		return rep, nil
	case err != nil:
		m.Runs.WithLabelValues("error").Inc()
		a.logger().Error("stack canary could not run", "error", err)
		return rep, temporal.NewNonRetryableApplicationError(err.Error(), "CanaryUnavailable", err)
	}
	for _, h := range rep.Hops.All() {
		if h.OK {
			m.HopLatency.WithLabelValues(h.Name).Observe(h.Latency().Seconds())
		} else if !h.NotReached {
			m.HopFailures.WithLabelValues(h.Name).Inc()
		}
	}
	if rep.OK {
		m.HopLatency.WithLabelValues("total").Observe(rep.TotalMS / 1000)
		m.Runs.WithLabelValues("ok").Inc()
		return rep, nil
	}
	m.Runs.WithLabelValues("failed").Inc()
	a.logger().Error("stack canary failed", "turn", rep.TurnID, "conversation", rep.ConversationID, "error", rep.Error,
		"nlu_provider", rep.Hops.NLU.Provider, "cpaas_provider", rep.Hops.CPaaS.Provider)
	return rep, nil
}

func (a *CanaryActivity) metrics() *metrics.CanaryMetrics {
	m := a.Metrics
	if m == nil {
		m = metrics.Discard()
	}
	c := m.Canary()
	for _, hop := range []string{turn.HopJetStream, turn.HopBridge, turn.HopNLU, turn.HopCPaaS} {
		c.HopFailures.WithLabelValues(hop) // every hop shows 0 before its first failure
	}
	return c
}

func (a *CanaryActivity) logger() *slog.Logger {
	if a.Logger != nil {
		return a.Logger
	}
	return slog.Default()
}
