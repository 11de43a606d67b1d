package workflows_test

import (
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/interceptor"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/switchboard-cc/switchboard/internal/turn"
	"github.com/switchboard-cc/switchboard/workflows"
)

// summaries records the summary of every local activity a workflow starts, as the
// Temporal UI shows it on the activity's row.
type summaries struct {
	interceptor.WorkerInterceptorBase
	mu  sync.Mutex
	got []string
}

func (s *summaries) InterceptWorkflow(ctx workflow.Context, next interceptor.WorkflowInboundInterceptor) interceptor.WorkflowInboundInterceptor {
	return &summaryInbound{WorkflowInboundInterceptorBase: interceptor.WorkflowInboundInterceptorBase{Next: next}, s: s}
}

type summaryInbound struct {
	interceptor.WorkflowInboundInterceptorBase
	s *summaries
}

func (i *summaryInbound) Init(outbound interceptor.WorkflowOutboundInterceptor) error {
	return i.Next.Init(&summaryOutbound{WorkflowOutboundInterceptorBase: interceptor.WorkflowOutboundInterceptorBase{Next: outbound}, s: i.s})
}

type summaryOutbound struct {
	interceptor.WorkflowOutboundInterceptorBase
	s *summaries
}

func (o *summaryOutbound) ExecuteLocalActivity(ctx workflow.Context, activityType string, args ...any) workflow.Future {
	if sum := workflow.GetLocalActivityOptions(ctx).Summary; sum != "" {
		o.s.mu.Lock()
		o.s.got = append(o.s.got, sum)
		o.s.mu.Unlock()
	}
	return o.Next.ExecuteLocalActivity(ctx, activityType, args...)
}

func TestHistory_EveryProviderAttemptIsSummarised_TheRowsReadAsTheFailover(t *testing.T) {
	w := newWorld()
	w.nluDown["cx-primary"] = true
	w.sendErr["twilio"] = temporal.NewApplicationError("twilio unavailable", workflows.ErrTypeUnavailable)
	env := newEnv(t, w)
	rec := &summaries{}
	env.SetWorkerOptions(worker.Options{Interceptors: []interceptor.WorkerInterceptor{rec}})
	var acc []workflows.Accepted
	var errs []error
	sendTurns(env, &acc, &errs, mkTurn(1))
	var tr turn.Transcript
	env.RegisterDelayedCallback(func() {
		tr = transcript(t, env)
		env.CancelWorkflow()
	}, 10*time.Second)
	env.ExecuteWorkflow(workflows.WorkflowName, startState(workflows.Options{}))
	requireCancelled(t, env)

	require.Equal(t, []string{
		"Detect · cx-primary · attempt 1",
		"Detect · cx-secondary · attempt 2",
		"Send · twilio · attempt 1",
		"Send · vonage · attempt 2",
	}, rec.got)
	// The transcript tells the same story.
	require.Len(t, tr.Turns, 1)
	var failed []string
	for _, f := range tr.Turns[0].Failover {
		failed = append(failed, f.Step+" "+f.Provider)
	}
	require.Equal(t, []string{"nlu cx-primary", "cpaas twilio"}, failed)
	require.Equal(t, "vonage", tr.Turns[0].CPaaSProvider)
}

// timers records the durations of the timers a workflow starts.
type timers struct {
	interceptor.WorkerInterceptorBase
	mu  sync.Mutex
	got []time.Duration
}

func (s *timers) InterceptWorkflow(ctx workflow.Context, next interceptor.WorkflowInboundInterceptor) interceptor.WorkflowInboundInterceptor {
	return &timerInbound{WorkflowInboundInterceptorBase: interceptor.WorkflowInboundInterceptorBase{Next: next}, s: s}
}

type timerInbound struct {
	interceptor.WorkflowInboundInterceptorBase
	s *timers
}

func (i *timerInbound) Init(outbound interceptor.WorkflowOutboundInterceptor) error {
	return i.Next.Init(&timerOutbound{WorkflowOutboundInterceptorBase: interceptor.WorkflowOutboundInterceptorBase{Next: outbound}, s: i.s})
}

type timerOutbound struct {
	interceptor.WorkflowOutboundInterceptorBase
	s *timers
}

func (o *timerOutbound) NewTimer(ctx workflow.Context, d time.Duration) workflow.Future {
	o.s.mu.Lock()
	o.s.got = append(o.s.got, d)
	o.s.mu.Unlock()
	return o.Next.NewTimer(ctx, d)
}

func (o *timerOutbound) NewTimerWithOptions(ctx workflow.Context, d time.Duration, options workflow.TimerOptions) workflow.Future {
	o.s.mu.Lock()
	o.s.got = append(o.s.got, d)
	o.s.mu.Unlock()
	return o.Next.NewTimerWithOptions(ctx, d, options)
}

func TestIdle_OneTimerWaitsAcrossTurns_AndTheConversationStillClosesWhenIdle(t *testing.T) {
	w := newWorld()
	env := newEnv(t, w)
	rec := &timers{}
	env.SetWorkerOptions(worker.Options{Interceptors: []interceptor.WorkerInterceptor{rec}})
	var acc []workflows.Accepted
	var errs []error
	sendTurns(env, &acc, &errs, mkTurn(1), mkTurn(2), mkTurn(3), mkTurn(4), mkTurn(5))
	env.ExecuteWorkflow(workflows.WorkflowName, startState(workflows.Options{IdleTimeout: time.Hour}))
	require.True(t, env.IsWorkflowCompleted())
	require.NoError(t, env.GetWorkflowError(), "closed when idle")
	require.Len(t, w.published, 5)
	// The idle timer of an hour; the write of turns 2-5's search attributes,
	// VisibilityLag after turn 1's; and, when the hour is up, the idle timer again
	// for the 5 s still to wait since the last turn. Before, every turn started
	// an idle timer and the next turn cancelled it.
	require.Equal(t, []time.Duration{time.Hour, workflows.VisibilityLag - time.Second, 5 * time.Second}, rec.got)
}
