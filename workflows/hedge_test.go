package workflows_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/switchboard-cc/switchboard/internal/turn"
	"github.com/switchboard-cc/switchboard/workflows"
)

// nluBehaviour is how a stub NLU provider of the hedging tests answers.
type nluBehaviour struct {
	hang    bool          // never answers: waits for its attempt to be cancelled
	after   time.Duration // answers after this long
	err     error         // fails with this (after after)
	refused bool          // refuses hedges, as a provider at its hedge bound
}

// hedgeWorld is a route of three remote NLU providers and the local one, with
// hedging, and stub activities that honour DetectInput.Delay as the worker does.
type hedgeWorld struct {
	*world
	hedgeAfter time.Duration
	nlu        map[string]nluBehaviour

	mu        sync.Mutex
	gates     map[int]chan struct{} // by attempt: closed when it failed, as the worker's gate
	called    []string              // providers called (past a hedge's delay)
	cancelled []string              // providers whose call was cancelled
	tries     map[string]int
}

func newHedgeWorld(hedgeAfter time.Duration) *hedgeWorld {
	return &hedgeWorld{world: newWorld(), hedgeAfter: hedgeAfter, nlu: map[string]nluBehaviour{}, tries: map[string]int{}, gates: map[int]chan struct{}{}}
}

func (w *hedgeWorld) route(ctx context.Context, in turn.RouteInput) (turn.Route, error) {
	r, err := w.world.route(ctx, in)
	a := turn.Attempt{Timeout: 2 * time.Second, MaxAttempts: 2}
	r.NLU = []turn.NLUCandidate{
		{Provider: "cx-primary", Attempt: a, HedgeAfter: w.hedgeAfter},
		{Provider: "cx-secondary", Attempt: a, HedgeAfter: w.hedgeAfter},
		{Provider: "llm", Attempt: a, HedgeAfter: w.hedgeAfter},
		{Provider: "local", Attempt: a, Local: true},
	}
	return r, err
}

func (w *hedgeWorld) detect(ctx context.Context, in workflows.DetectInput) (workflows.DetectOutput, error) {
	b := w.nlu[in.Provider]
	if in.HedgeOf > 0 && in.Delay > 0 && activity.GetInfo(ctx).Attempt == 1 {
		select {
		case <-time.After(in.Delay):
		case <-w.gate(in.HedgeOf):
		case <-ctx.Done():
			return workflows.DetectOutput{}, ctx.Err()
		}
	}
	if in.HedgeOf > 0 && b.refused {
		return workflows.DetectOutput{}, temporal.NewNonRetryableApplicationError("hedge refused", workflows.ErrTypeHedgeRefused, nil)
	}
	w.mu.Lock()
	w.called = append(w.called, in.Provider)
	w.tries[in.Provider]++
	w.mu.Unlock()
	wait := b.after
	if b.hang {
		wait = time.Hour
	}
	select {
	case <-time.After(wait):
	case <-ctx.Done():
		w.mu.Lock()
		w.cancelled = append(w.cancelled, in.Provider)
		w.mu.Unlock()
		return workflows.DetectOutput{}, ctx.Err()
	}
	if b.err != nil {
		close(w.gate(in.Attempt))
		return workflows.DetectOutput{}, b.err
	}
	return workflows.DetectOutput{Intent: "greeting", Reply: "Hello from " + in.Provider}, nil
}

func (w *hedgeWorld) gate(attempt int) chan struct{} {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.gates[attempt] == nil {
		w.gates[attempt] = make(chan struct{})
	}
	return w.gates[attempt]
}

func (w *hedgeWorld) env(t *testing.T) *testsuite.TestWorkflowEnvironment {
	env := newEnv(t, w.world)
	env.RegisterActivityWithOptions(w.route, activity.RegisterOptions{Name: workflows.ActivityRoute})
	env.RegisterActivityWithOptions(w.detect, activity.RegisterOptions{Name: workflows.ActivityDetect})
	return env
}

// oneTurn runs one turn through the conversation and returns its outcome.
func (w *hedgeWorld) oneTurn(t *testing.T) turn.Outcome {
	t.Helper()
	env := w.env(t)
	var acc []workflows.Accepted
	var errs []error
	sendTurns(env, &acc, &errs, mkTurn(1))
	var tr turn.Transcript
	env.RegisterDelayedCallback(func() {
		tr = transcript(t, env)
		env.CancelWorkflow()
	}, time.Minute)
	env.ExecuteWorkflow(workflows.WorkflowName, startState(workflows.Options{}))
	requireCancelled(t, env)
	require.Empty(t, errs)
	require.Len(t, tr.Turns, 1)
	return tr.Turns[0]
}

func (w *hedgeWorld) calls() (called, cancelled []string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.called...), append([]string(nil), w.cancelled...)
}

