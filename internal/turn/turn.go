// Package turn holds Switchboard's domain types: a customer turn as it travels from
// ingress through JetStream into a conversation workflow, the outcome the workflow
// records for it, and the identifiers derived from both.
//
// Identifiers are deterministic on purpose. A vendor retry of the same webhook yields
// the same turn id (and so the same Nats-Msg-Id and the same workflow dedupe key); the
// same customer talking to the same business address over the same vendor and channel
// always lands in the same conversation workflow.
package turn

import (
	"crypto/sha256"
	"encoding/hex"
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

// ID builds a turn id from the vendor and the vendor's own message id.
func ID(vendor, messageID string) string { return vendor + ":" + messageID }

// ConversationID derives the conversation of a customer address talking to a business
// address over one vendor and channel. Addresses are hashed so that phone numbers do
// not appear in workflow ids, subjects or logs.
//
// The id begins with its vendor's namespace prefix (NamespacePrefix): twilio-...,
// vonage-..., api-.... The hash is not secret (anyone who knows both addresses can
// compute it), so the prefix, not the hash, is what keeps one vendor's ingress out of
// another vendor's conversations: see InNamespace.
func ConversationID(vendor, channel, customer, business string) string {
	h := sha256.Sum256([]byte(vendor + "\x00" + channel + "\x00" + customer + "\x00" + business))
	return NamespacePrefix(vendor) + channel + "-" + hex.EncodeToString(h[:10])
}

// NamespacePrefix is how every conversation id of a vendor begins: the vendor and a
// dash. Vendor names have no dash, so no id is in two namespaces.
func NamespacePrefix(vendor string) string { return vendor + "-" }

// InNamespace reports whether conversation id belongs to vendor's namespace: the
// JSON API (VendorAPI) may name its own conversations, but only ids with its prefix,
// so that it can never join a Twilio or Vonage conversation.
func InNamespace(vendor, id string) bool {
	rest, ok := strings.CutPrefix(id, NamespacePrefix(vendor))
	return ok && rest != ""
}

// WorkflowID is the Temporal workflow id of a conversation.
func WorkflowID(conversationID string) string { return "conversation/" + conversationID }

// ConversationFromWorkflowID inverts WorkflowID.
func ConversationFromWorkflowID(workflowID string) (string, bool) {
	return strings.CutPrefix(workflowID, "conversation/")
}

// IdempotencyKey is the key of the bot's reply to turn seq: SendKey{Kind:
// SendBotReply, ...}.Key(), whose format "<conversation>/<epoch>/<seq>" never
// changes (send-ledger entries and running conversations depend on it).
func IdempotencyKey(conversationID, epoch string, seq int) string {
	return SendKey{Kind: SendBotReply, ConversationID: conversationID, Epoch: epoch, Seq: seq}.Key()
}

// What an outbound message is, for its idempotency key.
type SendKind string

const (
	// SendBotReply is the bot's reply to a customer turn (Seq).
	SendBotReply SendKind = ""
	// SendAgentReply is an agent's message; Ref is the desk update's id, so that a
	// retried desk call (deduplicated by Temporal under the same update id) and a
	// retried workflow task both carry the same key.
	SendAgentReply SendKind = "agent"
	// SendFinalMessage is an escalation's final message; Ref is the escalation id.
	SendFinalMessage SendKind = "final"
)

// SendKey names one outbound message. Key is the one place where every
// idempotency key Switchboard sends with is built.
//
// Epoch names one lifetime of the conversation workflow (a chain of runs linked by
// continue-as-new: its FirstRunID). A conversation that closed after being idle and
// was started again by a later turn counts its turns and escalations from 1 again,
// and the epoch keeps those keys apart.
type SendKey struct {
	Kind           SendKind
	ConversationID string
	Epoch          string
	Seq            int    // SendBotReply: the turn's sequence number
	Ref            string // SendAgentReply: the update id; SendFinalMessage: the escalation id
}

// Key is the idempotency key: every retry of the same message carries the same
// key. The bot's reply keys read "<conversation>/<epoch>/<seq>"; the others
// "<conversation>/<epoch>/<kind>-<12 hex digits of sha256(ref)>", short enough
// for Vonage's client_ref whatever the update id the desk chose.
func (k SendKey) Key() string {
	if k.Kind == SendBotReply {
		return fmt.Sprintf("%s/%s/%d", k.ConversationID, k.Epoch, k.Seq)
	}
	h := sha256.Sum256([]byte(k.Ref))
	return fmt.Sprintf("%s/%s/%s-%s", k.ConversationID, k.Epoch, k.Kind, hex.EncodeToString(h[:6]))
}
