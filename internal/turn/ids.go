package turn

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"time"
)

// Every id and idempotency key Switchboard derives is built here: turn ids,
// conversation and workflow ids, escalation ids, the keys replies are sent under,
// the update ids and Nats-Msg-Ids that make a retried operation the same operation.
// Their formats never change: send-ledger entries, JetStream's duplicate window and
// running conversations depend on them.

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

// CallConversationID is the conversation of a phone call: one per call (callID,
// the vendor's call id), or, when perCaller, the caller's conversation with the
// business on the voice channel, shared by all their calls.
func CallConversationID(vendor, callID, caller, business string, perCaller bool) string {
	if perCaller {
		return ConversationID(vendor, ChannelVoice, caller, business)
	}
	return ConversationID(vendor, ChannelVoice, "call:"+callID, business)
}

// CallTurnID is the id of a call's n-th turn (what the caller said at its n-th
// gather), or of the call's step named by step: a vendor's retried request for the
// same gather is the same turn.
func CallTurnID(vendor, callID, step string) string { return ID(vendor, callID+"/"+step) }

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

// WorkflowIDPrefix begins the Temporal workflow id of every conversation.
const WorkflowIDPrefix = "conversation/"

// WorkflowID is the Temporal workflow id of a conversation.
func WorkflowID(conversationID string) string { return WorkflowIDPrefix + conversationID }

// ConversationFromWorkflowID inverts WorkflowID.
func ConversationFromWorkflowID(workflowID string) (string, bool) {
	return strings.CutPrefix(workflowID, WorkflowIDPrefix)
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

// EscalationID is the id of a conversation's n-th escalation (1-based):
// "<conversation>/esc-<n>".
func EscalationID(conversationID string, n int) string {
	return fmt.Sprintf("%s/esc-%d", conversationID, n)
}

// CountedAgentReplyKey is the key of an agent's n-th reply (1-based) after the bot's
// reply to turn seq, as conversations recorded before agent reply keys were built
// from the desk update's id (SendAgentReply) made it: "<bot reply key>/agent-<n>".
func CountedAgentReplyKey(conversationID, epoch string, seq, n int) string {
	return fmt.Sprintf("%s/agent-%d", IdempotencyKey(conversationID, epoch, seq), n)
}

// DeskUpdateID is the workflow update id of a desk action (update, the update's
// name) on an escalation, from the caller's Idempotency-Key: the same call retried
// is the same update.
func DeskUpdateID(update, escalationID, idempotencyKey string) string {
	return update + "/" + escalationID + "/" + idempotencyKey
}

// RedriveUpdateID is the update id of an automatic redrive of a stuck conversation,
// from what the redrive is about (parts: its transcript's length and last
// completion, the stuck turns): every worker redriving the same stuck work makes the
// same id, so Temporal runs the replay once.
func RedriveUpdateID(parts []string) string {
	sum := sha256.Sum256([]byte(strings.Join(parts, "\n")))
	return "redrive/" + hex.EncodeToString(sum[:8])
}

// DeadLetterMsgID is the Nats-Msg-Id of the dead-letter copy of the turn at
// sequence seq of the turns stream.
func DeadLetterMsgID(seq uint64) string { return fmt.Sprintf("dead:%d", seq) }

// DeadLetterReplayMsgID is the Nats-Msg-Id a replay of the dead-letter entry at
// sequence seq republishes its turn with: a replay run twice stores it once.
func DeadLetterReplayMsgID(seq uint64) string { return fmt.Sprintf("redrive:%d", seq) }

// CanaryScheduleID is the id of the Temporal Schedule that starts the stack canary,
// and of the workflows it starts.
const CanaryScheduleID = "switchboard-canary"

// CanaryConversationID is the conversation of the stack canary's customer writing to
// a business address on a channel.
func CanaryConversationID(channel, to, customer string) string {
	h := sha256.Sum256([]byte(channel + "\x00" + to + "\x00" + customer))
	return "canary-" + channel + "-" + hex.EncodeToString(h[:6])
}

// canaryTurnPrefix starts every canary turn id. Ingress builds ids as "<vendor>:<message
// id>" with vendor twilio, vonage or api, so no customer turn can carry it.
const canaryTurnPrefix = "canary:"

// CanaryTurnID is the id of the canary turn of a run started at now, nonce making it
// unique: "canary:<UTC time to the nanosecond>-<nonce in hex>".
func CanaryTurnID(now time.Time, nonce []byte) string {
	return canaryTurnPrefix + now.UTC().Format("20060102T150405.000000000Z") + "-" + hex.EncodeToString(nonce)
}

// IsCanaryTurn reports whether turnID is a canary turn's.
func IsCanaryTurn(turnID string) bool { return strings.HasPrefix(turnID, canaryTurnPrefix) }
