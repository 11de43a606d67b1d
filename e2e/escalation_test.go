package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"

	"github.com/switchboard-cc/switchboard/internal/testmsg"
	"github.com/switchboard-cc/switchboard/internal/turn"
	"github.com/switchboard-cc/switchboard/providers/fake"
)

func postJSON(t *testing.T, url string, body any) (int, map[string]any) {
	t.Helper()
	b, _ := json.Marshal(body)
	resp, err := http.Post(url, "application/json", bytes.NewReader(b))
	require.NoError(t, err)
	defer resp.Body.Close()
	var m map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&m)
	return resp.StatusCode, m
}

func TestEverythingDown_TheCustomerHearsSomething_AndAHumanTakesOver(t *testing.T) {
	s := startStack(t, "")
	for _, p := range []string{"cx-global", "cx-europe", "llm"} {
		s.fault(t, fake.Fault{Provider: p, Mode: fake.ModeDown})
	}
	customer := "+15557600001"
	conv := turn.ConversationID("twilio", "sms", customer, business)
	// The local NLU has no match for this: canned reply, then escalation.
	code, _, _ := s.send(t, testmsg.Message{Vendor: "twilio", From: customer, To: business, Text: "my blender exploded"})
	require.Equal(t, http.StatusOK, code)
	sent := s.waitOutbox(t, customer, 1)
	require.Contains(t, sent[0].Body, "technical difficulties", "the customer always hears something")

	tr := s.transcript(t, conv)
	require.Equal(t, turn.StatusEscalated, tr.Turns[0].Status)
	require.Equal(t, "waiting_human", tr.Status)
	require.NotNil(t, tr.Escalation)
	require.Equal(t, "tier1", tr.Escalation.Queue)

	// An agent claims it from the queue, acknowledges, answers and hands back.
	code, m := postJSON(t, s.API+"/v1/queues/tier1/claim", map[string]string{"agent": "ann"})
	require.Equal(t, http.StatusOK, code, m)
	require.Equal(t, tr.Escalation.ID, m["id"])
	require.Equal(t, "claimed", m["state"])
	code, _ = postJSON(t, s.API+"/v1/queues/tier1/claim", map[string]string{"agent": "bob"})
	require.Equal(t, http.StatusNotFound, code, "the queue is empty once claimed")

	esc := map[string]string{"escalation_id": tr.Escalation.ID, "agent": "ann"}
	code, m = postJSON(t, s.API+"/v1/conversations/"+conv+"/escalation/ack", esc)
	require.Equal(t, http.StatusOK, code, m)
	require.Equal(t, "acknowledged", m["state"])

	code, _, _ = s.send(t, testmsg.Message{Vendor: "twilio", From: customer, To: business, Text: "hello?"})
	require.Equal(t, http.StatusOK, code)

	code, m = postJSON(t, s.API+"/v1/conversations/"+conv+"/escalation/reply", map[string]string{"escalation_id": tr.Escalation.ID, "agent": "ann", "text": "Hi, this is Ann. I'm sorry about your blender."})
	require.Equal(t, http.StatusOK, code, m)
	sent = s.waitOutbox(t, customer, 2)
	require.Equal(t, "Hi, this is Ann. I'm sorry about your blender.", sent[1].Body)

	code, m = postJSON(t, s.API+"/v1/conversations/"+conv+"/escalation/resolve", esc)
	require.Equal(t, http.StatusOK, code, m)
	require.Equal(t, "resolved", m["state"], "resolve answers the state it left the escalation in")
	code, m = postJSON(t, s.API+"/v1/conversations/"+conv+"/escalation/ack", esc)
	require.Equal(t, http.StatusConflict, code, "a resolved escalation takes no more actions: %v", m)

	tr = s.transcript(t, conv)
	require.Equal(t, "active", tr.Status)
	require.Nil(t, tr.Escalation)
	require.Len(t, tr.Turns, 2)
	require.Equal(t, turn.StatusForwarded, tr.Turns[1].Status, "while a human had it, the bot stayed quiet")

	// The memo no longer says queued, and the history reads as the failover.
	tc, err := client.Dial(client.Options{HostPort: s.Temporal})
	require.NoError(t, err)
	defer tc.Close()
	dc := converter.GetDefaultDataConverter()
	d, err := tc.DescribeWorkflowExecution(context.Background(), turn.WorkflowID(conv), "")
	require.NoError(t, err)
	var memoEsc string
	require.NoError(t, dc.FromPayload(d.GetWorkflowExecutionInfo().GetMemo().GetFields()["escalation"], &memoEsc))
	require.Contains(t, memoEsc, "resolved by ann")
	var rows []string
	it := tc.GetWorkflowHistory(context.Background(), turn.WorkflowID(conv), "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		ev, err := it.Next()
		require.NoError(t, err)
		if p := ev.GetUserMetadata().GetSummary(); p != nil {
			var sum string
			require.NoError(t, dc.FromPayload(p, &sum))
			rows = append(rows, sum)
		}
	}
	// cx-europe ran as a hedge of cx-global: its row says so, after the hedge delay.
	require.Subset(t, rows, []string{"Detect · cx-global · attempt 1", "Send · twilio · attempt 1"}, "%q", rows)
	require.True(t, slices.ContainsFunc(rows, func(r string) bool {
		return strings.HasPrefix(r, "Detect · cx-europe · attempt 2 · hedge of 1 after ")
	}), "%q", rows)
	require.Len(t, sentTo(s.Outbox, customer), 2)
	require.Contains(t, scrape(t, s.API), `switchboard_escalations_total{outcome="queued"} 1`)

	// Visibility lists waiting escalations by queue; none is left.
	require.Eventually(t, func() bool {
		resp, err := http.Get(s.API + "/v1/queues/tier1/escalations")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		var body struct{ Escalations []any }
		return json.NewDecoder(resp.Body).Decode(&body) == nil && len(body.Escalations) == 0
	}, 10*time.Second, 200*time.Millisecond)
}

func TestHandoffIntent_EscalatesWithTheEscalatingReply(t *testing.T) {
	s := startStack(t, "")
	customer := "+15557600002"
	o := s.turnVia(t, customer, "talk to a human")
	require.Equal(t, "handoff.human", o.Intent)
	require.Equal(t, turn.StatusEscalated, o.Status)
	tr := s.transcript(t, turn.ConversationID("twilio", "sms", customer, business))
	require.Equal(t, "waiting_human", tr.Status)
	require.Contains(t, tr.Escalation.Reason, "asked for a human")

	// Ops see the state in the workflow list without opening the history.
	c, err := client.Dial(client.Options{HostPort: s.Temporal})
	require.NoError(t, err)
	defer c.Close()
	d, err := c.DescribeWorkflowExecution(context.Background(), turn.WorkflowID(tr.ConversationID), "")
	require.NoError(t, err)
	var intent, escalation string
	dc := converter.GetDefaultDataConverter()
	require.NoError(t, dc.FromPayload(d.GetWorkflowExecutionInfo().GetMemo().GetFields()["last_intent"], &intent))
	require.NoError(t, dc.FromPayload(d.GetWorkflowExecutionInfo().GetMemo().GetFields()["escalation"], &escalation))
	require.Equal(t, "handoff.human", intent)
	require.Contains(t, escalation, "queued in tier1")
}
