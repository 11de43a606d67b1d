package workflows_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-cc/switchboard/internal/turn"
	"github.com/switchboard-cc/switchboard/workflows"
)

func callTurn(n int, text string) turn.Turn {
	t := mkTurn(n)
	t.ID, t.ConversationID, t.Channel, t.Text = fmt.Sprintf("twilio:CA0001/%d", n), "conv-call", turn.ChannelVoice, text
	return t
}

// A voice turn's reply is spoken by the call's webhook: the workflow understands it
// and publishes the outcome, and no CPaaS provider sends anything. A caller who asks
// for a human escalates as on text, and a turn carrying Escalate (the call's
// hand-off options all failed) escalates without asking the NLU.
func TestVoice_RepliesAreSpokenNotSent_EscalationsAreRecorded(t *testing.T) {
	w := newWorld()
	env := newEnv(t, w)
	failed := callTurn(3, "(hand-off failed)")
	failed.Escalate = "no hand-off option took the call"
	var acc []workflows.Accepted
	var errs []error
	sendTurns(env, &acc, &errs, callTurn(1, "where is my order"), callTurn(2, "a human please"))
	var tr turn.Transcript
	env.RegisterDelayedCallback(func() { tr = transcript(t, env) }, 10*time.Second)
	env.RegisterDelayedCallback(func() { env.CancelWorkflow() }, 20*time.Second)
	env.ExecuteWorkflow(workflows.WorkflowName, workflows.NewState(callTurn(0, "x"), workflows.Options{}))
	require.Empty(t, errs)
	require.Empty(t, w.attempts, "no reply of a call goes through a CPaaS provider")
	require.Len(t, tr.Turns, 2)
	first, second := tr.Turns[0], tr.Turns[1]
	require.True(t, first.Spoken)
	require.Equal(t, turn.StatusReplied, first.Status)
	require.Equal(t, "Hello from cx-primary", first.Reply)
	require.Empty(t, first.CPaaSProvider)
	require.Equal(t, turn.StatusEscalated, second.Status)
	require.Contains(t, second.Escalation, "customer asked for a human")
	require.Len(t, w.escalated, 1)
	require.Len(t, w.published, 2, "the webhook waits for the published outcome")

	// A fresh call whose hand-off failed escalates with that reason, no NLU asked.
	w2 := newWorld()
	env2 := newEnv(t, w2)
	sendTurns(env2, &acc, &errs, failed)
	env2.RegisterDelayedCallback(func() { tr = transcript(t, env2) }, 5*time.Second)
	env2.RegisterDelayedCallback(func() { env2.CancelWorkflow() }, 10*time.Second)
	env2.ExecuteWorkflow(workflows.WorkflowName, workflows.NewState(callTurn(0, "x"), workflows.Options{}))
	require.Empty(t, errs)
	require.Empty(t, w2.detects)
	require.Empty(t, w2.attempts)
	require.Len(t, tr.Turns, 1)
	require.Equal(t, turn.StatusEscalated, tr.Turns[0].Status)
	require.Equal(t, failed.Escalate, tr.Turns[0].Escalation)
	require.Len(t, w2.escalated, 1)
	require.Equal(t, failed.Escalate, w2.escalated[0].Reason)
}
