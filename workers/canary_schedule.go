package workers

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/switchboard-cc/switchboard/internal/turn"
	"github.com/switchboard-cc/switchboard/workflows"
)

// CanaryInterval is how often the Temporal Schedule turn.CanaryScheduleID runs the
// stack canary (CanaryWorkflow on the workers' task queue).
const CanaryInterval = time.Minute

// canarySchedule is the schedule the canary runs on: every CanaryInterval on
// taskQueue, a run skipped while the previous one is still going, and no backlog
// after an outage.
func canarySchedule(taskQueue string) client.ScheduleOptions {
	return client.ScheduleOptions{
		ID:   turn.CanaryScheduleID,
		Spec: client.ScheduleSpec{Intervals: []client.ScheduleIntervalSpec{{Every: CanaryInterval}}},
		Action: &client.ScheduleWorkflowAction{
			ID: turn.CanaryScheduleID, Workflow: workflows.CanaryWorkflowName, TaskQueue: taskQueue,
			WorkflowExecutionTimeout: 2 * CanaryInterval,
			// SwitchboardCanary=true, so that `SwitchboardCanary IS NULL` hides the
			// runs in the UI (switchboard setup registers the attribute).
			TypedSearchAttributes: temporal.NewSearchAttributes(workflows.SACanary.ValueSet(true)),
		},
		Overlap:       enumspb.SCHEDULE_OVERLAP_POLICY_SKIP,
		CatchupWindow: CanaryInterval,
		Note:          "Switchboard stack canary: one synthetic turn through the real stack (see GET /v1/health/stack)",
	}
}

// EnsureCanarySchedule creates the schedule "switchboard-canary" or, when it exists,
// brings its spec, action and policies to the wanted ones. Its state is kept: a
// schedule an operator paused stays paused. Every worker calls it at start; it is
// idempotent.
func EnsureCanarySchedule(ctx context.Context, tc client.Client, taskQueue string) error {
	want := canarySchedule(taskQueue)
	_, err := tc.ScheduleClient().Create(ctx, want)
	if err == nil || !errors.Is(err, temporal.ErrScheduleAlreadyRunning) {
		return err
	}
	h := tc.ScheduleClient().GetHandle(ctx, turn.CanaryScheduleID)
	return h.Update(ctx, client.ScheduleUpdateOptions{DoUpdate: func(in client.ScheduleUpdateInput) (*client.ScheduleUpdate, error) {
		s := in.Description.Schedule
		if canaryScheduleIsCurrent(s, want) {
			return nil, temporal.ErrSkipScheduleUpdate
		}
		s.Spec = &want.Spec
		s.Action = want.Action
		s.Policy = &client.SchedulePolicies{Overlap: want.Overlap, CatchupWindow: want.CatchupWindow}
		return &client.ScheduleUpdate{Schedule: &s}, nil
	}})
}

func canaryScheduleIsCurrent(s client.Schedule, want client.ScheduleOptions) bool {
	a, ok := s.Action.(*client.ScheduleWorkflowAction)
	w := want.Action.(*client.ScheduleWorkflowAction)
	return ok && s.Spec != nil && s.Policy != nil &&
		len(s.Spec.Intervals) == 1 && s.Spec.Intervals[0].Every == CanaryInterval && s.Spec.Intervals[0].Offset == 0 &&
		len(s.Spec.Calendars) == 0 && len(s.Spec.CronExpressions) == 0 &&
		fmt.Sprint(a.Workflow) == workflows.CanaryWorkflowName && a.TaskQueue == w.TaskQueue && a.ID == w.ID &&
		a.WorkflowExecutionTimeout == w.WorkflowExecutionTimeout && canaryTagged(a) &&
		s.Policy.Overlap == want.Overlap && s.Policy.CatchupWindow == want.CatchupWindow
}

// canaryTagged reports whether a schedule's runs have SwitchboardCanary=true (a
// schedule made by an older version does not, and is updated).
func canaryTagged(a *client.ScheduleWorkflowAction) bool {
	v, ok := a.TypedSearchAttributes.GetBool(workflows.SACanary)
	return ok && v
}

// KeepCanarySchedule ensures the canary schedule in the background, retrying until
// it succeeds or ctx ends: a worker that started while Temporal hiccupped still gets
// its canary.
func KeepCanarySchedule(ctx context.Context, tc client.Client, taskQueue string, log *slog.Logger) {
	go func() {
		for wait := time.Second; ; wait = min(2*wait, 30*time.Second) {
			cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			err := EnsureCanarySchedule(cctx, tc, taskQueue)
			cancel()
			if err == nil {
				return
			}
			if ctx.Err() != nil {
				return
			}
			log.Warn("canary schedule not ensured yet; retrying", "schedule", turn.CanaryScheduleID, "retry_in", wait, "error", err)
			select {
			case <-ctx.Done():
				return
			case <-time.After(wait):
			}
		}
	}()
}
