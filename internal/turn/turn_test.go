package turn

import (
	"strings"
	"testing"
)

func TestSendKey_BotReplyFormatIsUnchanged_AndOtherKindsAreScopedToTheChain(t *testing.T) {
	if got := IdempotencyKey("conv-1", "run-a", 7); got != "conv-1/run-a/7" {
		t.Fatalf("bot reply key %q, want conv-1/run-a/7 (send-ledger entries depend on it)", got)
	}
	agent := SendKey{Kind: SendAgentReply, ConversationID: "conv-1", Epoch: "run-a", Ref: "reply/conv-1/esc-1/req-7"}
	final := SendKey{Kind: SendFinalMessage, ConversationID: "conv-1", Epoch: "run-a", Ref: "conv-1/esc-1"}
	later := final
	later.Epoch = "run-b"
	keys := map[string]bool{}
	for _, k := range []SendKey{agent, final, later, {ConversationID: "conv-1", Epoch: "run-a", Seq: 1}} {
		key := k.Key()
		if !strings.HasPrefix(key, "conv-1/"+k.Epoch+"/") {
			t.Errorf("key %q is not scoped to its conversation and chain", key)
		}
		if len(key) > len("conv-1/run-a/")+len("agent-")+12 {
			t.Errorf("key %q is longer than it needs to be", key)
		}
		keys[key] = true
	}
	if len(keys) != 4 {
		t.Errorf("keys collide: %v", keys)
	}
	if agent.Key() != (SendKey{Kind: SendAgentReply, ConversationID: "conv-1", Epoch: "run-a", Ref: "reply/conv-1/esc-1/req-7"}).Key() {
		t.Error("the same update id must give the same key")
	}
}
