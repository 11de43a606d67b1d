package workflows_test

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/switchboard-cc/switchboard/internal/turn"
	"github.com/switchboard-cc/switchboard/workflows"
)

// replay runs UpdateReplay at the given time and records its result.
func replay(env *testsuite.TestWorkflowEnvironment, at time.Duration, res *workflows.ReplayResult, errp *error) {
	env.RegisterDelayedCallback(func() {
		env.UpdateWorkflow(workflows.UpdateReplay, "replay-"+at.String(), &testsuite.TestUpdateCallback{
			OnAccept: func() {},
			OnReject: func(err error) { *errp = err },
			OnComplete: func(v any, err error) {
				if err != nil {
					*errp = err
					return
				}
				*res = v.(workflows.ReplayResult)
			},
		}, workflows.ReplayRequest{By: "test"})
	}, at)
}

// cpaasDown makes every CPaaS provider of the world unavailable.
func (w *world) cpaasDown() {
	down := temporal.NewApplicationError("down", workflows.ErrTypeUnavailable)
	w.mu.Lock()
	defer w.mu.Unlock()
	w.sendErr["twilio"], w.sendErr["vonage"] = down, down
}

// cpaasRecover heals every CPaaS provider of the world.
func (w *world) cpaasRecover() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.sendErr = map[string]error{}
}

func TestStuck_UnsentReplyIsKeptAndReplayedOnceWithTheSameKey_AndTheOutageEscalationCloses(t *testing.T) {
	w := newWorld()
	w.cpaasDown()
	env := newEnv(t, w)
	var acc []workflows.Accepted
	var errs []error
	sendTurns(env, &acc, &errs, mkTurn(1))
	var early workflows.ReplayResult
	var earlyErr error
	env.RegisterDelayedCallback(func() {
		tr := transcript(t, env)
		require.Equal(t, workflows.StatusStuck, tr.Status)
		require.NotNil(t, tr.Stuck)
		require.Equal(t, turn.StuckUnanswered, tr.Stuck.Reasons[0].Source)
		require.Equal(t, []string{mkTurn(1).ID}, tr.Stuck.Reasons[0].Turns)
		w.cpaasRecover() // the vendors are back
	}, 30*time.Second)
	var res workflows.ReplayResult
	var replayErr error
	replay(env, 40*time.Second, &res, &replayErr)
	replay(env, 50*time.Second, &early, &earlyErr) // nothing left to replay
	env.RegisterDelayedCallback(func() {
		tr := transcript(t, env)
		require.Nil(t, tr.Stuck)
		require.Nil(t, tr.Escalation, "the escalation the outage opened is closed once its reply reached the customer")
		require.Equal(t, workflows.StatusActive, tr.Status)
	}, time.Minute)
	// Past both queues' SLAs (2 and 5 minutes): no apology follows the answer.
	env.RegisterDelayedCallback(func() { env.CancelWorkflow() }, 15*time.Minute)
	env.ExecuteWorkflow(workflows.WorkflowName, startState(workflows.Options{}))

	require.NoError(t, replayErr)
	require.Len(t, res.Resent, 1)
	require.Equal(t, turn.StatusReplied, res.Resent[0].Status)
	require.True(t, res.Resent[0].Replayed)
	require.ErrorContains(t, earlyErr, "no unanswered reply")
	require.Len(t, w.sends, 1, "one reply, sent by the replay")
	require.Equal(t, "Hello from cx-primary", w.sends[0].Message.Body)
	require.Greater(t, len(w.attempts), 1)
	for _, a := range w.attempts {
		require.Equal(t, w.attempts[0].Message.IdempotencyKey, a.Message.IdempotencyKey, "the replay reuses the key of turn 1's failed attempts")
	}
	require.True(t, strings.HasSuffix(w.attempts[0].Message.IdempotencyKey, "/1"))
}

