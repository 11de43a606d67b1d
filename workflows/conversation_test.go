package workflows_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/switchboard-cc/switchboard/internal/turn"
	"github.com/switchboard-cc/switchboard/workflows"
)

// world is a set of plain activity stubs standing in for the providers.
type world struct {
	mu        sync.Mutex
	nluDown   map[string]bool
	sendErr   map[string]error
	detects   []string              // provider per Detect call
	sends     []workflows.SendInput // accepted by the vendor
	attempts  []workflows.SendInput // every send attempt, failed ones included
	published []turn.Outcome
	escalated []turn.Escalation
	stale     turn.StaleReply
	// failSends fails the next sends of a provider with an error of its own,
	// one per attempt, before sendErr applies.
	failSends map[string][]error
	// ledger, when set, acts as the send ledger: a key already sent is not sent
	// again (the receipt is reused).
	ledger   map[string]workflows.SendOutput
	noQueues bool   // the escalation policy names no queue
	reply    string // when set, every NLU answer's reply
}

func newWorld() *world {
	return &world{nluDown: map[string]bool{}, sendErr: map[string]error{}, failSends: map[string][]error{}}
}

func (w *world) route(ctx context.Context, in turn.RouteInput) (turn.Route, error) {
	a := turn.Attempt{Timeout: time.Second, MaxAttempts: 2}
	w.mu.Lock()
	noQueues := w.noQueues
	w.mu.Unlock()
	r := turn.Route{
		NLU:           []turn.NLUCandidate{{Provider: "cx-primary", Attempt: a}, {Provider: "cx-secondary", Attempt: a}},
		CPaaS:         []turn.CPaaSCandidate{{Provider: "twilio", Channel: in.Channel, From: in.From, Attempt: a}, {Provider: "vonage", Channel: in.Channel, From: "+15550009999", Attempt: a}},
		FallbackReply: "Sorry, we are having trouble. Please try again shortly.",
		LanguageCode:  "en",
		StaleReply:    w.stale,
		Escalation: turn.EscalationPolicy{
			HandoffIntents: []string{"handoff.human"}, MaxNoMatch: 2,
			Queues:          []turn.Queue{{Name: "tier1", AckSLA: 2 * time.Minute}, {Name: "tier2", AckSLA: 5 * time.Minute}},
			EscalatingReply: "Connecting you with our team.", FinalMessage: "We will call you back within the hour.",
		},
	}
	if noQueues {
		r.Escalation.Queues = nil
	}
	return r, nil
}

func (w *world) detect(ctx context.Context, in workflows.DetectInput) (workflows.DetectOutput, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.detects = append(w.detects, in.Provider)
	if w.nluDown[in.Provider] {
		return workflows.DetectOutput{}, temporal.NewApplicationError(in.Provider+" unavailable", workflows.ErrTypeUnavailable)
	}
	switch {
	case strings.Contains(in.Text, "human"):
		return workflows.DetectOutput{Intent: "handoff.human", Confidence: 0.9}, nil
	case strings.Contains(in.Text, "???"):
		return workflows.DetectOutput{Intent: turn.NoMatch, Reply: "Sorry?"}, nil
	}
	if w.reply != "" {
		return workflows.DetectOutput{Intent: "greeting", Reply: w.reply, Confidence: 0.9}, nil
	}
	return workflows.DetectOutput{Intent: "greeting", Reply: "Hello from " + in.Provider, Confidence: 0.9}, nil
}

func (w *world) send(ctx context.Context, in workflows.SendInput) (workflows.SendOutput, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.attempts = append(w.attempts, in)
	if q := w.failSends[in.Provider]; len(q) > 0 {
		w.failSends[in.Provider] = q[1:]
		return workflows.SendOutput{}, q[0]
	}
	if err := w.sendErr[in.Provider]; err != nil {
		return workflows.SendOutput{}, err
	}
	if r, ok := w.ledger[in.Message.IdempotencyKey]; ok && w.ledger != nil {
		r.Reused = true
		return r, nil
	}
	w.sends = append(w.sends, in)
	r := workflows.SendOutput{MessageID: fmt.Sprintf("%s-%d", in.Provider, len(w.sends))}
	if w.ledger != nil {
		w.ledger[in.Message.IdempotencyKey] = r
	}
	return r, nil
}

