package api_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-cc/switchboard/api"
	"github.com/switchboard-cc/switchboard/internal/auth"
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
	tokens := auth.Tokens{testOpsToken: auth.RoleOps, testAgentToken: auth.RoleAgent}
	tokens.Add(auth.RoleIngress, " "+testIngressToken+", ")
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

// Issue 12, item 8: a token that was sent but is not accepted (a dev restart made
// new ones) got "a bearer token is required". The 401 says which it is, and never
// repeats the token.
func TestAuth_AnUnknownTokenIsInvalid_NoTokenIsRequired(t *testing.T) {
	srv, err := api.New(api.Config{
		PublicURL: "http://127.0.0.1", TwilioAuthToken: "twilio-token", VonageSignatureSecret: "vonage-secret",
		Tokens: auth.Tokens{testOpsToken: auth.RoleOps, testIngressToken: auth.RoleIngress},
	}, nil, nil, nil, nil)
	require.NoError(t, err)
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(hs.Close)
	for auth, want := range map[string]string{
		"":                            "a bearer token is required",
		"Bearer ops-stale-token-0000": "invalid token",
		"Basic b3BzOm9wcw==":          "invalid token",
	} {
		req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, hs.URL+"/v1/turns", strings.NewReader(`{}`))
		require.NoError(t, err)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := http.DefaultTransport.RoundTrip(req)
		require.NoError(t, err)
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.NoError(t, err)
		require.Equal(t, http.StatusUnauthorized, resp.StatusCode, auth)
		require.Contains(t, string(b), want, auth)
		require.NotContains(t, string(b), "stale", "the token is not repeated")
		require.Contains(t, resp.Header.Get("WWW-Authenticate"), "Bearer")
	}
}
