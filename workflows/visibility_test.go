package workflows_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/switchboard-cc/switchboard/internal/turn"
	"github.com/switchboard-cc/switchboard/workflows"
)

// upsert is one search attribute upsert, as the test environment saw it.
type upsert struct {
	at     time.Time
	turns  int64  // SwitchboardTurns, if written
	status string // SwitchboardStatus, if written
	keys   []string
}

func recordUpserts(env *testsuite.TestWorkflowEnvironment) *[]upsert {
	var got []upsert
	env.OnUpsertTypedSearchAttributes(mock.Anything).Run(func(args mock.Arguments) {
		sa := args.Get(0).(temporal.SearchAttributes)
		u := upsert{at: env.Now()}
		for k := range sa.GetUntypedValues() {
			u.keys = append(u.keys, k.GetName())
		}
		u.turns, _ = sa.GetInt64(workflows.SATurns)
		u.status, _ = sa.GetKeyword(workflows.SAStatus)
		got = append(got, u)
	}).Return(nil).Maybe()
	return &got
}

func TestVisibility_ABurstOfTurns_IsWrittenTwice_AndTheLastTurnWithinTheLag(t *testing.T) {
	w := newWorld()
	env := newEnv(t, w)
	ups := recordUpserts(env)
	memos := 0
	env.OnUpsertMemo(mock.Anything).Run(func(mock.Arguments) { memos++ }).Return(nil).Maybe()
	var acc []workflows.Accepted
	var errs []error
	turns := make([]turn.Turn, 6)
	for i := range turns {
		turns[i] = mkTurn(i + 1)
	}
	sendTurns(env, &acc, &errs, turns...) // one a second: a burst within VisibilityLag
	var end time.Time
	env.RegisterDelayedCallback(func() {
		end = env.Now()
		env.CancelWorkflow()
	}, 6*time.Second+workflows.VisibilityLag+time.Second)
	start := env.Now()
	env.ExecuteWorkflow(workflows.WorkflowName, startState(workflows.Options{}))
	requireCancelled(t, env)
	require.Empty(t, errs)
	require.Len(t, w.published, 6)

	var written []upsert
	for _, u := range *ups {
		if u.turns > 0 {
			written = append(written, u)
		}
	}
	require.Len(t, written, 2, "6 turns within %s: the first turn's write, then one %s later: %+v", workflows.VisibilityLag, workflows.VisibilityLag, *ups)
	require.Equal(t, int64(1), written[0].turns)
	require.Equal(t, int64(6), written[1].turns, "the deferred write carries the last turn")
	require.LessOrEqual(t, written[1].at.Sub(start), time.Second+workflows.VisibilityLag+time.Second)
	require.True(t, written[1].at.Before(end))
	require.ElementsMatch(t, []string{"SwitchboardTurns", "SwitchboardLastTurnAt"}, written[1].keys, "providers unchanged: only the lazy attributes")
	require.Equal(t, 2, memos, "the memo follows the same two writes")
}

func TestVisibility_AStatusChange_IsWrittenAtOnce_WithTheTurnsSoFar(t *testing.T) {
	w := newWorld()
	env := newEnv(t, w)
	ups := recordUpserts(env)
	var acc []workflows.Accepted
	var errs []error
	start := env.Now()
	sendTurns(env, &acc, &errs, mkTurn(1), mkTurn(2), mkTurn(3))
	env.RegisterDelayedCallback(w.cpaasDown, 2500*time.Millisecond) // turn 3's reply cannot leave: stuck
	env.RegisterDelayedCallback(env.CancelWorkflow, 4*time.Second)
	env.ExecuteWorkflow(workflows.WorkflowName, startState(workflows.Options{}))
	requireCancelled(t, env)
	var stuck *upsert
	for i, u := range *ups {
		if u.status == workflows.StatusStuck {
			stuck = &(*ups)[i]
			break
		}
	}
	require.NotNil(t, stuck, "stuck was written: %+v", *ups)
	require.Less(t, stuck.at.Sub(start), 4*time.Second, "at once, with turn 3, not a lag later")
	require.Equal(t, int64(3), stuck.turns, "the pending SwitchboardTurns rides along")
}