func (w *world) publish(ctx context.Context, in workflows.PublishInput) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.published = append(w.published, in.Outcome)
	return nil
}

func (w *world) escalate(ctx context.Context, in workflows.EscalateInput) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.escalated = append(w.escalated, in.Escalation)
	return nil
}

func newEnv(t *testing.T, w *world) *testsuite.TestWorkflowEnvironment {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.RegisterWorkflowWithOptions(workflows.ConversationWorkflow, workflow.RegisterOptions{Name: workflows.WorkflowName})
	env.RegisterActivityWithOptions(w.route, activity.RegisterOptions{Name: workflows.ActivityRoute})
	env.RegisterActivityWithOptions(w.detect, activity.RegisterOptions{Name: workflows.ActivityDetect})
	env.RegisterActivityWithOptions(w.send, activity.RegisterOptions{Name: workflows.ActivitySend})
	env.RegisterActivityWithOptions(w.publish, activity.RegisterOptions{Name: workflows.ActivityPublish})
	env.RegisterActivityWithOptions(w.escalate, activity.RegisterOptions{Name: workflows.ActivityEscalate})
	return env
}

func mkTurn(n int) turn.Turn {
	return turn.Turn{
		ID: fmt.Sprintf("twilio:SM%04d", n), ConversationID: "conv-1", Vendor: turn.VendorTwilio, Channel: turn.ChannelSMS,
		From: "+15551230000", To: "+15550001111", Text: fmt.Sprintf("hello %d", n), ReceivedAt: time.Date(2026, 11, 28, 12, 0, n, 0, time.UTC),
	}
}

// sendTurns delivers turns as updates, one a second from the start, and records
// their results.
func sendTurns(env *testsuite.TestWorkflowEnvironment, results *[]workflows.Accepted, errs *[]error, turns ...turn.Turn) {
	deliver(env, time.Second, results, errs, turns...)
}

// sendTurnsAt delivers turns as updates, one a second from at, ignoring results.
func sendTurnsAt(env *testsuite.TestWorkflowEnvironment, at time.Duration, turns ...turn.Turn) {
	var results []workflows.Accepted
	var errs []error
	deliver(env, at, &results, &errs, turns...)
}

func deliver(env *testsuite.TestWorkflowEnvironment, at time.Duration, results *[]workflows.Accepted, errs *[]error, turns ...turn.Turn) {
	for i, t := range turns {
		env.RegisterDelayedCallback(func() {
			env.UpdateWorkflow(workflows.UpdateTurn, fmt.Sprintf("u-%s-%d", at, i), &testsuite.TestUpdateCallback{
				OnAccept: func() {},
				OnReject: func(err error) { *errs = append(*errs, err) },
				OnComplete: func(v any, err error) {
					if err != nil {
						*errs = append(*errs, err)
						return
					}
					*results = append(*results, v.(workflows.Accepted))
				},
			}, t)
		}, at+time.Duration(i)*time.Second)
	}
}

func transcript(t *testing.T, env *testsuite.TestWorkflowEnvironment) turn.Transcript {
	t.Helper()
	v, err := env.QueryWorkflow(workflows.QueryTranscript)
	require.NoError(t, err)
	var tr turn.Transcript
	require.NoError(t, v.Get(&tr))
	return tr
}

func startState(o workflows.Options) workflows.State {
	return workflows.NewState(mkTurn(0), o)
}

