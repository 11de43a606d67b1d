package turn

import "time"

// Escalation states.
const (
	EscalationQueued       = "queued"       // waiting in a queue for an agent
	EscalationClaimed      = "claimed"      // an agent took it, not yet acknowledged
	EscalationAcknowledged = "acknowledged" // an agent acknowledged within the SLA
	EscalationFlagged      = "flagged"      // no queue acknowledged: customer told, ops alerted
	// EscalationResolved is what a resolve answers: the conversation is the bot's
	// again. A conversation never holds a resolved escalation.
	EscalationResolved = "resolved"
)

// Escalation is a tracked promise that a human will take the conversation.
type Escalation struct {
	ID             string    `json:"id"`
	ConversationID string    `json:"conversation_id"`
	Customer       string    `json:"customer"`
	Channel        string    `json:"channel"`
	Reason         string    `json:"reason"`
	Queue          string    `json:"queue"`
	QueueIndex     int       `json:"queue_index"`
	Queues         []Queue   `json:"queues"`
	FinalMessage   string    `json:"final_message,omitempty"`
	State          string    `json:"state"`
	Agent          string    `json:"agent,omitempty"`
	Since          time.Time `json:"since"`
	Deadline       time.Time `json:"deadline"` // ack due by
	// LastText is the customer's message that caused the escalation.
	LastText string `json:"last_text,omitempty"`
}

// Queue is a human queue with its acknowledgement SLA.
type Queue struct {
	Name   string        `json:"name"`
	AckSLA time.Duration `json:"ack_sla"`
}
