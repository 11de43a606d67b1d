package e2e

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/temporalproto"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/switchboard-cc/switchboard/internal/devstack/devtemporal"
	"github.com/switchboard-cc/switchboard/internal/turn"
	"github.com/switchboard-cc/switchboard/workflows"
)

// stubProviders are the activities of a conversation with one NLU and one CPaaS
// provider, and human queues with two-second SLAs, so that a history can hold an
// escalation through its SLA timers in seconds.
type stubProviders struct {
	mu    sync.Mutex
	down  bool
	sends []string
}

func (p *stubProviders) route(ctx context.Context, in turn.RouteInput) (turn.Route, error) {
	a := turn.Attempt{Timeout: 2 * time.Second, MaxAttempts: 1}
	return turn.Route{
		NLU: []turn.NLUCandidate{
			{Provider: "nlu", Attempt: a, HedgeAfter: 100 * time.Millisecond},
			{Provider: "nlu-2", Attempt: a, HedgeAfter: 100 * time.Millisecond},
		},
		CPaaS:         []turn.CPaaSCandidate{{Provider: "cpaas", Channel: in.Channel, From: in.From, Attempt: a}},
		FallbackReply: "Sorry.", LanguageCode: "en",
		Escalation: turn.EscalationPolicy{
			HandoffIntents:  []string{"handoff.human"},
			Queues:          []turn.Queue{{Name: "tier1", AckSLA: 2 * time.Second}, {Name: "tier2", AckSLA: 2 * time.Second}},
			EscalatingReply: "Connecting you.", FinalMessage: "We will call you back.",
		},
	}, nil
}

// detect hangs on "nlu" for a turn that says "thanks", so that the history holds a
// hedge that answers and an attempt cancelled for it; it honours a hedge's delay
// as the worker does.
func (p *stubProviders) detect(ctx context.Context, in workflows.DetectInput) (workflows.DetectOutput, error) {
	if in.HedgeOf > 0 && activity.GetInfo(ctx).Attempt == 1 {
		select {
		case <-time.After(in.Delay):
		case <-ctx.Done():
			return workflows.DetectOutput{}, ctx.Err()
		}
	}
	if in.Provider == "nlu" && strings.Contains(in.Text, "thanks") {
		<-ctx.Done()
		return workflows.DetectOutput{}, ctx.Err()
	}
	if strings.Contains(in.Text, "human") {
		return workflows.DetectOutput{Intent: "handoff.human"}, nil
	}
	return workflows.DetectOutput{Intent: "greeting", Reply: "Hello."}, nil
}

func (p *stubProviders) send(ctx context.Context, in workflows.SendInput) (workflows.SendOutput, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.down {
		return workflows.SendOutput{}, temporal.NewApplicationError("down", workflows.ErrTypeUnavailable)
	}
	p.sends = append(p.sends, in.Message.Body)
	return workflows.SendOutput{MessageID: "m"}, nil
}

func (p *stubProviders) setDown(down bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = down
}

