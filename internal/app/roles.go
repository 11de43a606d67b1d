package app

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/switchboard-cc/switchboard/api"
	"github.com/switchboard-cc/switchboard/internal/metrics"
)

// probeHandler is the HTTP listener of a process without the API role: liveness,
// readiness (the same check as the API's /readyz) and metrics, which need an ops
// token as on the API.
func probeHandler(ready func(context.Context) error, tokens api.Tokens, m *metrics.Metrics) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		probeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
		defer cancel()
		if err := ready(ctx); err != nil {
			probeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "not ready", "error": err.Error()})
			return
		}
		probeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
	})
	mux.Handle("GET /metrics", requireOps(tokens, m.Handler()))
	return mux
}

// requireOps lets only a bearer token of the ops role through: no or an unknown token
// gets 401, a token of another role 403. Every token is compared in constant time.
func requireOps(tokens api.Tokens, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		given, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		var role api.Role
		for tok, ro := range tokens {
			if subtle.ConstantTimeCompare([]byte(tok), []byte(given)) == 1 {
				role = ro
			}
		}
		switch {
		case given == "" || role == "":
			msg, challenge := api.UnauthorizedReason(r)
			w.Header().Set("WWW-Authenticate", challenge)
			probeJSON(w, http.StatusUnauthorized, map[string]string{"error": msg})
		case role != api.RoleOps:
			probeJSON(w, http.StatusForbidden, map[string]string{"error": "the " + string(role) + " role may not do this"})
		default:
			h.ServeHTTP(w, r)
		}
	})
}

func probeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// checkOpsTokens asks of a worker what the API asks of its tokens: at least one of
// the ops role, none shorter than 16 characters.
func checkOpsTokens(tokens api.Tokens) error {
	hasOps := false
	for tok, role := range tokens {
		if len(tok) < 16 {
			return errors.New("every bearer token must be at least 16 characters")
		}
		hasOps = hasOps || role == api.RoleOps
	}
	if !hasOps {
		return errors.New("an ops token is required (--ops-token): it guards /metrics")
	}
	return nil
}

// Tokens builds the API's token table from comma-separated ops and agent tokens.
func Tokens(ops, agent string) api.Tokens {
	t := api.Tokens{}
	t.Add(api.RoleAgent, agent)
	t.Add(api.RoleOps, ops)
	return t
}
