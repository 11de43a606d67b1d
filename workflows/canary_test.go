package workflows_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/switchboard-cc/switchboard/internal/turn"
	"github.com/switchboard-cc/switchboard/workflows"
)

// canaryEnv runs CanaryWorkflow with act as its Canary activity, and counts the
// activity's attempts and the options it ran with.
func canaryEnv(t *testing.T, act func(context.Context) (turn.CanaryReport, error)) (*testsuite.TestWorkflowEnvironment, *int, *activity.Info) {
	t.Helper()
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.RegisterWorkflowWithOptions(workflows.CanaryWorkflow, workflow.RegisterOptions{Name: workflows.CanaryWorkflowName})
	calls := new(int)
	info := new(activity.Info)
	env.RegisterActivityWithOptions(func(ctx context.Context) (turn.CanaryReport, error) {
		*calls++
		*info = activity.GetInfo(ctx)
		return act(ctx)
	}, activity.RegisterOptions{Name: workflows.ActivityCanary})
	return env, calls, info
}

func hop(name string, ok bool) turn.CanaryHop {
	return turn.CanaryHop{Name: name, OK: ok, LatencyMS: 12}
}

func TestCanaryWorkflow_HealthyRunReturnsTheReport(t *testing.T) {
	want := turn.CanaryReport{OK: true, TurnID: "canary:1", Hops: turn.CanaryHops{
		JetStream: hop(turn.HopJetStream, true), Bridge: hop(turn.HopBridge, true),
		NLU: hop(turn.HopNLU, true), CPaaS: hop(turn.HopCPaaS, true),
	}}
	env, calls, info := canaryEnv(t, func(context.Context) (turn.CanaryReport, error) { return want, nil })
	env.ExecuteWorkflow(workflows.CanaryWorkflowName)
	require.True(t, env.IsWorkflowCompleted())
	require.NoError(t, env.GetWorkflowError())
	var got turn.CanaryReport
	require.NoError(t, env.GetWorkflowResult(&got))
	require.Equal(t, want.TurnID, got.TurnID)
	require.True(t, got.OK)
	require.Equal(t, 1, *calls)
	require.Equal(t, workflows.CanaryActivityTimeout, info.StartToCloseTimeout)
	require.Equal(t, workflows.CanaryScheduleToClose, info.ScheduleToCloseTimeout)
	require.Less(t, workflows.CanaryScheduleToClose, time.Minute, "a run ends before the next is due")
}

func TestCanaryWorkflow_FailedHopFailsTheRunWithTheReport(t *testing.T) {
	bad := turn.CanaryReport{OK: false, TurnID: "canary:2", Error: "nlu: every remote NLU provider failed", Hops: turn.CanaryHops{
		JetStream: hop(turn.HopJetStream, true), Bridge: hop(turn.HopBridge, true),
		NLU: hop(turn.HopNLU, false), CPaaS: hop(turn.HopCPaaS, true),
	}}
	env, calls, _ := canaryEnv(t, func(context.Context) (turn.CanaryReport, error) { return bad, nil })
	env.ExecuteWorkflow(workflows.CanaryWorkflowName)
	require.True(t, env.IsWorkflowCompleted())
	err := env.GetWorkflowError()
	var appErr *temporal.ApplicationError
	require.True(t, errors.As(err, &appErr), "%v", err)
	require.Equal(t, workflows.ErrTypeCanaryFailed, appErr.Type())
	require.True(t, appErr.NonRetryable())
	require.Contains(t, appErr.Error(), "every remote NLU provider failed")
	var details turn.CanaryReport
	require.NoError(t, appErr.Details(&details))
	require.Equal(t, "canary:2", details.TurnID)
	require.False(t, details.Hops.NLU.OK)
	require.Equal(t, 1, *calls)
}

func TestCanaryWorkflow_SkippedRunSucceeds(t *testing.T) {
	env, _, _ := canaryEnv(t, func(context.Context) (turn.CanaryReport, error) {
		return turn.CanaryReport{Skipped: "no canary configured in the policy"}, nil
	})
	env.ExecuteWorkflow(workflows.CanaryWorkflowName)
	require.NoError(t, env.GetWorkflowError())
	var got turn.CanaryReport
	require.NoError(t, env.GetWorkflowResult(&got))
	require.Equal(t, "no canary configured in the policy", got.Skipped)
}

func TestCanaryWorkflow_ActivityErrorIsNotRetried(t *testing.T) {
	env, calls, _ := canaryEnv(t, func(context.Context) (turn.CanaryReport, error) {
		return turn.CanaryReport{}, temporal.NewApplicationError("NATS unreachable", "Unavailable")
	})
	env.ExecuteWorkflow(workflows.CanaryWorkflowName)
	require.True(t, env.IsWorkflowCompleted())
	require.ErrorContains(t, env.GetWorkflowError(), "NATS unreachable")
	require.Equal(t, 1, *calls, "the next run is a minute away: no retries")
}
