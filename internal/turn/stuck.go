package turn

import (
	"errors"
	"time"
)

// Why a conversation is stuck: where its unfinished work waits.
const (
	// StuckJetStream: turns wait in JetStream that the conversation workflow never
	// got (Temporal unreachable, no worker, the workflow refusing updates).
	StuckJetStream = "jetstream"
	// StuckUnanswered: turns were processed but no CPaaS provider could send the
	// reply; the workflow keeps them for a replay.
	StuckUnanswered = "unanswered"
	// StuckDeliveryUnknown: turns whose reply may or may not have reached the
	// customer, and the vendor could not be asked. Automation never decides these:
	// a replay asks the vendor again, and sends only if it says it has not got the
	// reply, or if the operator asks for it (ReplayOptions.SendUnknown).
	StuckDeliveryUnknown = "delivery_unknown"
	// StuckEscalation: an escalation went past the SLA of its last queue with no
	// route left; the customer got the final message and waits for a human.
	StuckEscalation = "escalation"
	// StuckWorkflowTask: the conversation's workflow task keeps failing or timing
	// out (a bad deploy, say), as Temporal reports in TemporalReportedProblems. A
	// replay cannot help: the worker must be fixed or rolled back, and the
	// conversation then carries on by itself.
	StuckWorkflowTask = "workflow_task"
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
	Source string    `json:"source"` // one of the Stuck* sources above
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

// ReplayOptions say how to replay a stuck conversation.
type ReplayOptions struct {
	// DryRun only reports what would be done.
	DryRun bool
	// By says who asked, for the log.
	By string
	// SendUnknown sends the replies of unknown delivery that the vendor cannot
	// settle: the operator decided that a possible duplicate beats silence.
	SendUnknown bool
	// UpdateID, when set, is the workflow update's id: replays of the same stuck
	// work by several workers at once are then one replay.
	UpdateID string
}

// ReplayReport says what a replay of a stuck conversation did, or, in a dry run,
// would do.
type ReplayReport struct {
	ConversationID string `json:"conversation_id"`
	DryRun         bool   `json:"dry_run"`
	// Stuck is what the conversation was stuck on when the replay began.
	Stuck *Stuck `json:"stuck"`
	// Redelivered are the JetStream turns handed to the workflow, in stream order.
	Redelivered []Redelivery `json:"redelivered,omitempty"`
	// Resent are the outcomes of the unanswered replies sent again.
	Resent []Outcome `json:"resent,omitempty"`
	// Resend lists, in a dry run, the turns whose replies would be sent again.
	Resend []string `json:"resend,omitempty"`
	// Reopened is the flagged escalation put back on its first queue (in a dry
	// run: that would be).
	Reopened string `json:"reopened,omitempty"`
	// Error says why the replay stopped short, if it did.
	Error string `json:"error,omitempty"`
}

// Redelivery is one held turn a replay handed to its workflow.
type Redelivery struct {
	TurnID   string `json:"turn_id"`
	Sequence uint64 `json:"sequence"`
	// Result is accepted, duplicate (the workflow had it already), would_redeliver
	// (dry run) or failed.
	Result string `json:"result"`
	Error  string `json:"error,omitempty"`
}

// Errors of a replay.
var (
	ErrNotStuck       = errors.New("conversation is not stuck")
	ErrNotReplayable  = errors.New("a replay cannot move this conversation on")
	ErrNoConversation = errors.New("conversation not found")
)
