package turn

import "time"

// Status of a processed turn.
const (
	StatusReplied    = "replied"    // a reply left through a CPaaS provider, or is spoken on the call (Spoken)
	StatusEscalated  = "escalated"  // the bot handed the conversation to a human queue
	StatusFailed     = "failed"     // no reply could be sent; Reason says why
	StatusForwarded  = "forwarded"  // a human owns the conversation; the turn is theirs
	StatusSuppressed = "suppressed" // the reply was stale and the policy says not to send it
)

// Outcome is what the conversation workflow recorded for one turn. It is the unit of
// the transcript, the payload of turn-completed events, and the answer of the JSON
// API's ?wait mode.
type Outcome struct {
	TurnID         string    `json:"turn_id"`
	ConversationID string    `json:"conversation_id"`
	Seq            int       `json:"seq"` // 1-based position of the turn in its conversation
	Text           string    `json:"text"`
	ReceivedAt     time.Time `json:"received_at"`
	Intent         string    `json:"intent,omitempty"`
	Reply          string    `json:"reply,omitempty"`
	NLUProvider    string    `json:"nlu_provider,omitempty"`
	CPaaSProvider  string    `json:"cpaas_provider,omitempty"`
	MessageID      string    `json:"message_id,omitempty"` // the CPaaS provider's id for the reply
	Status         string    `json:"status"`
	Reason         string    `json:"reason,omitempty"`
	Escalation     string    `json:"escalation,omitempty"` // why the turn escalated
	// AcceptedAt is when the conversation workflow accepted the turn from the bridge.
	AcceptedAt  time.Time `json:"accepted_at,omitzero"`
	CompletedAt time.Time `json:"completed_at"`
	// NLUDuration and CPaaSDuration are the answering providers' own latencies,
	// written as nlu_duration and cpaas_duration duration strings; the _ns tags
	// are the form read from payloads recorded before (duration.go).
	NLUDuration   time.Duration `json:"nlu_duration_ns,omitempty"`
	CPaaSDuration time.Duration `json:"cpaas_duration_ns,omitempty"`
	// Spoken is set on the outcome of a voice turn: the reply is for the call's
	// webhook to speak, and no CPaaS provider sends it.
	Spoken bool `json:"spoken,omitempty"`
	// Replayed is set on an outcome whose reply was sent by a replay.
	Replayed bool `json:"replayed,omitempty"`
	// DeliveryUnknown is set on a failed outcome whose reply may or may not have
	// reached the customer (a send timed out after the vendor got it, and the
	// vendor could not be asked). Nothing is sent under its key until a replay
	// settles it.
	DeliveryUnknown bool `json:"delivery_unknown,omitempty"`
	// IdempotencyKey is set when the reply is not the bot's reply to turn Seq (an
	// escalation's final message): a replay sends it again under this key.
	IdempotencyKey string `json:"idempotency_key,omitempty"`
	// Failover lists the provider attempts that failed before the outcome, in
	// order: the NLU providers passed over, then the CPaaS providers.
	Failover []FailedAttempt `json:"failover,omitempty"`
	// Hedged lists the NLU attempts cancelled because another attempt answered
	// first: a provider slower than its hedge delay that a hedge beat, or a hedge
	// that the slow provider beat after all. NLUProvider is the one that answered.
	Hedged []FailedAttempt `json:"hedged,omitempty"`
}

// FailedAttempt is one provider that failed a turn (after its retries).
type FailedAttempt struct {
	Step     string `json:"step"` // "nlu" or "cpaas"
	Provider string `json:"provider"`
	Error    string `json:"error"`
}

// Transcript is a conversation as the workflow knows it.
type Transcript struct {
	ConversationID string    `json:"conversation_id"`
	Vendor         string    `json:"vendor"`
	Channel        string    `json:"channel"`
	Customer       string    `json:"customer"`
	Business       string    `json:"business"`
	Status         string    `json:"status"`
	Turns          []Outcome `json:"turns"`
	// Pending counts turns accepted but not yet processed.
	Pending int `json:"pending"`
	// Escalation is the open escalation, if any.
	Escalation *Escalation `json:"escalation,omitempty"`
	// Stuck says what the conversation is stuck on, if it is.
	Stuck *Stuck `json:"stuck,omitempty"`
}