func TestStuck_StaleReplyIsPrefixedWithTheApology(t *testing.T) {
	w := newWorld()
	w.stale = turn.StaleReply{After: 15 * time.Minute, Apology: "Sorry for the wait. "}
	env := newEnv(t, w)
	var acc []workflows.Accepted
	var errs []error
	old := mkTurn(1)
	old.ReceivedAt = env.Now().Add(-20 * time.Minute)
	fresh := mkTurn(2)
	fresh.ReceivedAt = env.Now()
	sendTurns(env, &acc, &errs, old, fresh)
	env.RegisterDelayedCallback(func() { env.CancelWorkflow() }, 10*time.Second)
	env.ExecuteWorkflow(workflows.WorkflowName, startState(workflows.Options{}))
	require.Len(t, w.sends, 2)
	require.Equal(t, "Sorry for the wait. Hello from cx-primary", w.sends[0].Message.Body)
	require.Equal(t, "Hello from cx-primary", w.sends[1].Message.Body)
}

func TestStuck_StaleReplyIsSuppressedWhenThePolicySaysSo(t *testing.T) {
	w := newWorld()
	w.stale = turn.StaleReply{After: 15 * time.Minute, Suppress: true}
	env := newEnv(t, w)
	var acc []workflows.Accepted
	var errs []error
	old := mkTurn(1)
	old.ReceivedAt = env.Now().Add(-20 * time.Minute)
	sendTurns(env, &acc, &errs, old)
	env.RegisterDelayedCallback(func() { env.CancelWorkflow() }, 10*time.Second)
	env.ExecuteWorkflow(workflows.WorkflowName, startState(workflows.Options{}))
	require.Empty(t, w.sends)
	require.Len(t, w.published, 1)
	require.Equal(t, turn.StatusSuppressed, w.published[0].Status)
	require.Contains(t, w.published[0].Reason, "longer than stale_reply.after (15m0s)")
}

func TestStuck_HeldTurnMarksTheConversationUntilItArrives(t *testing.T) {
	w := newWorld()
	env := newEnv(t, w)
	var acc []workflows.Accepted
	var errs []error
	sendTurns(env, &acc, &errs, mkTurn(1))
	held := mkTurn(2)
	env.RegisterDelayedCallback(func() {
		env.SignalWorkflow(workflows.SignalHeld, []workflows.HeldTurn{
			{TurnID: mkTurn(1).ID, Since: held.ReceivedAt, Sequence: 1, Detail: "already delivered"},
			{TurnID: held.ID, Since: held.ReceivedAt, Sequence: 7, Detail: "Temporal unavailable"},
		})
	}, 5*time.Second)
	env.RegisterDelayedCallback(func() {
		tr := transcript(t, env)
		require.Equal(t, workflows.StatusStuck, tr.Status)
		require.Len(t, tr.Stuck.Reasons, 1)
		require.Equal(t, turn.StuckJetStream, tr.Stuck.Reasons[0].Source)
		require.Equal(t, []string{held.ID}, tr.Stuck.Reasons[0].Turns, "a turn the workflow has is not held")
		require.Equal(t, []uint64{7}, tr.Stuck.Reasons[0].Sequences)
	}, 6*time.Second)
	sendTurnsAt(env, 10*time.Second, held)
	env.RegisterDelayedCallback(func() {
		tr := transcript(t, env)
		require.Equal(t, workflows.StatusActive, tr.Status)
		require.Nil(t, tr.Stuck)
		env.CancelWorkflow()
	}, 15*time.Second)
	env.ExecuteWorkflow(workflows.WorkflowName, startState(workflows.Options{}))
	require.Empty(t, errs)
	require.Len(t, w.sends, 2)
}

func TestStuck_CanaryNeverEscalatesNorSticks(t *testing.T) {
	w := newWorld()
	w.nluDown["cx-primary"], w.nluDown["cx-secondary"] = true, true
	w.cpaasDown()
	env := newEnv(t, w)
	var acc []workflows.Accepted
	var errs []error
	c := mkTurn(1)
	c.Canary = true
	sendTurns(env, &acc, &errs, c)
	env.RegisterDelayedCallback(func() {
		tr := transcript(t, env)
		require.Equal(t, workflows.StatusActive, tr.Status)
		require.Nil(t, tr.Stuck)
		require.Nil(t, tr.Escalation)
		env.CancelWorkflow()
	}, 30*time.Second)
	s := workflows.NewState(c, workflows.Options{})
	env.ExecuteWorkflow(workflows.WorkflowName, s)
	require.Empty(t, w.escalated)
	require.Len(t, w.published, 1)
	require.Equal(t, turn.StatusFailed, w.published[0].Status)
}

