package turn

import (
	"errors"
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

func TestValidateAddresses_SMSAndWhatsAppNeedE164_TurnsAlreadyStoredStillValidate(t *testing.T) {
	tr := Turn{ID: "twilio:SM1", ConversationID: "twilio-x", Vendor: VendorTwilio, Channel: ChannelSMS, From: "notanumber", To: "+15550001000", Text: "hi"}
	// Validate is what JetStream's consumers and the workflow check: a turn
	// stored before the door checked addresses must not become poison.
	if err := tr.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	err := tr.ValidateIngress()
	var fe FieldError
	if !errors.As(err, &fe) || fe.Field != "from" {
		t.Fatalf("ValidateIngress = %v, want a FieldError on from", err)
	}
	tr.From, tr.To = "+15551230001", "call me"
	if err := tr.ValidateIngress(); !errors.As(err, &fe) || fe.Field != "to" {
		t.Fatalf("ValidateIngress = %v, want a FieldError on to", err)
	}
	tr.To = "15550002000" // Vonage writes numbers without the plus
	if err := tr.ValidateIngress(); err != nil {
		t.Fatalf("ValidateIngress: %v", err)
	}
	tr.Channel, tr.From = ChannelChat, "session-ann"
	if err := tr.ValidateIngress(); err != nil {
		t.Fatalf("chat: %v", err)
	}
}

func TestValidateIngress_IDsThatNATSWouldTrimAndFieldsPastTheirBounds_AreRefusedByName(t *testing.T) {
	ok := Turn{ID: "twilio:SM1", ConversationID: "twilio-sms-1", Vendor: VendorTwilio, Channel: ChannelChat, From: "ann", To: "+15550001000", Text: "hi"}
	if err := ok.ValidateIngress(); err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]struct {
		change func(*Turn)
		field  string
	}{
		"a trailing space": {func(t *Turn) { t.ID += " " }, "id"},
		"a line break":     {func(t *Turn) { t.ID = "twilio:SM\n1" }, "id"},
		"a tab at the end": {func(t *Turn) { t.ID += "\t" }, "id"},
		"a DEL":            {func(t *Turn) { t.ID += "\x7f" }, "id"},
		"an id too long":   {func(t *Turn) { t.ID = "twilio:" + strings.Repeat("S", MaxIDBytes) }, "id"},
		"a from too long":  {func(t *Turn) { t.From = strings.Repeat("a", MaxAddressBytes+1) }, "from"},
		"a to too long":    {func(t *Turn) { t.To = strings.Repeat("1", MaxAddressBytes+1) }, "to"},
	} {
		tr := ok
		c.change(&tr)
		var fe FieldError
		if err := tr.ValidateIngress(); !errors.As(err, &fe) || fe.Field != c.field {
			t.Errorf("%s: err = %v, want one naming %s", name, err, c.field)
		}
		if err := tr.Validate(); err != nil && c.field == "id" {
			t.Errorf("%s: Validate, which stored turns must keep passing, refuses it: %v", name, err)
		}
	}
}
