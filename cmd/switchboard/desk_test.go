package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-cc/switchboard/internal/conversations"
	"github.com/switchboard-cc/switchboard/internal/turn"
)

const cliConv = "twilio-sms-2f6c0e1d7a9b41c0d3e5"

// fakeDeskAPI answers as the API would for the tour's conversation and desk calls,
// and records what it was asked.
func fakeDeskAPI(t *testing.T) (*httptest.Server, func() []string) {
	t.Helper()
	var mu sync.Mutex
	var calls []string
	esc := turn.Escalation{ID: cliConv + "/esc-1", ConversationID: cliConv, Customer: "+15551230001", Queue: "tier1",
		State: turn.EscalationQueued, Reason: "customer asked for a human (agent.handoff)", LastText: "talk to a human"}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		calls = append(calls, r.Method+" "+r.URL.RequestURI()+" "+strings.TrimSpace(string(body)))
		mu.Unlock()
		if r.Header.Get("Authorization") != "Bearer agent-token-for-the-cli-test" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		var req struct{ Agent, Text string }
		_ = json.Unmarshal(body, &req)
		enc := json.NewEncoder(w)
		switch {
		case r.URL.Path == "/v1/conversations" && r.URL.Query().Get("customer") == "" && r.URL.Query().Get("status") == "":
			at := time.Date(2026, 12, 3, 13, 1, 2, 0, time.UTC)
			_ = enc.Encode(map[string]any{"conversations": []conversations.Summary{{ConversationID: cliConv, Status: "active", Channel: "sms", Turns: 1, LastTurnAt: &at}}})
		case r.URL.Path == "/v1/conversations/"+cliConv:
			_ = enc.Encode(turn.Transcript{ConversationID: cliConv, Vendor: "twilio", Channel: "sms", Customer: "+15551230001", Business: "+15550001000", Status: "active",
				Turns: []turn.Outcome{{Seq: 1, Text: "where is my order", Intent: "order.status", NLUProvider: "cx-europe", NLUDuration: 12 * time.Millisecond,
					CPaaSProvider: "vonage", Reply: "It ships today.", Status: turn.StatusReplied,
					Failover: []turn.FailedAttempt{{Step: "nlu", Provider: "cx-global", Error: "cx-global: unavailable (status 503)"}, {Step: "cpaas", Provider: "twilio", Error: "twilio: unavailable (status 503)"}},
					Hedged:   []turn.FailedAttempt{{Step: "nlu", Provider: "llm", Error: "cancelled: no answer within 40ms, cx-europe answered first"}}}}})
		case r.URL.Path == "/v1/queues/tier1/escalations":
			_ = enc.Encode(map[string]any{"escalations": []turn.Escalation{esc}})
		case r.URL.Path == "/v1/queues/tier1/claim":
			e := esc
			e.State, e.Agent = turn.EscalationClaimed, req.Agent
			_ = enc.Encode(e)
		case r.URL.Path == "/v1/conversations/"+cliConv+"/escalation/reply":
			e := esc
			e.State, e.Agent = turn.EscalationAcknowledged, req.Agent
			_ = enc.Encode(e)
		case r.URL.Path == "/v1/conversations/"+cliConv+"/escalation/resolve":
			e := esc
			e.State, e.Agent = turn.EscalationResolved, req.Agent
			_ = enc.Encode(e)
		default:
			w.WriteHeader(http.StatusNotFound)
			_ = enc.Encode(map[string]string{"error": "not found"})
		}
	}))
	t.Cleanup(srv.Close)
	return srv, func() []string { mu.Lock(); defer mu.Unlock(); return append([]string(nil), calls...) }
}

func TestTourWithoutCurl_ListShowAndTheDesk(t *testing.T) {
	srv, calls := fakeDeskAPI(t)
	base := []string{"--api", srv.URL, "--token", "agent-token-for-the-cli-test"}

	// No flags: the most recent conversations, with a limit.
	out, err := runCLI(t, append([]string{"conversations", "list"}, base...)...)
	require.NoError(t, err)
	require.Contains(t, out, cliConv)
	require.Contains(t, calls()[0], "GET /v1/conversations?limit=20 ")

	out, err = runCLI(t, append([]string{"conversations", "show", cliConv}, base...)...)
	require.NoError(t, err)
	for _, want := range []string{
		"#1 ", "customer: where is my order",
		"nlu    cx-europe (12ms) -> order.status", "failed over from cx-global: cx-global: unavailable (status 503)",
		"also asked llm: cancelled: no answer within 40ms, cx-europe answered first",
		"reply  vonage: It ships today.", "failed over from twilio: twilio: unavailable (status 503)",
		"status replied",
	} {
		require.Contains(t, out, want)
	}

	out, err = runCLI(t, append([]string{"desk", "list", "tier1"}, base...)...)
	require.NoError(t, err)
	require.Contains(t, out, cliConv+"/esc-1")

	out, err = runCLI(t, append([]string{"desk", "claim", "tier1", "--agent", "ann"}, base...)...)
	require.NoError(t, err)
	require.Contains(t, out, cliConv+"/esc-1")
	require.Contains(t, out, "claimed")

	_, err = runCLI(t, append([]string{"desk", "reply", cliConv + "/esc-1", "--agent", "ann", "Hi,", "Ann", "here."}, base...)...)
	require.NoError(t, err)
	out, err = runCLI(t, append([]string{"desk", "resolve", cliConv + "/esc-1", "--agent", "ann"}, base...)...)
	require.NoError(t, err)
	require.Contains(t, out, "resolved")

	got := calls()
	require.Contains(t, got, "POST /v1/queues/tier1/claim "+`{"agent":"ann"}`)
	require.Contains(t, got, "POST /v1/conversations/"+cliConv+"/escalation/reply "+`{"agent":"ann","escalation_id":"`+cliConv+`/esc-1","text":"Hi, Ann here."}`)
	require.Contains(t, got, "POST /v1/conversations/"+cliConv+"/escalation/resolve "+`{"agent":"ann","escalation_id":"`+cliConv+`/esc-1","text":""}`)

	_, err = runCLI(t, append([]string{"desk", "resolve", "not-an-escalation", "--agent", "ann"}, base...)...)
	require.ErrorContains(t, err, "is not an escalation id")
	_, err = runCLI(t, append([]string{"desk", "claim", "tier1"}, base...)...)
	require.ErrorContains(t, err, "--agent is required")
}
