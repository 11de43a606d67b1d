package workflows_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/switchboard-cc/switchboard/internal/turn"
	"github.com/switchboard-cc/switchboard/workflows"
)

func textTurn(n int, text string) turn.Turn {
	t := mkTurn(n)
	t.Text = text
	return t
}

// desk sends an agent-desk update at a given time and records its result.
func desk(env *testsuite.TestWorkflowEnvironment, at time.Duration, name string, r workflows.DeskRequest, result *error) {
	env.RegisterDelayedCallback(func() {
		env.UpdateWorkflow(name, fmt.Sprintf("%s-%s", name, at), &testsuite.TestUpdateCallback{
			OnAccept:   func() {},
			OnReject:   func(err error) { *result = err },
			OnComplete: func(v any, err error) { *result = err },
		}, r)
	}, at)
}

func TestEscalation_HandoffIntent_AgentClaimsAcksRepliesAndResolves(t *testing.T) {
	w := newWorld()
	env := newEnv(t, w)
	var acc []workflows.Accepted
	var errs []error
	sendTurns(env, &acc, &errs, textTurn(1, "let me talk to a human"), textTurn(2, "hello? anyone?"))
	escID := "conv-1/esc-1"
	var stale, claim, ack, reply, resolve error
	desk(env, 10*time.Second, workflows.UpdateClaim, workflows.DeskRequest{EscalationID: escID, Queue: "tier2", Agent: "ann"}, &stale)
	desk(env, 11*time.Second, workflows.UpdateClaim, workflows.DeskRequest{EscalationID: escID, Queue: "tier1", Agent: "ann"}, &claim)
	desk(env, 12*time.Second, workflows.UpdateAck, workflows.DeskRequest{EscalationID: escID, Agent: "ann"}, &ack)
	desk(env, 13*time.Second, workflows.UpdateReply, workflows.DeskRequest{EscalationID: escID, Agent: "ann", Text: "Hi, Ann here."}, &reply)
	env.RegisterDelayedCallback(func() {
		tr := transcript(t, env)
		require.Equal(t, workflows.StatusWaitingHuman, tr.Status)
		require.Equal(t, turn.EscalationAcknowledged, tr.Escalation.State)
		require.Equal(t, "ann", tr.Escalation.Agent)
	}, 14*time.Second)
	desk(env, 15*time.Second, workflows.UpdateResolve, workflows.DeskRequest{EscalationID: escID, Agent: "ann"}, &resolve)
	sendTurnsAt(env, 20*time.Second, textTurn(3, "thanks"))
	env.RegisterDelayedCallback(func() {
		tr := transcript(t, env)
		require.Equal(t, workflows.StatusActive, tr.Status)
		require.Nil(t, tr.Escalation)
		require.Len(t, tr.Turns, 3)
		require.Equal(t, turn.StatusEscalated, tr.Turns[0].Status)
		require.Contains(t, tr.Turns[0].Escalation, "asked for a human")
		require.Equal(t, turn.StatusForwarded, tr.Turns[1].Status, "a turn while a human owns the conversation is not answered by the bot")
		require.Equal(t, turn.StatusReplied, tr.Turns[2].Status, "resolve hands the conversation back to the bot")
		env.CancelWorkflow()
	}, 30*time.Second)
	env.ExecuteWorkflow(workflows.WorkflowName, startState(workflows.Options{}))
	requireCancelled(t, env)

	require.ErrorContains(t, stale, "not waiting in queue tier2")
	require.NoError(t, claim)
	require.NoError(t, ack)
	require.NoError(t, reply)
	require.NoError(t, resolve)
	require.Len(t, w.escalated, 1, "acknowledged within the SLA: never re-routed")
	require.Equal(t, "tier1", w.escalated[0].Queue)
	bodies := []string{}
	for _, s := range w.sends {
		bodies = append(bodies, s.Message.Body)
	}
	require.Equal(t, []string{"Connecting you with our team.", "Hi, Ann here.", "Hello from cx-primary"}, bodies)
}

