package workflows

import (
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/switchboard-cc/switchboard/internal/turn"
)

// Names of the stack canary's workflow and activity. A Temporal Schedule starts
// CanaryWorkflow every minute; it runs the Canary activity (package workers), which
// sends one synthetic turn through the real stack (package internal/canary).
const (
	CanaryWorkflowName = "CanaryWorkflow"
	ActivityCanary     = "Canary"
	// ErrTypeCanaryFailed is the type of the error a canary run fails with when a
	// hop of the stack failed; its details hold the CanaryReport.
	ErrTypeCanaryFailed = "CanaryFailed"
)

// Bounds of one canary run. The activity waits for its turn's outcome for at most
// the canary's own timeout (30 s by default), so it ends within CanaryActivityTimeout;
// CanaryScheduleToClose also bounds the time it waits for a worker, so a run ends
// before the next one is due.
const (
	CanaryActivityTimeout = 45 * time.Second
	CanaryScheduleToClose = 55 * time.Second
)

// CanaryWorkflow is one scheduled canary run: one regular activity, no retries (the
// next run is a minute away). A run whose canary found a failed hop fails, with the
// report in the error's details, so failed runs stand out in the Temporal UI. It is
// started by the Schedule "switchboard-canary", never by a turn.
func CanaryWorkflow(ctx workflow.Context) (turn.CanaryReport, error) {
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout:    CanaryActivityTimeout,
		ScheduleToCloseTimeout: CanaryScheduleToClose,
		RetryPolicy:            &temporal.RetryPolicy{MaximumAttempts: 1},
	})
	var r turn.CanaryReport
	if err := workflow.ExecuteActivity(actx, ActivityCanary).Get(ctx, &r); err != nil {
		return turn.CanaryReport{}, err
	}
	if !r.OK && r.Skipped == "" {
		return r, temporal.NewNonRetryableApplicationError("canary failed: "+r.Error, ErrTypeCanaryFailed, nil, r)
	}
	return r, nil
}
