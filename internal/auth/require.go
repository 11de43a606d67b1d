package auth

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
)

// Require wraps h so that only tokens of one of roles may call it: no or an unknown
// token gets 401 (saying which, unauthorizedReason, with a WWW-Authenticate
// challenge), a token of another role 403. The answers are JSON, {"error": ...},
// as the API's other errors are; they never repeat the token.
func Require(tokens Tokens, h http.Handler, roles ...Role) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		role, ok := tokens.RoleOf(r)
		switch {
		case !ok:
			msg, challenge := unauthorizedReason(r)
			w.Header().Set("WWW-Authenticate", challenge)
			deny(w, http.StatusUnauthorized, msg)
		case !slices.Contains(roles, role):
			deny(w, http.StatusForbidden, "the "+string(role)+" role may not do this")
		default:
			h.ServeHTTP(w, r)
		}
	})
}

// unauthorizedReason says why a request whose token was not accepted gets 401, and
// the WWW-Authenticate challenge to send with it: "a bearer token is required" if
// it sent none, "invalid token" if it sent one that no role has (or an
// Authorization header that is no bearer token). The token is never repeated.
func unauthorizedReason(r *http.Request) (msg, challenge string) {
	if strings.TrimSpace(r.Header.Get("Authorization")) == "" {
		return "a bearer token is required", `Bearer realm="switchboard"`
	}
	return "invalid token", `Bearer realm="switchboard", error="invalid_token"`
}

func deny(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": msg})
}
