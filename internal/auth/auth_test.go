package auth_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-cc/switchboard/internal/auth"
)

const (
	opsToken     = "ops-token-0123456789"
	agentToken   = "agent-token-0123456789"
	ingressToken = "ingress-token-0123456789"
)

func TestFromLists_EachListGetsItsRole_BlanksAreSkipped(t *testing.T) {
	tokens := auth.FromLists(opsToken+", ops-token-second-0000", " "+agentToken+" ,", "")
	require.Equal(t, auth.Tokens{opsToken: auth.RoleOps, "ops-token-second-0000": auth.RoleOps, agentToken: auth.RoleAgent}, tokens)
	require.True(t, tokens.Has(auth.RoleAgent))
	require.False(t, tokens.Has(auth.RoleIngress))
}

func TestValidate_LongTokensOfKnownRoles_AndAnOpsToken(t *testing.T) {
	require.NoError(t, auth.FromLists(opsToken, agentToken, ingressToken).Validate())
	require.ErrorContains(t, auth.FromLists("", agentToken, ingressToken).Validate(), "an ops token is required")
	require.ErrorContains(t, auth.FromLists(opsToken, "short", "").Validate(), "at least 16 characters")
	require.ErrorContains(t, auth.Tokens{opsToken: auth.RoleOps, agentToken: "admin"}.Validate(), `unknown role "admin"`)
}

// One middleware guards every listener: the API's endpoints and the worker role's
// /metrics answer alike.
func TestRequire_401WithoutAKnownBearerToken_403ForAnotherRole_ElseThrough(t *testing.T) {
	tokens := auth.FromLists(opsToken, agentToken, ingressToken)
	hs := httptest.NewServer(auth.Require(tokens, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "in")
	}), auth.RoleOps, auth.RoleAgent))
	t.Cleanup(hs.Close)
	for _, c := range []struct {
		authorization string
		status        int
		body          string
	}{
		{"", http.StatusUnauthorized, "a bearer token is required"},
		{"Bearer ops-stale-token-0000", http.StatusUnauthorized, "invalid token"},
		{"Bearer ", http.StatusUnauthorized, "invalid token"},
		// The token itself, without "Bearer ", is no bearer token.
		{opsToken, http.StatusUnauthorized, "invalid token"},
		{"Basic b3BzOm9wcw==", http.StatusUnauthorized, "invalid token"},
		{"Bearer " + ingressToken, http.StatusForbidden, "the ingress role may not do this"},
		{"Bearer " + agentToken, http.StatusOK, "in"},
		{"Bearer " + opsToken, http.StatusOK, "in"},
	} {
		req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, hs.URL, nil)
		require.NoError(t, err)
		if c.authorization != "" {
			req.Header.Set("Authorization", c.authorization)
		}
		resp, err := hs.Client().Do(req)
		require.NoError(t, err)
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.NoError(t, err)
		require.Equal(t, c.status, resp.StatusCode, c.authorization)
		require.Contains(t, string(b), c.body, c.authorization)
		require.NotContains(t, string(b), "stale", "the token is not repeated")
		if c.status == http.StatusUnauthorized {
			require.True(t, strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), `Bearer realm="switchboard"`), c.authorization)
		}
		if c.status != http.StatusOK {
			require.Equal(t, "application/json", resp.Header.Get("Content-Type"), c.authorization)
		}
	}
}
