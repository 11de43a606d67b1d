package api_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-cc/switchboard/api"
	"github.com/switchboard-cc/switchboard/internal/auth"
	"github.com/switchboard-cc/switchboard/internal/canary"
	"github.com/switchboard-cc/switchboard/internal/turn"
)

const (
	testOpsToken   = "ops-unit-token-000000000"
	testAgentToken = "agent-unit-token-0000000"
)

// canaryServer serves the API with run as its canary (nil: none).
func canaryServer(t *testing.T, run func(context.Context) (turn.CanaryReport, error)) *httptest.Server {
	t.Helper()
	srv, err := api.New(api.Config{
		PublicURL: "http://127.0.0.1", TwilioAuthToken: "twilio-token", VonageSignatureSecret: "vonage-secret",
		Tokens: auth.Tokens{testOpsToken: auth.RoleOps, testAgentToken: auth.RoleAgent, testIngressToken: auth.RoleIngress},
		Canary: run,
	}, nil, nil, nil, nil)
	require.NoError(t, err)
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(hs.Close)
	return hs
}

func getStack(t *testing.T, hs *httptest.Server, token string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, hs.URL+"/v1/health/stack", nil)
	require.NoError(t, err)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := hs.Client().Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var body map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&body)
	return resp.StatusCode, body
}

func TestStackHealth_AnswersWithTheCanaryReport(t *testing.T) {
	var rep turn.CanaryReport
	var err error
	calls := 0
	hs := canaryServer(t, func(ctx context.Context) (turn.CanaryReport, error) {
		calls++
		return rep, err
	})

	code, _ := getStack(t, hs, "")
	require.Equal(t, http.StatusUnauthorized, code)
	code, _ = getStack(t, hs, testAgentToken)
	require.Equal(t, http.StatusForbidden, code)
	require.Zero(t, calls, "no canary turn for an unauthorised caller")

	rep = turn.CanaryReport{OK: true, TurnID: "canary:1"}
	rep.Hops.NLU = turn.CanaryHop{Name: "nlu", OK: true, Provider: "cx-global", LatencyMS: 42}
	code, body := getStack(t, hs, testOpsToken)
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, true, body["ok"])
	require.Equal(t, "canary:1", body["turn_id"])
	nlu := body["hops"].(map[string]any)["nlu"].(map[string]any)
	require.Equal(t, "cx-global", nlu["provider"])
	require.InDelta(t, 42, nlu["latency_ms"], 0)

	rep = turn.CanaryReport{OK: false, TurnID: "canary:2", Error: "nlu: every remote NLU provider failed"}
	code, body = getStack(t, hs, testOpsToken)
	require.Equal(t, http.StatusServiceUnavailable, code)
	require.Equal(t, false, body["ok"])
	require.Equal(t, "nlu: every remote NLU provider failed", body["error"])

	rep, err = turn.CanaryReport{Skipped: canary.ErrNotConfigured.Error()}, canary.ErrNotConfigured
	code, body = getStack(t, hs, testOpsToken)
	require.Equal(t, http.StatusNotImplemented, code)
	require.Contains(t, body["error"], "no canary configured in the policy")

	rep, err = turn.CanaryReport{}, errors.New(`canary: business "x" has no address`)
	code, body = getStack(t, hs, testOpsToken)
	require.Equal(t, http.StatusServiceUnavailable, code)
	require.Contains(t, body["error"], "has no address")
	require.Equal(t, 4, calls)
}

func TestStackHealth_NotMountedWithoutACanary(t *testing.T) {
	hs := canaryServer(t, nil)
	code, _ := getStack(t, hs, testOpsToken)
	require.Equal(t, http.StatusNotFound, code)
}
