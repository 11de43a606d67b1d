// Package workflows holds Switchboard's deterministic workflow code: the
// ConversationWorkflow, one long-lived workflow per conversation, the CanaryWorkflow,
// and the names, inputs and outputs of the activities they call.
//
// It imports internal/turn (the route, the reply, the canary report, every id) and
// nothing else of the project: no provider, no worker, no stream.
//
// Nothing here performs I/O. Every call to the world (routing, NLU, CPaaS, events) is a
// local activity implemented in package workers and named by the constants in
// activities.go, so each provider attempt is its own entry in the workflow history and
// in the Temporal web UI.
//
// A turn enters the workflow through the "turn" update, normally sent with
// update-with-start by the JetStream bridge. The update handler only validates,
// deduplicates and enqueues; the workflow's main loop processes queued turns one at a
// time, in arrival order. History is bounded by continue-as-new, which carries the
// queue, the dedupe window and the recent transcript into the next run.
//
// A conversation that cannot move on by itself (a reply no CPaaS provider could
// send, an escalation no queue acknowledged, turns held in JetStream) shows
// SwitchboardStatus="stuck" until the "replay" update moves it on (stuck.go).
// Changes to the commands the workflow issues are guarded by workflow.GetVersion,
// so that conversations already running replay their histories unchanged.
package workflows
