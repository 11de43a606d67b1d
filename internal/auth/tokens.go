package auth

import (
	"crypto/subtle"
	"errors"
	"fmt"
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
	// API always requires one of them, unless the API's Config.AnonymousTurns opens
	// it. An ingress token speaks for the customers of the API's own conversations
	// (ids api-...) only: it can never post into a Twilio or Vonage conversation,
	// and replies leave only from the addresses of the policy's businesses. It does
	// choose the customer address a reply goes to: give it only to the backend that
	// authenticates those customers.
	RoleIngress Role = "ingress"
)

// MinTokenLength is the shortest bearer token Validate accepts.
const MinTokenLength = 16

// Tokens maps bearer tokens to their role. Several tokens per role allow rotation.
type Tokens map[string]Role

// FromLists builds the token table from comma-separated lists of the ops, agent
// and ingress tokens (--ops-token, --agent-token, --ingress-token).
func FromLists(ops, agent, ingress string) Tokens {
	t := Tokens{}
	t.Add(RoleAgent, agent)
	t.Add(RoleOps, ops)
	t.Add(RoleIngress, ingress)
	return t
}

// Add gives role to each token of a comma-separated list.
func (t Tokens) Add(role Role, list string) {
	for _, tok := range strings.Split(list, ",") {
		if tok = strings.TrimSpace(tok); tok != "" {
			t[tok] = role
		}
	}
}

// Has reports whether any token has role.
func (t Tokens) Has(role Role) bool {
	for _, r := range t {
		if r == role {
			return true
		}
	}
	return false
}

// Validate reports a token shorter than MinTokenLength, a role it does not know,
// or the lack of an ops token: every listener has endpoints only ops may use.
func (t Tokens) Validate() error {
	for tok, role := range t {
		if len(tok) < MinTokenLength {
			return fmt.Errorf("every bearer token must be at least %d characters", MinTokenLength)
		}
		if role != RoleOps && role != RoleAgent && role != RoleIngress {
			return fmt.Errorf("unknown role %q", role)
		}
	}
	if !t.Has(RoleOps) {
		return errors.New("an ops token is required (--ops-token)")
	}
	return nil
}

// RoleOf returns the role of the request's bearer token; false if it sent none,
// no bearer token, or one no role has. Every configured token is compared in
// constant time, so timing tells nothing.
func (t Tokens) RoleOf(r *http.Request) (Role, bool) {
	given, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
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
