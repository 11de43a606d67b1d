package workflows_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"google.golang.org/protobuf/proto"

	"github.com/switchboard-cc/switchboard/internal/turn"
	"github.com/switchboard-cc/switchboard/workflows"
)

// burst delivers turns first..first+n-1 in one go, as a bridge draining a backlog
// would, and records every result.
func burst(env *testsuite.TestWorkflowEnvironment, at time.Duration, first, n int, mk func(int) turn.Turn, acc *[]workflows.Accepted, errs *[]error) {
	env.RegisterDelayedCallback(func() {
		for i := first; i < first+n; i++ {
			env.UpdateWorkflow(workflows.UpdateTurn, fmt.Sprintf("burst-%d", i), &testsuite.TestUpdateCallback{
				OnAccept: func() {},
				OnReject: func(err error) { *errs = append(*errs, err) },
				OnComplete: func(v any, err error) {
					if err != nil {
						*errs = append(*errs, err)
						return
					}
					*acc = append(*acc, v.(workflows.Accepted))
				},
			}, mk(i))
		}
	}, at)
}

func requireBusy(t *testing.T, errs []error) {
	t.Helper()
	for _, err := range errs {
		var ae *temporal.ApplicationError
		require.True(t, errors.As(err, &ae), "%v", err)
		require.Equal(t, workflows.ErrTypeBusy, ae.Type(), "a full conversation rejects with ErrTypeBusy: %v", err)
		require.Contains(t, ae.Error(), "deliver turn")
	}
}

func TestBounds_ABurstPastMaxPending_IsRefusedAsBusy_AndTheRestAnsweredInOrder(t *testing.T) {
	w := newWorld()
	env := newEnv(t, w)
	var acc []workflows.Accepted
	var errs []error
	burst(env, time.Second, 1, 30, mkTurn, &acc, &errs)
	env.RegisterDelayedCallback(func() {
		tr := transcript(t, env)
		require.Equal(t, 0, tr.Pending)
		for i, o := range tr.Turns {
			require.Equal(t, i+1, o.Seq)
			require.Equal(t, turn.StatusReplied, o.Status)
		}
		env.CancelWorkflow()
	}, time.Minute)
	env.ExecuteWorkflow(workflows.WorkflowName, startState(workflows.Options{MaxPending: 10}))
	requireCancelled(t, env)
	require.NotEmpty(t, errs, "the burst went past the bound")
	requireBusy(t, errs)
	require.Len(t, acc, 30-len(errs))
	require.LessOrEqual(t, len(acc), 10+1, "at most MaxPending wait, plus the one being processed")
	require.Len(t, w.sends, len(acc))
}

// worst is text that is as large as a turn may be, and grows six-fold in JSON
// ("<" is written \u003c).
func worst(prefix string, n int) string {
	return prefix + strings.Repeat("<", n-len(prefix))
}

func worstTurn(text string) func(int) turn.Turn {
	return func(i int) turn.Turn {
		t := mkTurn(i)
		t.ID = worst(fmt.Sprintf("api:%d:", i), 256)
		t.Text = worst(text, turn.MaxTextBytes)
		return t
	}
}

func TestBounds_AConversationFilledPastEveryBound_ContinuesAsNewFarBelowThePayloadLimit(t *testing.T) {
	const limit = 2 << 20 // Temporal's payload limit
	w := newWorld()
	w.cpaasDown()     // every reply unanswered
	w.noQueues = true // and no human to hand over to, so every turn is answered by the bot
	w.reply = worst("", 4096)
	env := newEnv(t, w)
	var acc []workflows.Accepted
	var errs []error
	env.SetTestTimeout(time.Minute)
	for b := range 14 {
		burst(env, time.Duration(b+1)*time.Minute, b*12+1, 12, worstTurn("hello "), &acc, &errs)
	}
	held := make([]workflows.HeldTurn, 120)
	for i := range held {
		held[i] = workflows.HeldTurn{TurnID: worst(fmt.Sprintf("twilio:H%d:", i), 256), Sequence: uint64(i), Detail: worst("", 600)}
	}
	env.RegisterDelayedCallback(func() { env.SignalWorkflow(workflows.SignalHeld, held) }, 30*time.Second)
	env.ExecuteWorkflow(workflows.WorkflowName, startState(workflows.Options{MaxTurnsPerRun: 60}))
	first, can := continuedState(t, env)
	requireBusy(t, errs)
	require.NotEmpty(t, errs, "the pending bound was reached")
	require.Less(t, len(first.Transcript), len(acc), "trimmed by bytes, not only by count")
	require.Less(t, len(first.Unanswered), len(acc), "more unanswered than kept")
	require.Less(t, len(first.Recent), len(acc), "more ids than kept")
	require.Len(t, first.Held, 50, "the most recent held turns")
	t.Logf("first run: %d turns accepted, %d refused; carries %d transcript, %d unanswered, %d recent, %d held: %d bytes",
		len(acc), len(errs), len(first.Transcript), len(first.Unanswered), len(first.Recent), len(first.Held), proto.Size(can.Input))
	require.Less(t, proto.Size(can.Input), limit/2)

	// The next run starts full, with a human queue now, and a run length of one:
	// it continues as new with as many turns pending as the bound lets in, an
	// escalation whose text is as large as can be, and every list full.
	first.Options.MaxTurnsPerRun = 1
	w.mu.Lock()
	w.noQueues = false
	w.mu.Unlock()
	env2 := newEnv(t, w)
	env2.SetTestTimeout(time.Minute)
	var acc2 []workflows.Accepted
	var errs2 []error
	burst(env2, time.Second, 10000, 12, worstTurn("human "), &acc2, &errs2)
	env2.ExecuteWorkflow(workflows.WorkflowName, first)
	second, can2 := continuedState(t, env2)
	require.NotEmpty(t, errs2)
	requireBusy(t, errs2)
	require.NotEmpty(t, second.Pending, "continued as new with turns waiting")
	require.NotNil(t, second.Escalation)
	t.Logf("second run: carries %d pending, %d transcript, %d unanswered, %d recent, %d held, an escalation: %d bytes",
		len(second.Pending), len(second.Transcript), len(second.Unanswered), len(second.Recent), len(second.Held), proto.Size(can2.Input))
	require.Less(t, proto.Size(can2.Input), limit/2, "far below Temporal's 2 MB payload limit")
}
