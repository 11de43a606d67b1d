package workers

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/switchboard-cc/switchboard/internal/turn"
	"github.com/switchboard-cc/switchboard/providers"
	"github.com/switchboard-cc/switchboard/providers/health"
	"github.com/switchboard-cc/switchboard/providers/messaging"
	"github.com/switchboard-cc/switchboard/providers/nlu"
	"github.com/switchboard-cc/switchboard/workflows"
)

// detectorFunc adapts a function to nlu.Detector.
type detectorFunc func(ctx context.Context, q nlu.Query) (nlu.Result, error)

func (f detectorFunc) Detect(ctx context.Context, q nlu.Query) (nlu.Result, error) { return f(ctx, q) }

// hung never answers: it gives up with the caller, classified as the real clients
// classify a caller that gave up.
func hung(calls *atomic.Int32) nlu.Detector {
	return detectorFunc(func(ctx context.Context, q nlu.Query) (nlu.Result, error) {
		calls.Add(1)
		<-ctx.Done()
		return nlu.Result{}, providers.Classify("hung", providers.ErrTimeout, 0, ctx.Err())
	})
}

func answering(calls *atomic.Int32) nlu.Detector {
	return detectorFunc(func(ctx context.Context, q nlu.Query) (nlu.Result, error) {
		calls.Add(1)
		return nlu.Result{Intent: "greeting", Reply: "Hello."}, nil
	})
}

type nluSet map[string]nlu.Detector

func (s nluSet) Detector(name string) (nlu.Detector, bool) { d, ok := s[name]; return d, ok }
func (s nluSet) Sender(string) (messaging.Sender, bool)    { return nil, false }

func newHealth(t *testing.T, names ...string) health.Registry {
	t.Helper()
	settings := map[string]health.BreakerSettings{}
	for _, n := range names {
		settings[n] = health.BreakerSettings{ConsecutiveFailures: 3, OpenFor: time.Minute}
	}
	reg, err := health.NewRegistry(nil, health.Options{Settings: settings})
	require.NoError(t, err)
	return reg
}

// The real Detect activity under the real conversation workflow, in the SDK's
// test environment: a hung primary is hedged over at every turn, the turns are
// answered by the hedge, and the hedged-over calls trip the primary's breaker as
// slow calls.
func TestHedge_AHungPrimaryIsHedgedOver_AndTripsItsBreakerAsSlowCalls(t *testing.T) {
	var primary, secondary atomic.Int32
	reg := newHealth(t, "cx-primary", "cx-secondary")
	a := &Activities{
		Providers: nluSet{"cx-primary": hung(&primary), "cx-secondary": answering(&secondary)},
		Guard:     &Guard{Health: reg},
	}
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.RegisterWorkflowWithOptions(workflows.ConversationWorkflow, workflow.RegisterOptions{Name: workflows.WorkflowName})
	attempt := turn.Attempt{Timeout: 2 * time.Second, MaxAttempts: 2}
	env.RegisterActivityWithOptions(func(ctx context.Context, in turn.RouteInput) (turn.Route, error) {
		return turn.Route{
			NLU: []turn.NLUCandidate{
				{Provider: "cx-primary", Attempt: attempt, HedgeAfter: 50 * time.Millisecond},
				{Provider: "cx-secondary", Attempt: attempt, HedgeAfter: 50 * time.Millisecond},
			},
			CPaaS:         []turn.CPaaSCandidate{{Provider: "twilio", Channel: "sms", From: in.From, Attempt: attempt}},
			FallbackReply: "Sorry.", LanguageCode: "en",
		}, nil
	}, activity.RegisterOptions{Name: workflows.ActivityRoute})
	env.RegisterActivityWithOptions(a.Detect, activity.RegisterOptions{Name: workflows.ActivityDetect})
	env.RegisterActivityWithOptions(func(ctx context.Context, in workflows.SendInput) (workflows.SendOutput, error) {
		return workflows.SendOutput{MessageID: "SM" + in.Message.IdempotencyKey}, nil
	}, activity.RegisterOptions{Name: workflows.ActivitySend})
	env.RegisterActivityWithOptions(func(ctx context.Context, in workflows.PublishInput) error { return nil }, activity.RegisterOptions{Name: workflows.ActivityPublish})

	first := turn.Turn{ID: "twilio:SM0", ConversationID: "conv-h", Vendor: "twilio", Channel: "sms", From: "+15551230000", To: "+15550001000", Text: "hi", ReceivedAt: time.Now()}
	for i := range 3 {
		tt := first
		tt.ID, tt.Text = fmt.Sprintf("twilio:SM%d", i+1), fmt.Sprintf("hello %d", i+1)
		env.RegisterDelayedCallback(func() {
			env.UpdateWorkflow(workflows.UpdateTurn, tt.ID, &testsuite.TestUpdateCallback{OnAccept: func() {}, OnReject: func(error) {}, OnComplete: func(any, error) {}}, tt)
		}, time.Duration(i+1)*time.Second)
	}
	var tr turn.Transcript
	env.RegisterDelayedCallback(func() {
		v, err := env.QueryWorkflow(workflows.QueryTranscript)
		require.NoError(t, err)
		require.NoError(t, v.Get(&tr))
		env.CancelWorkflow()
	}, 10*time.Second)
	env.ExecuteWorkflow(workflows.WorkflowName, workflows.NewState(first, workflows.Options{}))

	require.Len(t, tr.Turns, 3)
	for _, o := range tr.Turns {
		require.Equal(t, "cx-secondary", o.NLUProvider, "every turn is answered by the hedge")
		require.Equal(t, turn.StatusReplied, o.Status)
	}
	require.EqualValues(t, 3, primary.Load())
	require.EqualValues(t, 3, secondary.Load())
	var st health.Status
	require.Eventually(t, func() bool {
		for _, s := range reg.Snapshot() {
			if s.Name == "cx-primary" {
				st = s
			}
		}
		return st.State == health.StateOpen
	}, 5*time.Second, 10*time.Millisecond, "three hedged-over calls in a row trip the breaker: %+v", st)
	require.Contains(t, st.TripReason, "hedged over")
	require.Equal(t, 3, st.SlowCalls)
}