func TestConversation_TurnsAreAnsweredInArrivalOrder(t *testing.T) {
	w := newWorld()
	env := newEnv(t, w)
	var acc []workflows.Accepted
	var errs []error
	sendTurns(env, &acc, &errs, mkTurn(1), mkTurn(2), mkTurn(3))
	env.RegisterDelayedCallback(func() {
		tr := transcript(t, env)
		require.Len(t, tr.Turns, 3)
		for i, o := range tr.Turns {
			require.Equal(t, i+1, o.Seq)
			require.Equal(t, mkTurn(i+1).Text, o.Text)
			require.Equal(t, turn.StatusReplied, o.Status)
			require.Equal(t, "cx-primary", o.NLUProvider)
			require.Equal(t, "twilio", o.CPaaSProvider)
			require.Equal(t, "greeting", o.Intent)
		}
		env.CancelWorkflow()
	}, 10*time.Second)
	env.ExecuteWorkflow(workflows.WorkflowName, startState(workflows.Options{}))
	require.Empty(t, errs)
	require.Equal(t, []workflows.Accepted{{Seq: 1}, {Seq: 2}, {Seq: 3}}, acc)
	require.Len(t, w.sends, 3)
	keys := map[string]bool{}
	for _, s := range w.sends {
		require.Equal(t, "+15551230000", s.Message.To)
		require.Equal(t, "+15550001111", s.Message.From)
		keys[s.Message.IdempotencyKey] = true
	}
	require.Len(t, keys, 3, "every reply carries its own idempotency key")
	require.Len(t, w.published, 3)
}

func TestConversation_DuplicateTurnIsProcessedOnce(t *testing.T) {
	w := newWorld()
	env := newEnv(t, w)
	var acc []workflows.Accepted
	var errs []error
	sendTurns(env, &acc, &errs, mkTurn(1), mkTurn(1), mkTurn(2), mkTurn(1))
	env.RegisterDelayedCallback(func() { env.CancelWorkflow() }, 10*time.Second)
	env.ExecuteWorkflow(workflows.WorkflowName, startState(workflows.Options{}))
	require.Empty(t, errs)
	require.Equal(t, []workflows.Accepted{{Seq: 1}, {Seq: 1, Duplicate: true}, {Seq: 2}, {Seq: 1, Duplicate: true}}, acc)
	require.Len(t, w.sends, 2)
}

func TestConversation_TurnOfAnotherConversationIsRejected(t *testing.T) {
	w := newWorld()
	env := newEnv(t, w)
	var acc []workflows.Accepted
	var errs []error
	other := mkTurn(1)
	other.ConversationID = "conv-2"
	bad := mkTurn(2)
	bad.Text = ""
	sendTurns(env, &acc, &errs, other, bad)
	env.RegisterDelayedCallback(func() { env.CancelWorkflow() }, 10*time.Second)
	env.ExecuteWorkflow(workflows.WorkflowName, startState(workflows.Options{}))
	require.Len(t, errs, 2)
	require.ErrorContains(t, errs[0], "belongs to conversation conv-2")
	require.ErrorContains(t, errs[1], "text is required")
	require.Empty(t, w.sends)
}

func TestConversation_PrimaryNLUDown_AnsweredBySecondary(t *testing.T) {
	w := newWorld()
	w.nluDown["cx-primary"] = true
	env := newEnv(t, w)
	var acc []workflows.Accepted
	var errs []error
	sendTurns(env, &acc, &errs, mkTurn(1))
	env.RegisterDelayedCallback(func() {
		tr := transcript(t, env)
		require.Len(t, tr.Turns, 1)
		require.Equal(t, "cx-secondary", tr.Turns[0].NLUProvider)
		require.Equal(t, "Hello from cx-secondary", tr.Turns[0].Reply)
		env.CancelWorkflow()
	}, 10*time.Second)
	env.ExecuteWorkflow(workflows.WorkflowName, startState(workflows.Options{}))
	// Two attempts on the primary (its retry policy), then one on the secondary.
	require.Equal(t, []string{"cx-primary", "cx-primary", "cx-secondary"}, w.detects)
}

