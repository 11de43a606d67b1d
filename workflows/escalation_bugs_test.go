package workflows_test

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/switchboard-cc/switchboard/internal/turn"
	"github.com/switchboard-cc/switchboard/workflows"
)

// requireCancelled asserts that the workflow ended, cancelled.
func requireCancelled(t *testing.T, env *testsuite.TestWorkflowEnvironment) {
	t.Helper()
	require.True(t, env.IsWorkflowCompleted())
	var ce *temporal.CanceledError
	require.ErrorAs(t, env.GetWorkflowError(), &ce, "the workflow must end cancelled")
}

// continuedState is the state a run handed to the next by continue-as-new.
func continuedState(t *testing.T, env *testsuite.TestWorkflowEnvironment) (workflows.State, *workflow.ContinueAsNewError) {
	t.Helper()
	require.True(t, env.IsWorkflowCompleted())
	var can *workflow.ContinueAsNewError
	require.ErrorAs(t, env.GetWorkflowError(), &can, "the run must continue as new")
	var s workflows.State
	require.NoError(t, converter.GetDefaultDataConverter().FromPayloads(can.Input, &s))
	return s, can
}

// deskAs sends a desk update under a given update id at a given time.
func deskAs(env *testsuite.TestWorkflowEnvironment, at time.Duration, name, id string, r workflows.DeskRequest, result *error) {
	env.RegisterDelayedCallback(func() {
		env.UpdateWorkflow(name, id, &testsuite.TestUpdateCallback{
			OnAccept:   func() {},
			OnReject:   func(err error) { *result = err },
			OnComplete: func(v any, err error) { *result = err },
		}, r)
	}, at)
}

func sentBodies(w *world) []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []string
	for _, s := range w.sends {
		out = append(out, s.Message.Body)
	}
	return out
}

func TestEscalation_AgentReplyRacingResolve_TheConversationCarriesOn(t *testing.T) {
	w := newWorld()
	env := newEnv(t, w)
	var acc []workflows.Accepted
	var errs []error
	sendTurns(env, &acc, &errs, textTurn(1, "let me talk to a human"))
	esc := "conv-1/esc-1"
	var reply, resolve error
	replied := false
	env.RegisterDelayedCallback(func() {
		// The reply's send is in flight (a local activity) when resolve runs.
		env.UpdateWorkflow(workflows.UpdateReply, "reply-1", &testsuite.TestUpdateCallback{
			OnAccept: func() {}, OnReject: func(err error) { reply = err },
			OnComplete: func(v any, err error) { reply, replied = err, true },
		}, workflows.DeskRequest{EscalationID: esc, Agent: "ann", Text: "Hi, Ann here. Sorted!"})
		env.UpdateWorkflow(workflows.UpdateResolve, "resolve-1", &testsuite.TestUpdateCallback{
			OnAccept: func() {}, OnReject: func(err error) { resolve = err },
			OnComplete: func(v any, err error) {
				resolve = err
				require.False(t, replied, "resolve must complete while the reply is on its way")
			},
		}, workflows.DeskRequest{EscalationID: esc, Agent: "ann"})
	}, 10*time.Second)
	sendTurnsAt(env, 20*time.Second, textTurn(2, "thanks"))
	env.RegisterDelayedCallback(func() {
		tr := transcript(t, env)
		require.Nil(t, tr.Escalation)
		require.Len(t, tr.Turns, 2)
		require.Equal(t, turn.StatusReplied, tr.Turns[1].Status, "the bot has the conversation back")
		env.CancelWorkflow()
	}, 30*time.Second)
	env.ExecuteWorkflow(workflows.WorkflowName, startState(workflows.Options{}))
	requireCancelled(t, env)
	require.True(t, replied)
	require.NoError(t, reply)
	require.NoError(t, resolve)
	require.Equal(t, []string{"Connecting you with our team.", "Hi, Ann here. Sorted!", "Hello from cx-primary"}, sentBodies(w))
}

