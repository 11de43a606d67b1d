// Package turn is Switchboard's contract, the bottom of the house: the types and
// names every layer agrees on, so that the layers above need not import each other.
//
//   - a customer turn as it travels from ingress through JetStream into a
//     conversation workflow, the outcome the workflow records for it, the transcript,
//     escalations and stuck conversations (turn.go, outcome.go, escalation.go,
//     stuck.go);
//   - the route the routing policy gives a turn, with its provider candidates and
//     attempt bounds (route.go), the outbound reply a CPaaS provider sends
//     (message.go), and the stack canary's report (canary.go);
//   - every id and idempotency key Switchboard derives (ids.go), and the names of the
//     JetStream streams, subjects, consumers and buckets (names.go).
//
// Identifiers are deterministic on purpose. A vendor retry of the same webhook yields
// the same turn id (and so the same Nats-Msg-Id and the same workflow dedupe key); the
// same customer talking to the same business address over the same vendor and channel
// always lands in the same conversation workflow.
//
// It imports nothing of the project (layout_test.go at the module root checks it):
// everything else imports it.
package turn

import (
	"fmt"
	"regexp"
	"strings"
	"time"
)

// Vendors that turns arrive from.
const (
	VendorTwilio = "twilio"
	VendorVonage = "vonage"
	VendorAPI    = "api"
)

// Channels a turn can arrive on.
const (
	ChannelSMS      = "sms"
	ChannelWhatsApp = "whatsapp"
	ChannelChat     = "chat"
	ChannelVoice    = "voice"
)

// MaxTextBytes bounds a turn's text. Larger bodies are rejected at ingress so that
// workflow history never carries more than this per turn.
const MaxTextBytes = 4096

// MaxIDBytes bounds a turn id: a conversation workflow refuses a longer one.
const MaxIDBytes = 256

// MaxAddressBytes bounds a turn's from and to at ingress. E.164 numbers are far
// shorter; a chat's customer is whatever session id its backend chose.
const MaxAddressBytes = 256

// Turn is one customer message, normalised from whichever vendor delivered it.
type Turn struct {
	// ID is unique per vendor message: "<vendor>:<vendor message id>".
	ID             string    `json:"id"`
	ConversationID string    `json:"conversation_id"`
	Vendor         string    `json:"vendor"`
	Channel        string    `json:"channel"`
	From           string    `json:"from"` // the customer's address
	To             string    `json:"to"`   // the business address the customer wrote to
	Text           string    `json:"text"`
	ReceivedAt     time.Time `json:"received_at"`
	// Canary marks the stack canary's synthetic turns: they are answered through
	// the real providers like any turn, but never escalate to a human.
	Canary bool `json:"canary,omitempty"`
	// Escalate, on a voice turn, says that the call could not be handed to anyone
	// (every hand-off option failed): the workflow asks no NLU and escalates with
	// it as the reason, so that a person calls the customer back.
	Escalate string `json:"escalate,omitempty"`
}

// Validate reports the first missing or malformed field, by its JSON name.
func (t Turn) Validate() error {
	switch {
	case t.ID == "":
		return FieldError{"id", "is required"}
	case t.ConversationID == "":
		return FieldError{"conversation_id", "is required"}
	case !ValidConversationID(t.ConversationID):
		return FieldError{"conversation_id", "must be 1-128 characters of [A-Za-z0-9_:-]"}
	case t.Vendor == "":
		return FieldError{"vendor", "is required"}
	case !ValidChannel(t.Channel):
		return FieldError{"channel", fmt.Sprintf("must be one of %s", strings.Join(Channels(), ", "))}
	case t.From == "":
		return FieldError{"from", "is required"}
	case t.To == "":
		return FieldError{"to", "is required"}
	case strings.TrimSpace(t.Text) == "":
		return FieldError{"text", "is required"}
	case len(t.Text) > MaxTextBytes:
		return FieldError{"text", fmt.Sprintf("is longer than %d bytes", MaxTextBytes)}
	}
	return nil
}

// e164 is an E.164 number: a plus, then up to 15 digits, the first not zero.
var e164 = regexp.MustCompile(`^\+[1-9][0-9]{1,14}$`)

// ValidE164 reports whether addr is an E.164 phone number.
func ValidE164(addr string) bool { return e164.MatchString(addr) }

// ValidateAddresses checks what a new turn's addresses must pass at the door
// besides Validate: from and to are at most MaxAddressBytes, and on sms and
// whatsapp, from (the customer, whom the reply goes to) is an E.164 number, and to
// (the business) is one, its plus optional as Vonage writes them. A vendor would
// refuse a reply to anything else, long after the customer was told nothing. It is not part of Validate, which turns already in JetStream
// and in workflows must keep passing: a stricter Validate would dead-letter them.
func (t Turn) ValidateAddresses() error {
	for _, f := range []struct{ name, v string }{{"from", t.From}, {"to", t.To}} {
		if len(f.v) > MaxAddressBytes {
			return FieldError{f.name, fmt.Sprintf("is longer than %d bytes", MaxAddressBytes)}
		}
	}
	switch t.Channel {
	case ChannelSMS, ChannelWhatsApp:
		if !ValidE164(t.From) {
			return FieldError{"from", fmt.Sprintf("must be an E.164 phone number (+ and up to 15 digits) on %s, not %q", t.Channel, t.From)}
		}
		if !ValidE164(t.To) && !ValidE164("+"+t.To) {
			return FieldError{"to", fmt.Sprintf("must be an E.164 phone number (+ and up to 15 digits) on %s, not %q", t.Channel, t.To)}
		}
	}
	return nil
}

// ValidateIngress is Validate, then what a new turn must pass at the door: its id
// bounded and intact as a Nats-Msg-Id (ValidMessageID), then ValidateAddresses.
func (t Turn) ValidateIngress() error {
	if err := t.Validate(); err != nil {
		return err
	}
	if len(t.ID) > MaxIDBytes {
		return FieldError{"id", fmt.Sprintf("(the vendor and its message id) is longer than %d bytes", MaxIDBytes)}
	}
	if !ValidMessageID(t.ID) {
		return FieldError{"id", "(the vendor and its message id) must not begin or end with white space, nor hold control characters"}
	}
	return t.ValidateAddresses()
}

// ValidMessageID reports whether id survives as a NATS header value: JetStream
// dedupes on the Nats-Msg-Id header, whose value NATS trims and whose line breaks
// it turns into spaces, so "m1", "m1 " and "m1\n" would be one turn to it, the
// second accepted and never answered.
func ValidMessageID(id string) bool {
	if strings.TrimSpace(id) != id {
		return false
	}
	for _, r := range id {
		if r < 0x20 || r == 0x7f {
			return false
		}
	}
	return true
}

// FieldError names the field that made a turn invalid.
type FieldError struct {
	Field  string
	Reason string
}

func (e FieldError) Error() string { return e.Field + " " + e.Reason }

// Channels lists the channels Switchboard accepts.
func Channels() []string {
	return []string{ChannelSMS, ChannelWhatsApp, ChannelChat, ChannelVoice}
}

// ValidChannel reports whether c is a known channel.
func ValidChannel(c string) bool {
	for _, k := range Channels() {
		if c == k {
			return true
		}
	}
	return false
}

var conversationIDPattern = regexp.MustCompile(`^[A-Za-z0-9_:-]{1,128}$`)

// ValidConversationID reports whether id may be used as a conversation id. The JSON
// API lets callers choose their own; the pattern keeps them safe in workflow ids,
// NATS subjects and URLs.
func ValidConversationID(id string) bool { return conversationIDPattern.MatchString(id) }