// TestRecordedHistories_EscalationSLAReplayHeldAndContinueAsNew runs one
// conversation on the embedded Temporal server through what the version markers
// guard: an escalation whose SLA timers run out, a final message that cannot be
// sent, the held signal, a replay update, an agent's reply, a hung NLU attempt
// hedged over, continue-as-new with the escalation open, and resolve in the next
// run. With
// SWITCHBOARD_RECORD_HISTORIES=$PWD/workflows/testdata it writes both runs'
// histories there, for workflows/replay_test.go:
//
//	SWITCHBOARD_RECORD_HISTORIES=$PWD/workflows/testdata go test ./e2e -run TestRecordedHistories
func TestRecordedHistories_EscalationSLAReplayHeldAndContinueAsNew(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	srv, err := devtemporal.Start(ctx, devtemporal.Config{FrontendPort: devtemporal.RandomPort, DisableUI: true, SearchAttributes: workflows.SearchAttributes(), LogLevel: "error"})
	require.NoError(t, err)
	t.Cleanup(func() { _ = srv.Stop() })
	c, err := client.Dial(client.Options{HostPort: srv.FrontendAddr(), Logger: sdklog.NewStructuredLogger(slog.New(slog.DiscardHandler))})
	require.NoError(t, err)
	t.Cleanup(c.Close)
	p := &stubProviders{}
	w := worker.New(c, "histories", worker.Options{})
	w.RegisterWorkflowWithOptions(workflows.ConversationWorkflow, workflow.RegisterOptions{Name: workflows.WorkflowName})
	w.RegisterActivityWithOptions(p.route, activity.RegisterOptions{Name: workflows.ActivityRoute})
	w.RegisterActivityWithOptions(p.detect, activity.RegisterOptions{Name: workflows.ActivityDetect})
	w.RegisterActivityWithOptions(p.send, activity.RegisterOptions{Name: workflows.ActivitySend})
	w.RegisterActivityWithOptions(func(ctx context.Context, in workflows.PublishInput) error { return nil }, activity.RegisterOptions{Name: workflows.ActivityPublish})
	w.RegisterActivityWithOptions(func(ctx context.Context, in workflows.EscalateInput) error { return nil }, activity.RegisterOptions{Name: workflows.ActivityEscalate})
	require.NoError(t, w.Start())
	t.Cleanup(w.Stop)

	conv := "api-chat-histories"
	mk := func(id, text string) turn.Turn {
		return turn.Turn{ID: "api:" + id, ConversationID: conv, Vendor: turn.VendorAPI, Channel: turn.ChannelChat,
			From: "+15551239999", To: "+15550001000", Text: text, ReceivedAt: time.Now()}
	}
	deliver := func(tt turn.Turn) {
		t.Helper()
		start := c.NewWithStartWorkflowOperation(client.StartWorkflowOptions{
			ID: turn.WorkflowID(conv), TaskQueue: "histories",
			WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
		}, workflows.WorkflowName, workflows.NewState(tt, workflows.Options{MaxTurnsPerRun: 3}))
		h, err := c.UpdateWithStartWorkflow(ctx, client.UpdateWithStartWorkflowOptions{StartWorkflowOperation: start,
			UpdateOptions: client.UpdateWorkflowOptions{UpdateID: tt.ID, UpdateName: workflows.UpdateTurn, Args: []any{tt}, WaitForStage: client.WorkflowUpdateStageCompleted}})
		require.NoError(t, err)
		require.NoError(t, h.Get(ctx, nil))
	}
	update := func(name, id string, arg any, out any) {
		t.Helper()
		h, err := c.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{WorkflowID: turn.WorkflowID(conv), UpdateName: name, UpdateID: id, Args: []any{arg}, WaitForStage: client.WorkflowUpdateStageCompleted})
		require.NoError(t, err)
		require.NoError(t, h.Get(ctx, out))
	}
	read := func() turn.Transcript {
		t.Helper()
		v, err := c.QueryWorkflow(ctx, turn.WorkflowID(conv), "", workflows.QueryTranscript)
		require.NoError(t, err)
		var tr turn.Transcript
		require.NoError(t, v.Get(&tr))
		return tr
	}
	waitFor := func(what string, cond func(turn.Transcript) bool) {
		t.Helper()
		require.Eventually(t, func() bool { return cond(read()) }, 30*time.Second, 100*time.Millisecond, what)
	}

	deliver(mk("1", "talk to a human"))
	first := read()
	require.NotNil(t, first.Escalation)
	d, err := c.DescribeWorkflowExecution(ctx, turn.WorkflowID(conv), "")
	require.NoError(t, err)
	firstRun := d.GetWorkflowExecutionInfo().GetExecution().GetRunId()

	p.setDown(true) // the final message cannot leave
	waitFor("the escalation is flagged after both SLAs and its final message is unanswered", func(tr turn.Transcript) bool {
		return tr.Stuck != nil && len(tr.Stuck.Reasons) == 2
	})
	require.NoError(t, c.SignalWorkflow(ctx, turn.WorkflowID(conv), "", workflows.SignalHeld,
		[]workflows.HeldTurn{{TurnID: "api:2", Since: time.Now(), Sequence: 2, Detail: "Temporal unavailable"}}))
	waitFor("the held turn is listed", func(tr turn.Transcript) bool { return tr.Stuck != nil && len(tr.Stuck.Reasons) == 3 })
	p.setDown(false)
	var res workflows.ReplayResult
	update(workflows.UpdateReplay, "replay-1", workflows.ReplayRequest{By: "e2e"}, &res)
	require.Equal(t, first.Escalation.ID, res.Reopened)
	require.Len(t, res.Resent, 1)
	require.Equal(t, turn.StatusReplied, res.Resent[0].Status)
	var e turn.Escalation
	update(workflows.UpdateReply, "reply/"+first.Escalation.ID+"/req-1", workflows.DeskRequest{EscalationID: first.Escalation.ID, Agent: "ann", Text: "Hi, Ann here."}, &e)
	require.Equal(t, turn.EscalationAcknowledged, e.State)
	deliver(mk("2", "hello?")) // the held turn arrives
	deliver(mk("3", "still there?"))
	waitFor("the run continued as new with the escalation open", func(tr turn.Transcript) bool {
		d, err := c.DescribeWorkflowExecution(ctx, turn.WorkflowID(conv), "")
		return err == nil && d.GetWorkflowExecutionInfo().GetExecution().GetRunId() != firstRun && tr.Escalation != nil
	})
	update(workflows.UpdateResolve, "resolve/"+first.Escalation.ID+"/ann", workflows.DeskRequest{EscalationID: first.Escalation.ID, Agent: "ann"}, &e)
	deliver(mk("4", "thanks"))
	last := read()
	require.Nil(t, last.Escalation)
	thanks := last.Turns[len(last.Turns)-1]
	require.Equal(t, "nlu-2", thanks.NLUProvider, "the hedge answers for the hung provider")
	require.Len(t, thanks.Hedged, 1)
	require.Equal(t, "nlu", thanks.Hedged[0].Provider)
	require.Equal(t, turn.StatusReplied, last.Turns[len(last.Turns)-1].Status)
	require.Equal(t, []string{"Connecting you.", "We will call you back.", "Hi, Ann here.", "Hello."}, p.sends)

	if dir := os.Getenv("SWITCHBOARD_RECORD_HISTORIES"); dir != "" {
		writeHistory(t, c, conv, firstRun, filepath.Join(dir, "escalation-history.json"))
		writeHistory(t, c, conv, "", filepath.Join(dir, "continued-history.json"))
	}
}

// writeHistory writes one run's history (runID "": the latest) as JSON.
func writeHistory(t *testing.T, c client.Client, conversationID, runID, path string) {
	t.Helper()
	it := c.GetWorkflowHistory(context.Background(), turn.WorkflowID(conversationID), runID, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	var h historypb.History
	for it.HasNext() {
		e, err := it.Next()
		require.NoError(t, err)
		h.Events = append(h.Events, e)
	}
	b, err := temporalproto.CustomJSONMarshalOptions{Indent: "  "}.Marshal(&h)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(path, b, 0o644))
	t.Logf("recorded %d events to %s", len(h.Events), path)
}
