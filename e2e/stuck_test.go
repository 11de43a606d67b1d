package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-cc/switchboard/internal/devstack/devtemporal"
	"github.com/switchboard-cc/switchboard/internal/testmsg"
	"github.com/switchboard-cc/switchboard/internal/turn"
	"github.com/switchboard-cc/switchboard/providers/fake"
)

// stuckList reads GET /v1/conversations?status=stuck.
func stuckList(t *testing.T, api string) (int, []turn.Stuck, []string) {
	t.Helper()
	resp, err := http.Get(api + "/v1/conversations?status=stuck")
	require.NoError(t, err)
	defer resp.Body.Close()
	var body struct {
		Conversations []turn.Stuck `json:"conversations"`
		Problems      []string     `json:"problems"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&body))
	return resp.StatusCode, body.Conversations, body.Problems
}

func findStuck(list []turn.Stuck, id string) *turn.Stuck {
	for i := range list {
		if list[i].ConversationID == id {
			return &list[i]
		}
	}
	return nil
}

// replayConversation calls POST /v1/conversations/{id}/replay.
func replayConversation(t *testing.T, api, id string, dryRun bool) (int, turn.ReplayReport) {
	t.Helper()
	url := api + "/v1/conversations/" + id + "/replay"
	if dryRun {
		url += "?dry_run=true"
	}
	resp, err := http.Post(url, "application/json", nil)
	require.NoError(t, err)
	defer resp.Body.Close()
	var rep turn.ReplayReport
	_ = json.NewDecoder(resp.Body).Decode(&rep)
	return resp.StatusCode, rep
}

// Every CPaaS vendor is down when a turn is answered: the reply cannot leave. The
// conversation shows stuck, is listed, and once the vendors are back a replay sends
// the reply exactly once; a second replay finds nothing to do.
func TestStuck_UnsentReply_IsListed_AndReplayedExactlyOnce(t *testing.T) {
	s := startStack(t, "")
	customer := "+15558100001"
	conv := turn.ConversationID("twilio", "sms", customer, business)
	s.fault(t, fake.Fault{Provider: "twilio", Mode: fake.ModeDown})
	s.fault(t, fake.Fault{Provider: "vonage", Mode: fake.ModeDown})
	code, body, sid := s.send(t, testmsg.Message{Vendor: "twilio", From: customer, To: business, Text: "when are you open"})
	require.Equal(t, http.StatusOK, code, body)
	turnID := turn.ID("twilio", sid)

	var tr turn.Transcript
	require.Eventually(t, func() bool {
		resp, err := http.Get(s.API + "/v1/conversations/" + conv)
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		tr = turn.Transcript{}
		return resp.StatusCode == http.StatusOK && json.NewDecoder(resp.Body).Decode(&tr) == nil && tr.Status == "stuck"
	}, 30*time.Second, 200*time.Millisecond, "the conversation reports itself stuck")
	require.Equal(t, turn.StatusFailed, tr.Turns[0].Status)
	require.Equal(t, turn.StuckUnanswered, tr.Stuck.Reasons[0].Source)
	require.Equal(t, []string{turnID}, tr.Stuck.Reasons[0].Turns)

	var listed *turn.Stuck
	require.Eventually(t, func() bool {
		code, list, _ := stuckList(t, s.API)
		listed = findStuck(list, conv)
		return code == http.StatusOK && listed != nil
	}, 15*time.Second, 200*time.Millisecond, "GET /v1/conversations?status=stuck lists it (Temporal visibility)")
	require.Equal(t, turn.StuckUnanswered, listed.Reasons[0].Source)

	code, rep := replayConversation(t, s.API, conv, true)
	require.Equal(t, http.StatusOK, code, rep)
	require.True(t, rep.DryRun)
	require.Equal(t, []string{turnID}, rep.Resend)
	require.Empty(t, sentTo(s.Outbox, customer), "a dry run sends nothing")

	s.fault(t, fake.Fault{Provider: "twilio", Mode: fake.ModeOK})
	s.fault(t, fake.Fault{Provider: "vonage", Mode: fake.ModeOK})
	code, rep = replayConversation(t, s.API, conv, false)
	require.Equal(t, http.StatusOK, code, rep)
	require.Len(t, rep.Resent, 1)
	require.Equal(t, turn.StatusReplied, rep.Resent[0].Status)
	require.True(t, rep.Resent[0].Replayed)
	sent := s.waitOutbox(t, customer, 1)
	require.Contains(t, sent[0].Body, "open Monday")

	code, _ = replayConversation(t, s.API, conv, false)
	require.Equal(t, http.StatusConflict, code, "nothing is left to replay")
	// Count once nothing could still send: the workflow records the turn as replied
	// with the message the customer got, and neither JetStream nor the send ledger
	// holds anything in flight (the redrive sends only what is unanswered, and only
	// through the ledger).
	require.Eventually(t, func() bool {
		tr, ok := s.tryTranscript(conv)
		if !ok || tr.Pending != 0 || tr.Stuck != nil {
			return false
		}
		var replied []turn.Outcome
		for _, o := range tr.Turns {
			if o.Status == turn.StatusReplied {
				replied = append(replied, o)
			}
		}
		return len(replied) == 1 && replied[0].Replayed && replied[0].MessageID == sent[0].MessageID
	}, 30*time.Second, 100*time.Millisecond, "the turn is settled as replied by the replay's message")
	require.True(t, quiet(t, s.NATS, 30*time.Second)[sent[0].MessageID], "the send ledger records the replay's message")
	require.Len(t, sentTo(s.Outbox, customer), 1, "exactly one reply")

	tr = s.transcript(t, conv)
	require.Nil(t, tr.Stuck)
	// Since b964b8d a replay that delivers what the outage held back closes the
	// escalation the outage opened, while no agent took it.
	require.Nil(t, tr.Escalation, "the escalation the outage opened is closed once its reply reached the customer")
	require.Equal(t, "active", tr.Status)
	require.Eventually(t, func() bool {
		_, list, _ := stuckList(t, s.API)
		return findStuck(list, conv) == nil
	}, 15*time.Second, 200*time.Millisecond)
	m := scrape(t, s.API)
	require.Contains(t, m, `switchboard_replays_total{result="replayed"} 1`)
	require.Contains(t, m, `switchboard_stuck_conversations{source="unanswered"}`)
	require.Contains(t, m, `switchboard_turn_hop_seconds_count{hop="nlu"} 1`, "per-hop latency; the replay is not counted again")
	require.Contains(t, m, "temporal_workflow_task_execution_latency_seconds_count{", "the Temporal SDK's own metrics")

	code, _ = replayConversation(t, s.API, "api-nobody-knows-me", false)
	require.Equal(t, http.StatusNotFound, code)
}

// Temporal is down for longer than stuck_after: the turn waits in JetStream, the
// bridge records it as held, the list shows it (and says it is partial), and the
// sweeper's gauge counts it. Once Temporal is back, a replay hands the turn over;
// the bridge's own redelivery races it, and still exactly one reply leaves.
func TestStuck_TurnHeldInJetStream_IsListed_AndReplayedExactlyOnce(t *testing.T) {
	s := startServeStack(t)
	// stuck_after 40s, with no retries so that the slowest possible turn (37 s on
	// whatsapp, each attempt bounded by its timeout and AttemptGrace) is shorter.
	pol, err := os.ReadFile(s.cfg.PolicyFile)
	require.NoError(t, err)
	short := strings.NewReplacer("stuck_after: 2m", "stuck_after: 40s", "  retries: 1\n", "  retries: 0\n").Replace(string(pol))
	require.NoError(t, os.WriteFile(s.cfg.PolicyFile, []byte(short), 0o600))
	require.Eventually(t, func() bool {
		resp, err := http.Get(s.API + "/v1/policy")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		var st map[string]any
		return json.NewDecoder(resp.Body).Decode(&st) == nil && st["error"] == nil && strings.Contains(scrape(t, s.API), `switchboard_policy_reloads_total{result="ok"}`)
	}, 10*time.Second, 100*time.Millisecond)

	customer := "+15558100002"
	conv := turn.ConversationID("twilio", "sms", customer, business)
	require.NoError(t, s.temporal.Stop())
	code, body, sid := s.send(t, testmsg.Message{Vendor: "twilio", From: customer, To: business, Text: "where is my order"})
	require.Equal(t, http.StatusOK, code, body)
	turnID := turn.ID("twilio", sid)

	var listed *turn.Stuck
	require.Eventually(t, func() bool {
		code, list, problems := stuckList(t, s.API)
		listed = findStuck(list, conv)
		return code == http.StatusServiceUnavailable && len(problems) > 0 && listed != nil
	}, 90*time.Second, 500*time.Millisecond, "listed from JetStream while Temporal is down, and the list says it is partial")
	require.Equal(t, turn.StuckJetStream, listed.Reasons[0].Source)
	require.Equal(t, []string{turnID}, listed.Reasons[0].Turns)
	require.Eventually(t, func() bool {
		return strings.Contains(scrape(t, s.API), `switchboard_stuck_conversations{source="jetstream"} 1`)
	}, 30*time.Second, 500*time.Millisecond, "the sweeper counts it")

	code, rep := replayConversation(t, s.API, conv, true)
	require.Equal(t, http.StatusOK, code, rep)
	require.Len(t, rep.Redelivered, 1)
	require.Equal(t, "would_redeliver", rep.Redelivered[0].Result)

	ts, err := devtemporal.Start(context.Background(), s.tcfg)
	require.NoError(t, err)
	s.temporal = ts
	require.Eventually(t, func() bool {
		code, rep = replayConversation(t, s.API, conv, false)
		return code == http.StatusOK || code == http.StatusConflict // the bridge may win the race
	}, 30*time.Second, 500*time.Millisecond)
	if code == http.StatusOK {
		require.Len(t, rep.Redelivered, 1)
		require.Contains(t, []string{"accepted", "duplicate"}, rep.Redelivered[0].Result)
	}
	sent := s.waitOutbox(t, customer, 1)
	require.Contains(t, sent[0].Body, "order")
	// The bridge's own redelivery has come once it handed the turn over (accepted,
	// or a duplicate of the replay's) and JetStream holds nothing unacknowledged;
	// the turn is then settled as replied with the one message sent, and the send
	// ledger holds no claim in flight. Nothing is left that could send again.
	require.Eventually(t, func() bool {
		return counter(t, s.API, `switchboard_bridge_turns_total{result="accepted"}`)+
			counter(t, s.API, `switchboard_bridge_turns_total{result="duplicate"}`) >= 1
	}, 30*time.Second, 200*time.Millisecond, "the bridge handed its redelivery over")
	require.Eventually(t, func() bool {
		tr, ok := s.tryTranscript(conv)
		return ok && tr.Pending == 0 && len(tr.Turns) == 1 && tr.Turns[0].Status == turn.StatusReplied &&
			tr.Turns[0].MessageID == sent[0].MessageID
	}, 30*time.Second, 100*time.Millisecond, "the turn is settled as replied with the message sent")
	require.True(t, quiet(t, s.nats.ClientURL(), 30*time.Second)[sent[0].MessageID], "the send ledger records the message sent")
	require.Len(t, sentTo(s.Outbox, customer), 1, "exactly one reply")
	require.Eventually(t, func() bool {
		code, list, _ := stuckList(t, s.API)
		return code == http.StatusOK && findStuck(list, conv) == nil
	}, 30*time.Second, 500*time.Millisecond)
	tr := s.transcript(t, conv)
	require.Len(t, tr.Turns, 1)
	require.Nil(t, tr.Stuck)
}
