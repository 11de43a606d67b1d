package e2e

import (
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/switchboard-cc/switchboard/internal/testmsg"
	"github.com/switchboard-cc/switchboard/internal/turn"
	"github.com/switchboard-cc/switchboard/providers/fake"
	"github.com/switchboard-cc/switchboard/providers/routing"
	"github.com/switchboard-cc/switchboard/workers"
	"github.com/switchboard-cc/switchboard/workflows"
)

// The dev policy's canary: business corner-store (+15550001000 on Twilio), channel
// sms, customer +15559990000.
const canaryCustomer = "+15559990000"

// stackHealth calls GET /v1/health/stack and decodes the report.
func (s *stack) stackHealth(t *testing.T) (int, turn.CanaryReport) {
	t.Helper()
	resp, err := http.Get(s.API + "/v1/health/stack")
	require.NoError(t, err)
	defer resp.Body.Close()
	var rep turn.CanaryReport
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&rep))
	return resp.StatusCode, rep
}

func TestCanary_StackHealthRunsATurnThroughEveryHop_FeedsBreakers_AndIsScheduled(t *testing.T) {
	dir := t.TempDir()
	s := startStack(t, dir)
	ctx := t.Context()

	// Ops only.
	for token, want := range map[string]int{"": http.StatusUnauthorized, agentToken: http.StatusForbidden} {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.API+"/v1/health/stack", nil)
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+token)
		code, _, _ := do(t, req, "")
		require.Equal(t, want, code)
	}

	// A healthy stack: every hop OK, through the channel's first providers.
	code, rep := s.stackHealth(t)
	require.Equal(t, http.StatusOK, code, "%+v", rep)
	require.True(t, rep.OK, rep.Error)
	require.Empty(t, rep.Error)
	require.True(t, turn.IsCanaryTurn(rep.TurnID), rep.TurnID)
	require.Equal(t, "corner-store", rep.Business)
	require.Equal(t, business, rep.To)
	require.Equal(t, canaryCustomer, rep.Customer)
	require.Equal(t, "sms", rep.Channel)
	require.Equal(t, "replied", rep.Status)
	for _, h := range rep.Hops.All() {
		require.True(t, h.OK, "%s: %s", h.Name, h.Error)
		require.Positive(t, h.LatencyMS, h.Name)
		require.False(t, h.Degraded, h.Name)
		require.LessOrEqual(t, h.LatencyMS, rep.TotalMS, h.Name)
	}
	require.Equal(t, "cx-global", rep.Hops.NLU.Provider)
	require.Equal(t, "twilio", rep.Hops.CPaaS.Provider)
	sent := s.waitOutbox(t, canaryCustomer, 1)
	require.Equal(t, "twilio", sent[0].Vendor)
	require.Equal(t, business, sent[0].From)

	// A second run is a new turn of the same long-lived conversation.
	code, rep2 := s.stackHealth(t)
	require.Equal(t, http.StatusOK, code, rep2.Error)
	require.NotEqual(t, rep.TurnID, rep2.TurnID)
	require.Equal(t, rep.ConversationID, rep2.ConversationID)
	tr := s.transcript(t, rep.ConversationID)
	require.GreaterOrEqual(t, len(tr.Turns), 2)
	require.Equal(t, canaryCustomer, tr.Customer)

	// The schedule exists as wanted, and a run of it reports a healthy stack.
	tc, err := client.Dial(client.Options{HostPort: s.Temporal})
	require.NoError(t, err)
	defer tc.Close()
	sched := tc.ScheduleClient().GetHandle(ctx, turn.CanaryScheduleID)
	var desc *client.ScheduleDescription
	require.Eventually(t, func() bool {
		desc, err = sched.Describe(ctx)
		return err == nil
	}, 20*time.Second, 100*time.Millisecond, "schedule %s not created: %v", turn.CanaryScheduleID, err)
	require.Len(t, desc.Schedule.Spec.Intervals, 1)
	require.Equal(t, time.Minute, desc.Schedule.Spec.Intervals[0].Every)
	require.Equal(t, enumspb.SCHEDULE_OVERLAP_POLICY_SKIP, desc.Schedule.Policy.Overlap)
	action, ok := desc.Schedule.Action.(*client.ScheduleWorkflowAction)
	require.True(t, ok, "%T", desc.Schedule.Action)
	require.Equal(t, workflows.CanaryWorkflowName, action.Workflow)
	require.Equal(t, "switchboard-conversations", action.TaskQueue)
	require.False(t, desc.Schedule.State.Paused)

	// Ensuring it again (every worker does at start) changes nothing; a schedule
	// changed by hand is brought back to the wanted spec, and an operator's pause is
	// kept.
	require.NoError(t, workers.EnsureCanarySchedule(ctx, tc, "switchboard-conversations"))
	again, err := sched.Describe(ctx)
	require.NoError(t, err)
	require.Equal(t, desc.Info.LastUpdateAt, again.Info.LastUpdateAt, "an up-to-date schedule is not rewritten")
	require.NoError(t, sched.Update(ctx, client.ScheduleUpdateOptions{DoUpdate: func(in client.ScheduleUpdateInput) (*client.ScheduleUpdate, error) {
		in.Description.Schedule.Spec = &client.ScheduleSpec{Intervals: []client.ScheduleIntervalSpec{{Every: time.Hour}}}
		in.Description.Schedule.State.Paused = true
		return &client.ScheduleUpdate{Schedule: &in.Description.Schedule}, nil
	}}))
	require.NoError(t, workers.EnsureCanarySchedule(ctx, tc, "switchboard-conversations"))
	again, err = sched.Describe(ctx)
	require.NoError(t, err)
	require.Equal(t, time.Minute, again.Schedule.Spec.Intervals[0].Every)
	require.True(t, again.Schedule.State.Paused)
	require.NoError(t, sched.Unpause(ctx, client.ScheduleUnpauseOptions{}))

	run := triggerCanary(t, tc, sched)
	var scheduled turn.CanaryReport
	require.NoError(t, run.Get(ctx, &scheduled))
	require.True(t, scheduled.OK, scheduled.Error)
	require.Equal(t, "cx-global", scheduled.Hops.NLU.Provider)
	require.Regexp(t, `switchboard_canary_runs_total\{result="ok"\} [1-9]`, scrape(t, s.API))

	// Both Dialogflow CX regions down: the LLM answers. The stack still serves
	// customers, so the canary passes, but says the NLU hop is degraded.
	for _, p := range []string{"cx-global", "cx-europe"} {
		s.fault(t, fake.Fault{Provider: p, Mode: fake.ModeDown})
	}
	code, rep = s.stackHealth(t)
	require.Equal(t, http.StatusOK, code, rep.Error)
	require.True(t, rep.Hops.NLU.OK)
	require.Equal(t, "llm", rep.Hops.NLU.Provider)
	require.True(t, rep.Hops.NLU.Degraded)
	require.Contains(t, rep.Hops.NLU.Note, "cx-global")

	// Every remote NLU down: only the local NLU answers. The NLU hop fails, the
	// endpoint answers 503, the reply still goes out, and nobody is escalated to.
	s.fault(t, fake.Fault{Provider: "llm", Mode: fake.ModeDown})
	code, rep = s.stackHealth(t)
	require.Equal(t, http.StatusServiceUnavailable, code)
	require.False(t, rep.OK)
	require.False(t, rep.Hops.NLU.OK)
	require.Equal(t, "local", rep.Hops.NLU.Provider)
	require.Contains(t, rep.Hops.NLU.Error, "local NLU")
	require.Contains(t, rep.Error, "nlu:")
	require.True(t, rep.Hops.JetStream.OK)
	require.True(t, rep.Hops.Bridge.OK)
	require.True(t, rep.Hops.CPaaS.OK, rep.Hops.CPaaS.Error)

	// The canary's failed attempts went through the providers' breakers: with no
	// customer traffic at all, the dead CX regions are out of rotation.
	for _, p := range []string{"cx-global", "cx-europe"} {
		require.Equal(t, "open", providerState(t, s.API, p).State, p)
	}

	// A scheduled run now fails, with the report in the failure, and counts the
	// failed hop.
	run = triggerCanary(t, tc, sched)
	err = run.Get(ctx, nil)
	var appErr *temporal.ApplicationError
	require.True(t, errors.As(err, &appErr), "%v", err)
	require.Equal(t, workflows.ErrTypeCanaryFailed, appErr.Type())
	var failed turn.CanaryReport
	require.NoError(t, appErr.Details(&failed))
	require.False(t, failed.Hops.NLU.OK)
	require.Equal(t, "local", failed.Hops.NLU.Provider)
	m := scrape(t, s.API)
	require.Regexp(t, `switchboard_canary_runs_total\{result="failed"\} [1-9]`, m)
	require.Regexp(t, `switchboard_canary_hop_failures_total\{hop="nlu"\} [1-9]`, m)
	require.Contains(t, m, `switchboard_canary_hop_failures_total{hop="cpaas"} 0`)

	// The canary never escalated, its turns are not counted as customer turns, and
	// every reply went to the canary's own number.
	require.NotContains(t, m, "switchboard_escalations_total{")
	require.NotContains(t, m, "switchboard_turns_processed_total{")
	tr = s.transcript(t, rep.ConversationID)
	require.Nil(t, tr.Escalation)
	require.Nil(t, tr.Stuck)
	require.NotEqual(t, "waiting_human", tr.Status)
	for _, o := range tr.Turns {
		// o.Escalation may say why a customer's turn would have escalated (the
		// text were a no-match); the canary's never does.
		require.Equal(t, "replied", o.Status, "turn %s", o.TurnID)
	}
	sent = sentTo(s.Outbox, canaryCustomer)
	require.GreaterOrEqual(t, len(sent), 6)
	require.Len(t, s.Outbox.List(), len(sent), "the canary wrote to nobody else")

	// Without a canary section the endpoint says so, and scheduled runs are skipped.
	path := filepath.Join(dir, "policy.yaml")
	pol, err := os.ReadFile(path)
	require.NoError(t, err)
	at := strings.Index(string(pol), "\ncanary:")
	require.Positive(t, at)
	require.NoError(t, os.WriteFile(path, pol[:at+1], 0o600))
	_, err = routing.Parse(pol[:at+1])
	require.NoError(t, err)
	// Wait for the reload without running canaries: each is a burst of writes in the
	// data dir, which holds the policy and postpones its reload.
	require.Eventually(t, func() bool {
		return strings.Contains(scrape(t, s.API), `switchboard_policy_reloads_total{result="ok"} 1`)
	}, 10*time.Second, 100*time.Millisecond)
	resp, err := http.Get(s.API + "/v1/health/stack")
	require.NoError(t, err)
	defer resp.Body.Close()
	var body map[string]string
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&body))
	require.Equal(t, http.StatusNotImplemented, resp.StatusCode, body)
	require.Contains(t, body["error"], "no canary configured in the policy")
	run = triggerCanary(t, tc, sched)
	var skipped turn.CanaryReport
	require.NoError(t, run.Get(ctx, &skipped))
	require.Contains(t, skipped.Skipped, "no canary configured")
	require.Regexp(t, `switchboard_canary_runs_total\{result="skipped"\} [1-9]`, scrape(t, s.API))
}

