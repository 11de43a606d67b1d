package workflows

import "go.temporal.io/sdk/workflow"

// Version markers (workflow.GetVersion change ids) of the conversation workflow.
// Each guards one change to the commands the workflow issues, so that histories
// recorded before it replay unchanged. Never remove or reorder one while
// conversations recorded before it may still run; testdata/ holds histories that
// carry them (see replay_test.go).
//
// Every GetVersion of a run records a marker and upserts TemporalChangeVersion, a
// write to visibility, so a run starts with one: versionConversation, whose
// version says which changes the run has. Version 1 has every change listed
// below and those introduced with it; a run recorded before it asks the marker of
// each change (since). The next change raises conversationVersion to 2 and checks
// c.version >= 2.
const (
	// versionConversation is the run's version of the conversation workflow.
	// 1: every change below, and search attributes and the memo written only when
	// they change (visibility.go); NLU attempts hedged, a timed-out one not
	// retried (hedge.go); attempts run as regular activities for the tries that do
	// not fit in the workflow task (attempt.go); one idle timer across turns
	// (awaitTurn).
	versionConversation = "conversation"
	conversationVersion = workflow.Version(1)

	// versionStuckStatus: conversations report themselves stuck (stuck.go).
	versionStuckStatus = "stuck-status"
	// versionMemoPerTurn: the memo is updated after each turn.
	versionMemoPerTurn = "memo-per-turn"
	// versionAgentReply (1): an agent's reply acknowledges the escalation only
	// once it was sent, and its idempotency key derives from the desk update's id
	// (turn.SendAgentReply), not from a counter.
	versionAgentReply = "agent-reply-after-send"
	// versionFinalMessage (1): the escalation's final message carries the epoch in
	// its key (turn.SendFinalMessage), and when it cannot be sent it becomes an
	// unanswered reply for a replay, not only a log line.
	versionFinalMessage = "final-message-epoch"
	// versionStatusOnStart (1): a run that starts with an open escalation (carried
	// by continue-as-new) upserts SwitchboardStatus and SwitchboardQueue as they
	// are, not "active".
	versionStatusOnStart = "status-on-start"
	// versionBoundedState (1): what continue-as-new carries is bounded in bytes as
	// well as in count (bounds.go).
	versionBoundedState = "bounded-state"
	// versionDeliveryUnknown (1): a send of unknown delivery stops failover and
	// escalates nobody, and another attempt's in-flight claim is waited out before
	// the turn is kept stuck.
	versionDeliveryUnknown = "delivery-unknown"
	// versionReplayClosesOutage (1): a replay that delivers the replies a CPaaS
	// outage held back closes the escalation the outage opened, while no agent
	// has taken it.
	versionReplayClosesOutage = "replay-closes-outage-escalation"
	// versionDeskMemo (1): the memo's escalation follows the desk (claim, ack,
	// reply, resolve), the SLA's re-routes and the flag, not only the turns.
	versionDeskMemo = "desk-memo"
	// versionVoice (1): a voice turn's reply is spoken by the call's webhook, not
	// sent through a CPaaS provider, and a voice turn that carries Escalate
	// escalates without asking the NLU (voice.go).
	versionVoice = "voice-spoken-reply"
)

// since reports whether the run has the change of changeID: every run of version
// 1 or later has it, an earlier one has it if it recorded its marker.
func (c *conversation) since(ctx workflow.Context, changeID string) bool {
	return c.version >= 1 || workflow.GetVersion(ctx, changeID, workflow.DefaultVersion, 1) >= 1
}
