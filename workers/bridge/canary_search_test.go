package bridge

import (
	"testing"

	"github.com/switchboard-cc/switchboard/internal/turn"
	"github.com/switchboard-cc/switchboard/workflows"
)

// Issue 12, item 9: the canary's conversation workflow carries SwitchboardCanary=true
// so that the UI can hide it; a customer's conversation does not have the attribute
// at all (`SwitchboardCanary IS NULL` finds it).
func TestBridge_OnlyTheCanarysConversationIsTaggedSwitchboardCanary(t *testing.T) {
	customer := conversationSearchAttributes(turn.Turn{Channel: "sms", From: "+15551230001"})
	if _, ok := customer.GetBool(workflows.SACanary); ok {
		t.Error("a customer's conversation has SwitchboardCanary")
	}
	if v, ok := customer.GetKeyword(workflows.SAStatus); !ok || v != workflows.StatusActive {
		t.Errorf("SwitchboardStatus %q %v", v, ok)
	}
	c := conversationSearchAttributes(turn.Turn{Channel: "sms", From: "+15559990000", Canary: true})
	if v, ok := c.GetBool(workflows.SACanary); !ok || !v {
		t.Errorf("the canary's conversation: SwitchboardCanary %v %v, want true", v, ok)
	}
}