// triggerCanary triggers the canary schedule and returns the run it started.
func triggerCanary(t *testing.T, tc client.Client, sched client.ScheduleHandle) client.WorkflowRun {
	t.Helper()
	ctx := t.Context()
	desc, err := sched.Describe(ctx)
	require.NoError(t, err)
	before := desc.Info.NumActions
	require.NoError(t, sched.Trigger(ctx, client.ScheduleTriggerOptions{Overlap: enumspb.SCHEDULE_OVERLAP_POLICY_ALLOW_ALL}))
	require.Eventually(t, func() bool {
		desc, err = sched.Describe(ctx)
		return err == nil && desc.Info.NumActions > before && len(desc.Info.RecentActions) > 0
	}, 20*time.Second, 100*time.Millisecond, "the schedule took no action: %v", err)
	last := desc.Info.RecentActions[len(desc.Info.RecentActions)-1].StartWorkflowResult
	require.NotNil(t, last)
	return tc.GetWorkflow(ctx, last.WorkflowID, last.FirstExecutionRunID)
}

// Issue 12, item 9: after 13 minutes of dev, 14 of 20 workflows in the UI were canary
// runs. The canary's workflows (the scheduled runs and its conversation) carry
// SwitchboardCanary=true, so the README's UI query `SwitchboardCanary IS NULL` hides
// them and keeps the customers'.
func TestCanary_ItsWorkflowsCarrySwitchboardCanary_SoTheUICanHideThem(t *testing.T) {
	s := startStack(t, "")
	ctx := t.Context()
	code, rep := s.stackHealth(t)
	require.Equal(t, http.StatusOK, code, rep.Error)
	customer := "+15558880077"
	code, body, _ := s.send(t, testmsg.Message{Vendor: "twilio", From: customer, To: business, Text: "where is my order"})
	require.Equal(t, http.StatusOK, code, body)
	s.waitOutbox(t, customer, 1)

	tc, err := client.Dial(client.Options{HostPort: s.Temporal})
	require.NoError(t, err)
	defer tc.Close()
	sched := tc.ScheduleClient().GetHandle(ctx, turn.CanaryScheduleID)
	require.Eventually(t, func() bool { _, err = sched.Describe(ctx); return err == nil }, 20*time.Second, 100*time.Millisecond, "no schedule: %v", err)
	desc, err := sched.Describe(ctx)
	require.NoError(t, err)
	action := desc.Schedule.Action.(*client.ScheduleWorkflowAction)
	tagged, ok := action.TypedSearchAttributes.GetBool(workflows.SACanary)
	require.True(t, ok && tagged, "the schedule's action has no SwitchboardCanary=true")
	run := triggerCanary(t, tc, sched)
	var scheduled turn.CanaryReport
	require.NoError(t, run.Get(ctx, &scheduled))

	canaryIDs := []string{run.GetID(), turn.WorkflowID(rep.ConversationID)}
	customerID := turn.WorkflowID(turn.ConversationID(turn.VendorTwilio, turn.ChannelSMS, customer, business))
	list := func(query string) []string {
		resp, err := tc.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Query: query})
		if err != nil {
			return []string{"error: " + err.Error()}
		}
		var ids []string
		for _, e := range resp.GetExecutions() {
			ids = append(ids, e.GetExecution().GetWorkflowId())
		}
		return ids
	}
	// Visibility lags a little: wait for the lists to say what they should.
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		shown := list("SwitchboardCanary = true")
		hidden := list("SwitchboardCanary IS NULL")
		for _, id := range canaryIDs {
			assert.Contains(ct, shown, id)
			assert.NotContains(ct, hidden, id)
		}
		assert.Contains(ct, hidden, customerID)
		assert.NotContains(ct, shown, customerID)
	}, 20*time.Second, 100*time.Millisecond)
}