func TestStuck_ReplyInFlightElsewhere_TheClaimIsWaitedOut_ThenSentOnce_NoFailoverNoEscalation(t *testing.T) {
	w := newWorld()
	inFlight := temporal.NewApplicationError("another attempt is sending this reply", workflows.ErrTypeInFlight, time.Unix(0, 0))
	w.failSends["twilio"] = []error{inFlight, inFlight} // both attempts of the first try
	env := newEnv(t, w)
	var acc []workflows.Accepted
	var errs []error
	sendTurns(env, &acc, &errs, mkTurn(1))
	env.RegisterDelayedCallback(func() { env.CancelWorkflow() }, time.Minute)
	env.ExecuteWorkflow(workflows.WorkflowName, startState(workflows.Options{}))
	require.Empty(t, w.escalated, "a reply still in flight is not a CPaaS outage")
	for _, a := range w.attempts {
		require.Equal(t, "twilio", a.Provider, "vonage shares the key and its claim: not tried")
	}
	require.Len(t, w.sends, 1, "sent once the other attempt's claim lapsed")
	require.Len(t, w.published, 1)
	require.Equal(t, turn.StatusReplied, w.published[0].Status)
}

func TestStuck_ReplyInFlightElsewhereForGood_KeptStuck_NoFailoverNoEscalation_ReplayedLater(t *testing.T) {
	w := newWorld()
	w.sendErr["twilio"] = temporal.NewApplicationError("another attempt is sending this reply", workflows.ErrTypeInFlight)
	env := newEnv(t, w)
	var acc []workflows.Accepted
	var errs []error
	sendTurns(env, &acc, &errs, mkTurn(1))
	env.RegisterDelayedCallback(func() {
		tr := transcript(t, env)
		require.Equal(t, workflows.StatusStuck, tr.Status, "the claim was waited out three times: ops decide")
		require.Nil(t, tr.Escalation, "a reply still in flight is not a CPaaS outage")
		w.mu.Lock()
		delete(w.sendErr, "twilio") // the dead worker's claim lapsed
		w.mu.Unlock()
	}, 2*time.Minute)
	var res workflows.ReplayResult
	var replayErr error
	replay(env, 150*time.Second, &res, &replayErr)
	env.RegisterDelayedCallback(func() { env.CancelWorkflow() }, 3*time.Minute)
	env.ExecuteWorkflow(workflows.WorkflowName, startState(workflows.Options{}))
	require.NoError(t, replayErr)
	require.Empty(t, w.escalated)
	for _, a := range w.attempts {
		require.Equal(t, "twilio", a.Provider, "vonage shares the key and its claim: not tried")
	}
	require.Len(t, w.sends, 1)
	require.Equal(t, turn.StatusReplied, res.Resent[0].Status)
}

