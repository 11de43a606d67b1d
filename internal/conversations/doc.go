// Package conversations is the Temporal-backed conversation store: a
// conversation's transcript (the query of its workflow), listings from Temporal
// visibility, and the agent desk's actions on an escalation (workflow updates). The
// API serves them, and the stuck-conversation finder and the stack canary read
// transcripts through it (app hands them Store.Transcript).
//
// Setup (setup.go) prepares the namespace the store lives in: it registers the search
// attributes the workflows keep and the listings query (`switchboard setup`).
//
// A conversation Temporal does not know is turn.ErrNoConversation, the one
// not-found error of the project; a desk action the workflow refused wraps
// ErrRejected.
//
// It reads Temporal through the SDK client and knows the workflow's names (query,
// updates, search attributes) from package workflows. It must not import api,
// workers, app or the providers: it serves them, not the other way round.
package conversations