func TestHedge_AHungPrimary_TheHedgeAnswers_AndThePrimaryIsCancelled(t *testing.T) {
	w := newHedgeWorld(100 * time.Millisecond)
	w.nlu["cx-primary"] = nluBehaviour{hang: true}
	start := time.Now()
	o := w.oneTurn(t)
	require.Less(t, time.Since(start), 2*time.Second, "the turn did not wait for the hung primary's timeout")
	require.Equal(t, "cx-secondary", o.NLUProvider, "the first answer wins")
	require.Equal(t, "Hello from cx-secondary", o.Reply)
	require.Equal(t, turn.StatusReplied, o.Status)
	require.Len(t, o.Hedged, 1, "the transcript names the attempt that lost: %+v", o.Hedged)
	require.Equal(t, "cx-primary", o.Hedged[0].Provider)
	require.Contains(t, o.Hedged[0].Error, "cx-secondary answered first")
	require.Empty(t, o.Failover, "a hedged-over attempt is not a failover")
	require.Eventually(t, func() bool { _, c := w.calls(); return len(c) == 1 }, 5*time.Second, 10*time.Millisecond)
	called, cancelled := w.calls()
	require.Equal(t, []string{"cx-primary", "cx-secondary"}, called)
	require.Equal(t, []string{"cx-primary"}, cancelled, "the loser's attempt is cancelled")
}

func TestHedge_AHealthyPrimary_TheHedgeIsCancelledBeforeItCalls(t *testing.T) {
	w := newHedgeWorld(300 * time.Millisecond)
	o := w.oneTurn(t)
	require.Equal(t, "cx-primary", o.NLUProvider)
	require.Empty(t, o.Hedged)
	called, _ := w.calls()
	require.Equal(t, []string{"cx-primary"}, called, "no extra NLU call on a healthy turn")
}

func TestHedge_ThePrimaryAnswersFirstAfterAll_TheHedgeLoses(t *testing.T) {
	w := newHedgeWorld(50 * time.Millisecond)
	w.nlu["cx-primary"] = nluBehaviour{after: 150 * time.Millisecond}
	w.nlu["cx-secondary"] = nluBehaviour{hang: true}
	o := w.oneTurn(t)
	require.Equal(t, "cx-primary", o.NLUProvider)
	require.Eventually(t, func() bool { _, c := w.calls(); return len(c) == 1 }, 5*time.Second, 10*time.Millisecond)
	called, cancelled := w.calls()
	require.Equal(t, []string{"cx-primary", "cx-secondary"}, called, "the hedge went out after 50ms")
	require.Equal(t, []string{"cx-secondary"}, cancelled, "and was cancelled when the primary answered")
	// (Outcome.Hedged lists it by the workflow's clock, which the test
	// environment does not move while local activities run.)
}

func TestHedge_HedgeAfterZero_IsOff(t *testing.T) {
	w := newHedgeWorld(0)
	w.nlu["cx-primary"] = nluBehaviour{after: 300 * time.Millisecond}
	o := w.oneTurn(t)
	require.Equal(t, "cx-primary", o.NLUProvider, "nothing started beside the slow primary")
	require.Empty(t, o.Hedged)
	called, _ := w.calls()
	require.Equal(t, []string{"cx-primary"}, called)
}

func TestHedge_ATimeout_FailsOverAtOnce_WithoutASecondTryOnTheProvider(t *testing.T) {
	w := newHedgeWorld(0)
	w.nlu["cx-primary"] = nluBehaviour{err: temporal.NewApplicationError("cx-primary: provider timed out", workflows.ErrTypeTimeout)}
	o := w.oneTurn(t)
	require.Equal(t, "cx-secondary", o.NLUProvider)
	require.Len(t, o.Failover, 1)
	require.Equal(t, 1, w.tries["cx-primary"], "a timed-out attempt is not tried again on the same provider (retries: 1)")
}

func TestHedge_APrimaryThatFailsFast_LetsItsHedgeCallWithoutWaiting(t *testing.T) {
	w := newHedgeWorld(time.Second)
	w.nlu["cx-primary"] = nluBehaviour{err: temporal.NewNonRetryableApplicationError("cx-primary unavailable", workflows.ErrTypeUnavailable, nil)}
	start := time.Now()
	o := w.oneTurn(t)
	require.Less(t, time.Since(start), time.Second, "the hedge did not wait out its delay")
	require.Equal(t, "cx-secondary", o.NLUProvider)
	require.Len(t, o.Failover, 1)
	require.Equal(t, "cx-primary", o.Failover[0].Provider)
}

func TestHedge_ARefusedHedge_LeavesTheSlowPrimaryAlone_AndStartsNoOther(t *testing.T) {
	w := newHedgeWorld(50 * time.Millisecond)
	w.nlu["cx-primary"] = nluBehaviour{after: 300 * time.Millisecond}
	w.nlu["cx-secondary"] = nluBehaviour{refused: true}
	o := w.oneTurn(t)
	require.Equal(t, "cx-primary", o.NLUProvider)
	require.Empty(t, o.Failover, "a refused hedge is no failure")
	called, _ := w.calls()
	require.Equal(t, []string{"cx-primary"}, called, "no hedge beyond the bound, and none to the provider after it")
}

func TestHedge_TheLocalNLUIsNeverAHedge(t *testing.T) {
	w := newHedgeWorld(50 * time.Millisecond)
	w.nlu["cx-secondary"] = nluBehaviour{err: temporal.NewNonRetryableApplicationError("down", workflows.ErrTypeUnavailable, nil)}
	w.nlu["llm"] = nluBehaviour{after: 400 * time.Millisecond}
	w.nlu["cx-primary"] = nluBehaviour{err: temporal.NewNonRetryableApplicationError("down", workflows.ErrTypeUnavailable, nil)}
	o := w.oneTurn(t)
	require.Equal(t, "llm", o.NLUProvider, "the slow LLM answers: the local NLU was not raced against it")
	called, _ := w.calls()
	require.NotContains(t, called, "local")
}
