package api

import (
	"crypto/subtle"
	"net/http"
	"strings"
)

// Role is what a bearer token may do.
type Role string

const (
	// RoleOps may use every authenticated endpoint: conversations, providers,
	// policy, metrics, and the agent desk.
	RoleOps Role = "ops"
	// RoleAgent may use the agent desk and read conversations.
	RoleAgent Role = "agent"
	// RoleIngress may post turns (POST /v1/turns), as may RoleOps. The JSON turn
	// API always requires one of them, unless Config.AnonymousTurns opens it. An
	// ingress token speaks for the customers of the API's own conversations (ids
	// api-...) only: it can never post into a Twilio or Vonage conversation, and
	// replies leave only from the addresses of the policy's businesses. It does
	// choose the customer address a reply goes to: give it only to the backend
	// that authenticates those customers.
	RoleIngress Role = "ingress"
)

// Tokens maps bearer tokens to their role. Several tokens per role allow rotation.
type Tokens map[string]Role

// Add gives role to each token of a comma-separated list.
func (t Tokens) Add(role Role, list string) {
	for _, tok := range strings.Split(list, ",") {
		if tok = strings.TrimSpace(tok); tok != "" {
			t[tok] = role
		}
	}
}

// has reports whether any token has role.
func (t Tokens) has(role Role) bool {
	for _, r := range t {
		if r == role {
			return true
		}
	}
	return false
}

// role returns the role of the request's bearer token, "" if it has none we know.
// Every configured token is compared in constant time, so timing tells nothing.
func (t Tokens) role(r *http.Request) (Role, bool) {
	auth := r.Header.Get("Authorization")
	given, ok := strings.CutPrefix(auth, "Bearer ")
	if !ok || given == "" {
		return "", false
	}
	var found Role
	for tok, role := range t {
		if subtle.ConstantTimeCompare([]byte(tok), []byte(given)) == 1 {
			found = role
		}
	}
	return found, found != ""
}

// UnauthorizedReason says why a request whose token was not accepted gets 401, and
// the WWW-Authenticate challenge to send with it: "a bearer token is required" if
// it sent none, "invalid token" if it sent one that no role has (or an
// Authorization header that is no bearer token). The token is never repeated.
func UnauthorizedReason(r *http.Request) (msg, challenge string) {
	if strings.TrimSpace(r.Header.Get("Authorization")) == "" {
		return "a bearer token is required", `Bearer realm="switchboard"`
	}
	return "invalid token", `Bearer realm="switchboard", error="invalid_token"`
}

// require wraps h so that only tokens of one of roles may call it: no or an unknown
// token gets 401 (saying which, UnauthorizedReason), a token of another role 403. Tokens never appear in logs.
func (s *Server) require(h http.Handler, roles ...Role) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		role, ok := s.cfg.Tokens.role(r)
		if !ok {
			msg, challenge := UnauthorizedReason(r)
			w.Header().Set("WWW-Authenticate", challenge)
			writeError(w, http.StatusUnauthorized, msg)
			return
		}
		for _, want := range roles {
			if role == want {
				h.ServeHTTP(w, r)
				return
			}
		}
		writeError(w, http.StatusForbidden, "the "+string(role)+" role may not do this")
	})
}
