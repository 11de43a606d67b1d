package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-cc/switchboard/internal/turn"
)

// fakeStuckAPI serves a stuck list and records the replays asked of it. Replays of
// conversations in fail answer 502 with a report that says why.
func fakeStuckAPI(t *testing.T, stuck []turn.Stuck, fail map[string]bool) (*httptest.Server, func() []string) {
	t.Helper()
	var mu sync.Mutex
	var calls []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer ops-token-for-the-cli-test" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		switch {
		case r.Method == http.MethodGet && r.URL.Path == "/v1/conversations" && r.URL.Query().Get("status") == "stuck":
			_ = json.NewEncoder(w).Encode(map[string]any{"conversations": stuck})
		case r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/replay"):
			id := strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/v1/conversations/"), "/replay")
			mu.Lock()
			calls = append(calls, r.URL.RequestURI())
			mu.Unlock()
			rep := turn.ReplayReport{ConversationID: id, DryRun: r.URL.Query().Get("dry_run") == "true", Resend: []string{id + ":t1"}}
			if fail[id] {
				rep.Error = "workflow replay: context deadline exceeded"
				w.WriteHeader(http.StatusBadGateway)
			}
			_ = json.NewEncoder(w).Encode(rep)
		default:
			w.WriteHeader(http.StatusNotFound)
		}
	}))
	t.Cleanup(srv.Close)
	return srv, func() []string { mu.Lock(); defer mu.Unlock(); return append([]string(nil), calls...) }
}

func runCLI(t *testing.T, args ...string) (string, error) {
	t.Helper()
	root := newRootCommand()
	var out, errOut bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errOut)
	root.SetArgs(args)
	err := root.Execute()
	return out.String() + errOut.String(), err
}

func TestReplayStuck_OldestFirst_DryRunChangesNothing_FailuresAreCounted(t *testing.T) {
	now := time.Now()
	stuck := []turn.Stuck{ // the API lists oldest first
		{ConversationID: "conv-a", Since: now.Add(-time.Hour), Reasons: []turn.StuckReason{{Source: turn.StuckJetStream, Detail: "held"}}},
		{ConversationID: "conv-b", Since: now.Add(-time.Minute), Reasons: []turn.StuckReason{{Source: turn.StuckUnanswered, Detail: "not sent"}}},
		{ConversationID: "conv-c", Since: now, Reasons: []turn.StuckReason{{Source: turn.StuckEscalation, Detail: "flagged"}}},
	}
	srv, calls := fakeStuckAPI(t, stuck, map[string]bool{"conv-b": true})
	base := []string{"--api", srv.URL, "--token", "ops-token-for-the-cli-test"}

	out, err := runCLI(t, append([]string{"replay", "--stuck", "--dry-run", "--rate", "50"}, base...)...)
	require.Error(t, err, "conv-b's replay failed")
	require.Contains(t, err.Error(), "1 of 3 replays failed")
	require.Equal(t, []string{
		"/v1/conversations/conv-a/replay?dry_run=true",
		"/v1/conversations/conv-b/replay?dry_run=true",
		"/v1/conversations/conv-c/replay?dry_run=true",
	}, calls())
	require.Contains(t, out, "conv-a\twould replay")
	require.Contains(t, out, "conv-b\tFAILED")

	_, err = runCLI(t, append([]string{"replay", "--stuck", "--limit", "1", "--rate", "50"}, base...)...)
	require.NoError(t, err)
	require.Equal(t, "/v1/conversations/conv-a/replay", calls()[3], "--limit keeps the oldest")
	require.Len(t, calls(), 4)

	_, err = runCLI(t, append([]string{"replay"}, base...)...)
	require.ErrorContains(t, err, "give one conversation id, or --stuck")

	out, err = runCLI(t, append([]string{"conversations", "list", "--stuck"}, base...)...)
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	require.Len(t, lines, 4)
	require.True(t, strings.HasPrefix(lines[1], "conv-a") && strings.Contains(lines[1], "1h0m0s") && strings.Contains(lines[1], "jetstream"), lines[1])

	out, err = runCLI(t, "replay", "conv-a", "--api", srv.URL, "--token", "wrong-token-wrong-token")
	require.ErrorContains(t, err, "1 of 1 replays failed")
	require.Contains(t, out, "conv-a\tFAILED")
	require.Contains(t, out, "401")
}