// hedgeInput is a hedge of attempt 1 of turn 1, to call provider at once.
func hedgeInput(provider string) workflows.DetectInput {
	return workflows.DetectInput{Provider: provider, ConversationID: "conv-h", Text: "hi", Seq: 1, Attempt: 2, HedgeOf: 1}
}

func TestHedge_TheBoundRefusesAHedgeOverIt_WithoutCallingTheProvider(t *testing.T) {
	var calls atomic.Int32
	a := &Activities{Providers: nluSet{"cx-secondary": answering(&calls)}}
	a.Hedges.Max = func(string) int { return 1 }
	var s testsuite.WorkflowTestSuite
	env := s.NewTestActivityEnvironment()
	env.RegisterActivityWithOptions(a.Detect, activity.RegisterOptions{Name: workflows.ActivityDetect})

	release, err := a.Hedges.acquire("cx-secondary") // one hedge in flight already
	require.NoError(t, err)
	_, err = env.ExecuteActivity(workflows.ActivityDetect, hedgeInput("cx-secondary"))
	require.Equal(t, workflows.ErrTypeHedgeRefused, errType(err), "%v", err)
	require.Zero(t, calls.Load(), "a refused hedge makes no call")

	release()
	_, err = env.ExecuteActivity(workflows.ActivityDetect, hedgeInput("cx-secondary"))
	require.NoError(t, err, "a slot is free again")
	require.EqualValues(t, 1, calls.Load())
	_, err = env.ExecuteActivity(workflows.ActivityDetect, hedgeInput("cx-secondary"))
	require.NoError(t, err, "the slot of a finished hedge is given back")
}

func TestHedge_ACallCancelledBeforeItsHedgeDelay_CountsForNothing(t *testing.T) {
	var calls atomic.Int32
	reg := newHealth(t, "cx-primary")
	g := &Guard{Health: reg}
	call := func(slowAfter, cancelAfter time.Duration) {
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(cancelAfter, cancel)
		_, err := guarded(ctx, g, "cx-primary", false, slowAfter, func() (nlu.Result, error) { return hung(&calls).Detect(ctx, nlu.Query{}) })
		require.Error(t, err)
	}
	for range 5 {
		call(time.Second, 10*time.Millisecond) // cancelled: another answered well within the delay
	}
	st := reg.Snapshot()[0]
	require.Equal(t, health.StateClosed, st.State)
	require.Zero(t, st.Calls, "a cancelled call says nothing about the provider")
	call(20*time.Millisecond, 40*time.Millisecond)
	st = reg.Snapshot()[0]
	require.Equal(t, 1, st.SlowCalls, "cancelled after its hedge delay: a slow call")
	require.Equal(t, health.StateClosed, st.State, "one slow call does not trip it")
}