func TestConversation_EveryNLUDown_CustomerGetsTheFallbackReply(t *testing.T) {
	w := newWorld()
	w.nluDown["cx-primary"], w.nluDown["cx-secondary"] = true, true
	env := newEnv(t, w)
	var acc []workflows.Accepted
	var errs []error
	sendTurns(env, &acc, &errs, mkTurn(1))
	env.RegisterDelayedCallback(func() { env.CancelWorkflow() }, 20*time.Second)
	env.ExecuteWorkflow(workflows.WorkflowName, startState(workflows.Options{}))
	require.Len(t, w.sends, 1)
	require.Equal(t, "Sorry, we are having trouble. Please try again shortly.", w.sends[0].Message.Body)
	require.Equal(t, "fallback", w.published[0].NLUProvider)
}

func TestConversation_TwilioUnavailable_ReplyLeavesThroughVonage(t *testing.T) {
	w := newWorld()
	w.sendErr["twilio"] = temporal.NewApplicationError("twilio unavailable", workflows.ErrTypeUnavailable)
	env := newEnv(t, w)
	var acc []workflows.Accepted
	var errs []error
	sendTurns(env, &acc, &errs, mkTurn(1))
	env.RegisterDelayedCallback(func() { env.CancelWorkflow() }, 20*time.Second)
	env.ExecuteWorkflow(workflows.WorkflowName, startState(workflows.Options{}))
	require.Len(t, w.sends, 1)
	require.Equal(t, "vonage", w.sends[0].Provider)
	require.Equal(t, "+15550009999", w.sends[0].Message.From)
	require.Equal(t, "vonage", w.published[0].CPaaSProvider)
}

func TestConversation_PermanentSendError_DoesNotFailOver(t *testing.T) {
	w := newWorld()
	w.sendErr["twilio"] = temporal.NewNonRetryableApplicationError("invalid 'To' number", workflows.ErrTypeRejected, errors.New("21211"))
	env := newEnv(t, w)
	var acc []workflows.Accepted
	var errs []error
	sendTurns(env, &acc, &errs, mkTurn(1))
	env.RegisterDelayedCallback(func() { env.CancelWorkflow() }, 10*time.Second)
	env.ExecuteWorkflow(workflows.WorkflowName, startState(workflows.Options{}))
	require.Empty(t, w.sends, "vonage must not be tried after a permanent rejection")
	require.Len(t, w.published, 1)
	require.Equal(t, turn.StatusFailed, w.published[0].Status)
	require.Contains(t, w.published[0].Reason, "invalid 'To' number")
}

func TestConversation_ContinuesAsNewWithItsState(t *testing.T) {
	w := newWorld()
	env := newEnv(t, w)
	var acc []workflows.Accepted
	var errs []error
	sendTurns(env, &acc, &errs, mkTurn(1), mkTurn(2), mkTurn(3))
	env.ExecuteWorkflow(workflows.WorkflowName, startState(workflows.Options{MaxTurnsPerRun: 3}))
	err := env.GetWorkflowError()
	var can *workflow.ContinueAsNewError
	require.ErrorAs(t, err, &can)
	var next workflows.State
	require.NoError(t, converter.GetDefaultDataConverter().FromPayloads(can.Input, &next))
	require.Equal(t, 3, next.Seq)
	require.Len(t, next.Transcript, 3)
	require.Equal(t, []string{"twilio:SM0001", "twilio:SM0002", "twilio:SM0003"}, next.Recent)
	require.Empty(t, next.Pending)
}

func TestConversation_IdleConversationCloses(t *testing.T) {
	w := newWorld()
	env := newEnv(t, w)
	var acc []workflows.Accepted
	var errs []error
	sendTurns(env, &acc, &errs, mkTurn(1))
	env.ExecuteWorkflow(workflows.WorkflowName, startState(workflows.Options{IdleTimeout: time.Hour}))
	require.True(t, env.IsWorkflowCompleted())
	require.NoError(t, env.GetWorkflowError())
	require.Len(t, w.sends, 1)
	tr := transcript(t, env)
	require.Equal(t, workflows.StatusClosed, tr.Status)
}