func TestStuck_DeliveryUnknown_NoFailoverNoEscalation_ListedApart_SentOnlyWhenTheOperatorSaysSo(t *testing.T) {
	w := newWorld()
	w.sendErr["twilio"] = temporal.NewApplicationError("delivery unknown: twilio timed out; asking twilio failed", workflows.ErrTypeDeliveryUnknown)
	env := newEnv(t, w)
	var acc []workflows.Accepted
	var errs []error
	sendTurns(env, &acc, &errs, mkTurn(1))
	env.RegisterDelayedCallback(func() {
		tr := transcript(t, env)
		require.Equal(t, workflows.StatusStuck, tr.Status)
		require.Nil(t, tr.Escalation, "the reply may have reached the customer: no human is told every provider failed")
		require.Len(t, tr.Stuck.Reasons, 1)
		require.Equal(t, turn.StuckDeliveryUnknown, tr.Stuck.Reasons[0].Source)
		require.True(t, tr.Turns[0].DeliveryUnknown)
		require.Contains(t, tr.Turns[0].Reason, "may or may not have reached the customer")
	}, 20*time.Second)
	env.RegisterDelayedCallback(func() {
		env.UpdateWorkflow(workflows.UpdateReplay, "replay-unknown", &testsuite.TestUpdateCallback{
			OnAccept: func() {}, OnReject: func(error) {}, OnComplete: func(any, error) {},
		}, workflows.ReplayRequest{By: "test", SendUnknown: true})
	}, 30*time.Second)
	env.RegisterDelayedCallback(func() { env.CancelWorkflow() }, 40*time.Second)
	env.ExecuteWorkflow(workflows.WorkflowName, startState(workflows.Options{}))
	require.Empty(t, w.escalated)
	var first, replayed []workflows.SendInput
	for _, a := range w.attempts {
		require.Equal(t, "twilio", a.Provider, "vonage shares the key: failing over would send it twice")
		if a.SendUnknown {
			replayed = append(replayed, a)
		} else {
			first = append(first, a)
		}
	}
	require.NotEmpty(t, first)
	require.NotEmpty(t, replayed, "the operator's decision travels to the send")
	require.Equal(t, first[0].Message.IdempotencyKey, replayed[0].Message.IdempotencyKey)
}

func TestStuck_ReplayDoesNotTalkOverAnAgentWhoTookTheConversation(t *testing.T) {
	w := newWorld()
	w.cpaasDown()
	env := newEnv(t, w)
	var acc []workflows.Accepted
	var errs []error
	sendTurns(env, &acc, &errs, mkTurn(1)) // fails: every CPaaS down, so it escalates
	var ack error
	desk(env, 20*time.Second, workflows.UpdateAck, workflows.DeskRequest{EscalationID: "conv-1/esc-1", Agent: "ann"}, &ack)
	env.RegisterDelayedCallback(w.cpaasRecover, 25*time.Second)
	var res workflows.ReplayResult
	var replayErr error
	replay(env, 30*time.Second, &res, &replayErr)
	env.RegisterDelayedCallback(func() {
		tr := transcript(t, env)
		require.Nil(t, tr.Stuck)
		require.Equal(t, workflows.StatusWaitingHuman, tr.Status)
		env.CancelWorkflow()
	}, 40*time.Second)
	env.ExecuteWorkflow(workflows.WorkflowName, startState(workflows.Options{}))
	require.NoError(t, ack)
	require.NoError(t, replayErr)
	require.Len(t, res.Resent, 1)
	require.Equal(t, turn.StatusForwarded, res.Resent[0].Status)
	require.Contains(t, res.Resent[0].Reason, "ann has the conversation")
	require.Empty(t, w.sends, "the bot's old answer is not sent over the agent")
}

func TestStuck_AStaleReplyReplayedLaterApologisesOnce(t *testing.T) {
	w := newWorld()
	w.stale = turn.StaleReply{After: 15 * time.Minute, Apology: "Sorry for the wait. "}
	w.cpaasDown()
	env := newEnv(t, w)
	var acc []workflows.Accepted
	var errs []error
	old := mkTurn(1)
	old.ReceivedAt = env.Now().Add(-20 * time.Minute)
	sendTurns(env, &acc, &errs, old)
	env.RegisterDelayedCallback(w.cpaasRecover, 20*time.Second)
	var res workflows.ReplayResult
	var replayErr error
	replay(env, 30*time.Second, &res, &replayErr)
	env.RegisterDelayedCallback(func() { env.CancelWorkflow() }, 40*time.Second)
	env.ExecuteWorkflow(workflows.WorkflowName, startState(workflows.Options{}))
	require.NoError(t, replayErr)
	require.Len(t, w.sends, 1)
	require.Equal(t, "Sorry for the wait. Hello from cx-primary", w.sends[0].Message.Body)
}
