package turn_test

import (
	"testing"

	"github.com/switchboard-cc/switchboard/internal/turn"
)

func TestEveryDerivedConversationIsInItsVendorsNamespaceOnly(t *testing.T) {
	vendors := []string{turn.VendorTwilio, turn.VendorVonage, turn.VendorAPI}
	for _, vendor := range vendors {
		for _, ch := range turn.Channels() {
			id := turn.ConversationID(vendor, ch, "+15551230001", "+15550001000")
			if !turn.ValidConversationID(id) {
				t.Errorf("%s/%s: %q is not a valid conversation id", vendor, ch, id)
			}
			for _, other := range vendors {
				if got := turn.InNamespace(other, id); got != (other == vendor) {
					t.Errorf("InNamespace(%s, %q) = %v", other, id, got)
				}
			}
		}
	}
}

func TestTheAPINamespaceNeedsItsPrefixAndMore(t *testing.T) {
	for id, want := range map[string]bool{
		"api-session-42": true,
		"api-":           false,
		"api":            false,
		"API-session":    false,
		"apix-session":   false,
		"session-api-1":  false,
		"twilio-sms-00":  false,
	} {
		if got := turn.InNamespace(turn.VendorAPI, id); got != want {
			t.Errorf("InNamespace(api, %q) = %v, want %v", id, got, want)
		}
	}
}