func TestEscalation_AgentReplyNotSent_TheSLAClockKeepsRunning(t *testing.T) {
	w := newWorld()
	env := newEnv(t, w)
	var acc []workflows.Accepted
	var errs []error
	sendTurns(env, &acc, &errs, textTurn(1, "let me talk to a human"))
	env.RegisterDelayedCallback(w.cpaasDown, 10*time.Second)
	var reply error
	desk(env, 11*time.Second, workflows.UpdateReply, workflows.DeskRequest{EscalationID: "conv-1/esc-1", Agent: "ann", Text: "Hi, Ann here."}, &reply)
	env.RegisterDelayedCallback(func() {
		tr := transcript(t, env)
		require.Equal(t, turn.EscalationQueued, tr.Escalation.State, "the customer heard nothing: not acknowledged")
	}, 12*time.Second)
	env.RegisterDelayedCallback(func() {
		tr := transcript(t, env)
		require.Equal(t, "tier2", tr.Escalation.Queue, "the SLA ran out: re-routed")
		env.CancelWorkflow()
	}, 3*time.Minute)
	env.ExecuteWorkflow(workflows.WorkflowName, startState(workflows.Options{}))
	requireCancelled(t, env)
	require.ErrorContains(t, reply, "agent reply not sent")
	require.Len(t, w.escalated, 2)
	require.Equal(t, "tier2", w.escalated[1].Queue)
}

func TestEscalation_CancelledWithAnOpenEscalation_EndsCancelled(t *testing.T) {
	w := newWorld()
	env := newEnv(t, w)
	var acc []workflows.Accepted
	var errs []error
	sendTurns(env, &acc, &errs, textTurn(1, "let me talk to a human"))
	env.RegisterDelayedCallback(func() {
		require.Equal(t, workflows.StatusWaitingHuman, transcript(t, env).Status)
		env.CancelWorkflow()
	}, 10*time.Second)
	env.ExecuteWorkflow(workflows.WorkflowName, startState(workflows.Options{}))
	requireCancelled(t, env)
}

// searchAttributes folds the upserts of SwitchboardStatus and SwitchboardQueue.
type searchAttributes struct{ status, queue string }

func recordSearchAttributes(env *testsuite.TestWorkflowEnvironment) *searchAttributes {
	sa := &searchAttributes{}
	env.OnUpsertTypedSearchAttributes(mock.Anything).Run(func(args mock.Arguments) {
		u := args.Get(0).(temporal.SearchAttributes)
		if u.ContainsKey(workflows.SAStatus) {
			sa.status, _ = u.GetKeyword(workflows.SAStatus)
		}
		if u.ContainsKey(workflows.SAQueue) {
			sa.queue, _ = u.GetKeyword(workflows.SAQueue)
		}
	}).Return(nil).Maybe()
	return sa
}

func TestEscalation_ContinueAsNewWithAnOpenEscalation_KeepsStatusAndQueue(t *testing.T) {
	w := newWorld()
	env := newEnv(t, w)
	var acc []workflows.Accepted
	var errs []error
	sendTurns(env, &acc, &errs, textTurn(1, "let me talk to a human"), textTurn(2, "hello?"))
	env.ExecuteWorkflow(workflows.WorkflowName, startState(workflows.Options{MaxTurnsPerRun: 2}))
	next, _ := continuedState(t, env)
	require.NotNil(t, next.Escalation)

	env2 := newEnv(t, w)
	sa := recordSearchAttributes(env2)
	env2.RegisterDelayedCallback(func() {
		require.Equal(t, workflows.StatusWaitingHuman, transcript(t, env2).Status)
		require.Equal(t, workflows.StatusWaitingHuman, sa.status, "the desk lists it by SwitchboardStatus")
		require.Equal(t, "tier1", sa.queue, "and by SwitchboardQueue")
		env2.CancelWorkflow()
	}, time.Second)
	env2.ExecuteWorkflow(workflows.WorkflowName, next)
	requireCancelled(t, env2)
}

func TestEscalation_FinalMessageKey_IsScopedToTheChainLikeEveryReply(t *testing.T) {
	w := newWorld()
	env := newEnv(t, w)
	var acc []workflows.Accepted
	var errs []error
	sendTurns(env, &acc, &errs, mkTurn(1), textTurn(2, "human please"))
	env.RegisterDelayedCallback(func() { env.CancelWorkflow() }, 10*time.Minute)
	env.ExecuteWorkflow(workflows.WorkflowName, startState(workflows.Options{}))
	requireCancelled(t, env)
	require.Equal(t, []string{"Hello from cx-primary", "Connecting you with our team.", "We will call you back within the hour."}, sentBodies(w))
	epoch := strings.TrimSuffix(w.sends[0].Message.IdempotencyKey, "/1") // "<conversation>/<chain>"
	final := w.sends[2].Message.IdempotencyKey
	require.True(t, strings.HasPrefix(final, epoch+"/"), "final key %q must carry the chain %q: a later chain's final message is not last week's", final, epoch)
	require.Equal(t, turn.SendKey{Kind: turn.SendFinalMessage, ConversationID: "conv-1", Epoch: strings.TrimPrefix(epoch, "conv-1/"), Ref: "conv-1/esc-1"}.Key(), final)
}

