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

func TestTurnAPI_TakesOnlyIngressAndOpsTokens(t *testing.T) {
	tokens := api.Tokens{testOpsToken: api.RoleOps, testAgentToken: api.RoleAgent}
	tokens.Add(api.RoleIngress, " "+testIngressToken+", ")
	srv, err := api.New(api.Config{
		PublicURL: "http://127.0.0.1", TwilioAuthToken: "twilio-token", VonageSignatureSecret: "vonage-secret", Tokens: tokens,
	}, nil, nil, nil, nil)
	require.NoError(t, err)
	guarded := httptest.NewServer(srv.Handler())
	t.Cleanup(guarded.Close)
	// The malformed body gets 400 once the request is let in: no turn is stored.
	require.Equal(t, http.StatusUnauthorized, postTurnStatus(t, guarded, ""))
	require.Equal(t, http.StatusForbidden, postTurnStatus(t, guarded, testAgentToken))
	require.Equal(t, http.StatusBadRequest, postTurnStatus(t, guarded, testIngressToken))
	require.Equal(t, http.StatusBadRequest, postTurnStatus(t, guarded, testOpsToken))
}
