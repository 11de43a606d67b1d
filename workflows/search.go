package workflows

import (
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"
)

// Search attributes that every conversation workflow keeps up to date, so ops can
// find conversations in the Temporal web UI (for example SwitchboardStatus="active").
var (
	SAChannel       = temporal.NewSearchAttributeKeyKeyword("SwitchboardChannel")
	SACustomer      = temporal.NewSearchAttributeKeyKeyword("SwitchboardCustomer")
	SAStatus        = temporal.NewSearchAttributeKeyKeyword("SwitchboardStatus")
	SANLUProvider   = temporal.NewSearchAttributeKeyKeyword("SwitchboardNLUProvider")
	SACPaaSProvider = temporal.NewSearchAttributeKeyKeyword("SwitchboardCPaaSProvider")
	SATurns         = temporal.NewSearchAttributeKeyInt64("SwitchboardTurns")
	SALastTurnAt    = temporal.NewSearchAttributeKeyTime("SwitchboardLastTurnAt")
	SAQueue         = temporal.NewSearchAttributeKeyKeyword("SwitchboardQueue") // the human queue holding the conversation
	// SACanary is true on the stack canary's workflows (the scheduled
	// switchboard-canary-… runs and the canary's conversation) and absent on every
	// other: `SwitchboardCanary IS NULL` in the UI hides the canary's.
	SACanary = temporal.NewSearchAttributeKeyBool("SwitchboardCanary")
)

// Conversation statuses, as shown in SwitchboardStatus.
const (
	StatusActive       = "active"
	StatusWaitingHuman = "waiting_human" // an escalation is open
	StatusClosed       = "closed"
)

// SearchAttributes lists the attributes and their types, for registration on a
// namespace.
func SearchAttributes() map[string]enumspb.IndexedValueType {
	m := map[string]enumspb.IndexedValueType{}
	for _, k := range []temporal.SearchAttributeKey{SAChannel, SACustomer, SAStatus, SANLUProvider, SACPaaSProvider, SATurns, SALastTurnAt, SAQueue, SACanary} {
		m[k.GetName()] = k.GetValueType()
	}
	return m
}