func TestEscalation_FinalMessageNotSent_IsUnansweredAndAReplaySendsIt(t *testing.T) {
	w := newWorld()
	env := newEnv(t, w)
	var acc []workflows.Accepted
	var errs []error
	sendTurns(env, &acc, &errs, textTurn(1, "human please"))
	env.RegisterDelayedCallback(w.cpaasDown, 10*time.Second)
	env.RegisterDelayedCallback(func() {
		tr := transcript(t, env)
		require.Equal(t, workflows.StatusStuck, tr.Status)
		sources := map[string][]string{}
		for _, r := range tr.Stuck.Reasons {
			sources[r.Source] = r.Turns
		}
		require.Equal(t, []string{"conv-1/esc-1/final"}, sources[turn.StuckUnanswered], "the final message waits for a replay")
		require.Contains(t, sources, turn.StuckEscalation)
		w.cpaasRecover()
	}, 10*time.Minute)
	var res workflows.ReplayResult
	var replayErr error
	replay(env, 11*time.Minute, &res, &replayErr)
	env.RegisterDelayedCallback(func() { env.CancelWorkflow() }, 12*time.Minute)
	env.ExecuteWorkflow(workflows.WorkflowName, startState(workflows.Options{}))
	requireCancelled(t, env)
	require.NoError(t, replayErr)
	require.Equal(t, "conv-1/esc-1", res.Reopened)
	require.Equal(t, []string{"Connecting you with our team.", "We will call you back within the hour."}, sentBodies(w))
	require.Equal(t, turn.SendKey{Kind: turn.SendFinalMessage, ConversationID: "conv-1", Ref: "conv-1/esc-1"}.Key(), w.sends[1].Message.IdempotencyKey,
		"resent under the key of its first attempt")
}

func TestEscalation_DeskRetryAfterContinueAsNew_ReachesTheCustomerOnce(t *testing.T) {
	w := newWorld()
	w.ledger = map[string]workflows.SendOutput{}
	env := newEnv(t, w)
	var acc []workflows.Accepted
	var errs []error
	sendTurns(env, &acc, &errs, textTurn(1, "let me talk to a human"))
	var first error
	r := workflows.DeskRequest{EscalationID: "conv-1/esc-1", Agent: "ann", Text: "Hi, Ann here."}
	deskAs(env, 5*time.Second, workflows.UpdateReply, "reply/conv-1/esc-1/req-7", r, &first)
	sendTurnsAt(env, 10*time.Second, textTurn(2, "hello?"))
	env.ExecuteWorkflow(workflows.WorkflowName, startState(workflows.Options{MaxTurnsPerRun: 2}))
	require.NoError(t, first)
	next, _ := continuedState(t, env)

	// The desk's HTTP call timed out, and it retries with the same
	// Idempotency-Key, after the run continued as new (update ids are a run's).
	env2 := newEnv(t, w)
	var retry error
	deskAs(env2, time.Second, workflows.UpdateReply, "reply/conv-1/esc-1/req-7", r, &retry)
	var other error
	deskAs(env2, 2*time.Second, workflows.UpdateReply, "reply/conv-1/esc-1/req-8", workflows.DeskRequest{EscalationID: "conv-1/esc-1", Agent: "ann", Text: "Hi, Ann here."}, &other)
	env2.RegisterDelayedCallback(func() { env2.CancelWorkflow() }, 10*time.Second)
	env2.ExecuteWorkflow(workflows.WorkflowName, next)
	requireCancelled(t, env2)
	require.NoError(t, retry)
	require.NoError(t, other)
	require.Equal(t, []string{"Connecting you with our team.", "Hi, Ann here.", "Hi, Ann here."}, sentBodies(w),
		"the retry is not sent again; a new request with the same text is")
	require.Equal(t, turn.SendKey{Kind: turn.SendAgentReply, ConversationID: "conv-1", Ref: "reply/conv-1/esc-1/req-7"}.Key(), w.sends[1].Message.IdempotencyKey)
}