func TestEscalation_AgentNeverAcks_NextQueueThenFinalMessage(t *testing.T) {
	w := newWorld()
	env := newEnv(t, w)
	var acc []workflows.Accepted
	var errs []error
	sendTurns(env, &acc, &errs, textTurn(1, "human please"))
	env.RegisterDelayedCallback(func() {
		tr := transcript(t, env)
		require.Equal(t, turn.EscalationFlagged, tr.Escalation.State)
		require.Equal(t, workflows.StatusStuck, tr.Status, "no route left: ops must see it")
		require.NotNil(t, tr.Stuck)
		require.Equal(t, turn.StuckEscalation, tr.Stuck.Reasons[0].Source)
	}, 10*time.Minute)
	var replayed workflows.ReplayResult
	var replayErr error
	replay(env, 11*time.Minute, &replayed, &replayErr)
	env.RegisterDelayedCallback(func() {
		tr := transcript(t, env)
		require.Equal(t, turn.EscalationQueued, tr.Escalation.State, "the replay re-opens the escalation")
		require.Equal(t, "tier1", tr.Escalation.Queue)
		require.Equal(t, workflows.StatusWaitingHuman, tr.Status)
		require.Nil(t, tr.Stuck)
		env.CancelWorkflow()
	}, 12*time.Minute)
	env.ExecuteWorkflow(workflows.WorkflowName, startState(workflows.Options{}))
	requireCancelled(t, env)
	require.Len(t, w.escalated, 4)
	require.Equal(t, []string{"tier1", "tier2", "tier2", "tier1"}, []string{w.escalated[0].Queue, w.escalated[1].Queue, w.escalated[2].Queue, w.escalated[3].Queue})
	require.Equal(t, turn.EscalationFlagged, w.escalated[2].State)
	require.Equal(t, turn.EscalationQueued, w.escalated[3].State, "re-opened by the replay")
	require.NoError(t, replayErr)
	require.Equal(t, "conv-1/esc-1", replayed.Reopened)
	require.Len(t, w.sends, 2)
	require.Equal(t, "We will call you back within the hour.", w.sends[1].Message.Body)
}

func TestEscalation_RepeatedNoMatch_Escalates(t *testing.T) {
	w := newWorld()
	env := newEnv(t, w)
	var acc []workflows.Accepted
	var errs []error
	sendTurns(env, &acc, &errs, textTurn(1, "???"), textTurn(2, "??? again"))
	env.RegisterDelayedCallback(func() { env.CancelWorkflow() }, 10*time.Second)
	env.ExecuteWorkflow(workflows.WorkflowName, startState(workflows.Options{}))
	requireCancelled(t, env)
	require.Len(t, w.escalated, 1)
	require.Contains(t, w.escalated[0].Reason, "2 no-match turns in a row")
	require.Equal(t, "Sorry?", w.sends[0].Message.Body)
}

func TestEscalation_EveryCPaaSDown_Escalates(t *testing.T) {
	w := newWorld()
	w.sendErr["twilio"] = temporal.NewApplicationError("twilio unavailable", workflows.ErrTypeUnavailable)
	w.sendErr["vonage"] = temporal.NewApplicationError("vonage unavailable", workflows.ErrTypeUnavailable)
	env := newEnv(t, w)
	var acc []workflows.Accepted
	var errs []error
	sendTurns(env, &acc, &errs, mkTurn(1))
	env.RegisterDelayedCallback(func() { env.CancelWorkflow() }, 20*time.Second)
	env.ExecuteWorkflow(workflows.WorkflowName, startState(workflows.Options{}))
	requireCancelled(t, env)
	require.Len(t, w.escalated, 1)
	require.Equal(t, "all CPaaS providers failed", w.escalated[0].Reason)
	require.Equal(t, turn.StatusFailed, w.published[0].Status)
}

func TestEscalation_Resolve_AnswersResolved_AndTheMemoFollowsTheDesk(t *testing.T) {
	w := newWorld()
	env := newEnv(t, w)
	var memos []string
	env.OnUpsertMemo(mock.Anything).Run(func(args mock.Arguments) {
		if e, ok := args.Get(0).(map[string]any)["escalation"]; ok {
			memos = append(memos, e.(string))
		}
	}).Return(nil)
	var acc []workflows.Accepted
	var errs []error
	sendTurns(env, &acc, &errs, textTurn(1, "let me talk to a human"))
	escID := "conv-1/esc-1"
	var claim, resolve error
	desk(env, 10*time.Second, workflows.UpdateClaim, workflows.DeskRequest{EscalationID: escID, Queue: "tier1", Agent: "ann"}, &claim)
	var resolved turn.Escalation
	env.RegisterDelayedCallback(func() {
		env.UpdateWorkflow(workflows.UpdateResolve, "resolve-1", &testsuite.TestUpdateCallback{
			OnAccept: func() {},
			OnReject: func(err error) { resolve = err },
			OnComplete: func(v any, err error) {
				resolve = err
				if e, ok := v.(turn.Escalation); ok {
					resolved = e
				}
			},
		}, workflows.DeskRequest{EscalationID: escID, Agent: "ann"})
	}, 12*time.Second)
	env.RegisterDelayedCallback(env.CancelWorkflow, 20*time.Second)
	env.ExecuteWorkflow(workflows.WorkflowName, startState(workflows.Options{}))
	requireCancelled(t, env)

	require.NoError(t, claim)
	require.NoError(t, resolve)
	require.Equal(t, turn.EscalationResolved, resolved.State, "resolve answers the state it left the escalation in")
	require.Equal(t, "ann", resolved.Agent)
	require.Equal(t, escID, resolved.ID)
	require.NotEmpty(t, memos)
	require.Contains(t, memos[0], "queued in tier1")
	last := memos[len(memos)-1]
	require.NotContains(t, last, "queued", "the memo still says queued after the resolve: %q", memos)
	require.Contains(t, last, "resolved by ann")
	require.Contains(t, memos, "claimed in tier1 by ann: customer asked for a human (handoff.human)", "%q", memos)
}
