package api_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-cc/switchboard/api"
)

const testIngressToken = "ingress-unit-token-00000"

func postTurnStatus(t *testing.T, hs *httptest.Server, token string) int {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, hs.URL+"/v1/turns", strings.NewReader(`{"text": 1}`))
	require.NoError(t, err)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := hs.Client().Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	return resp.StatusCode
}

func TestTurnAPI_OpenUntilAnIngressTokenIsConfigured(t *testing.T) {
	serve := func(tokens api.Tokens) *httptest.Server {
		srv, err := api.New(api.Config{
			PublicURL: "http://127.0.0.1", TwilioAuthToken: "twilio-token", VonageSignatureSecret: "vonage-secret", Tokens: tokens,
		}, nil, nil, nil, nil)
		require.NoError(t, err)
		hs := httptest.NewServer(srv.Handler())
		t.Cleanup(hs.Close)
		return hs
	}
	// The malformed body gets 400 once the request is let in: no turn is stored.
	open := serve(api.Tokens{testOpsToken: api.RoleOps})
	require.Equal(t, http.StatusBadRequest, postTurnStatus(t, open, ""))

	tokens := api.Tokens{testOpsToken: api.RoleOps, testAgentToken: api.RoleAgent}
	tokens.Add(api.RoleIngress, " "+testIngressToken+", ")
	guarded := serve(tokens)
	require.Equal(t, http.StatusUnauthorized, postTurnStatus(t, guarded, ""))
	require.Equal(t, http.StatusForbidden, postTurnStatus(t, guarded, testAgentToken))
	require.Equal(t, http.StatusBadRequest, postTurnStatus(t, guarded, testIngressToken))
	require.Equal(t, http.StatusBadRequest, postTurnStatus(t, guarded, testOpsToken))
}
