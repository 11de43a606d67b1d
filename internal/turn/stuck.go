package turn

import "time"

// Why a conversation is stuck: where its unfinished work waits.
const (
	// StuckJetStream: turns wait in JetStream that the conversation workflow never
	// got (Temporal unreachable, no worker, the workflow refusing updates).
	StuckJetStream = "jetstream"
	// StuckUnanswered: turns were processed but no CPaaS provider could send the
	// reply; the workflow keeps them for a replay.
	StuckUnanswered = "unanswered"
	// StuckEscalation: an escalation went past the SLA of its last queue with no
	// route left; the customer got the final message and waits for a human.
	StuckEscalation = "escalation"
)

// Stuck is a conversation that made no progress and waits for a replay.
type Stuck struct {
	ConversationID string `json:"conversation_id"`
	// Since is when its oldest stuck turn (or escalation) began to wait.
	Since   time.Time     `json:"since"`
	Reasons []StuckReason `json:"reasons"`
}

// StuckReason is one kind of unfinished work of a stuck conversation.
type StuckReason struct {
	Source string    `json:"source"` // StuckJetStream, StuckUnanswered or StuckEscalation
	Since  time.Time `json:"since"`
	Detail string    `json:"detail"`
	// Turns are the turn ids concerned (none for an escalation).
	Turns []string `json:"turns,omitempty"`
	// Sequences are the JetStream stream sequences of StuckJetStream turns.
	Sequences []uint64 `json:"sequences,omitempty"`
}

// Add merges r into s, keeping Since the oldest.
func (s *Stuck) Add(r StuckReason) {
	s.Reasons = append(s.Reasons, r)
	if s.Since.IsZero() || (!r.Since.IsZero() && r.Since.Before(s.Since)) {
		s.Since = r.Since
	}
}
