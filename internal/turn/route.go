package turn

import "time"

// RouteInput asks which providers may serve a turn of a conversation.
type RouteInput struct {
	Vendor  string
	Channel string
	From    string // business address the customer wrote to
}

// Route is the ordered list of providers to try for one turn.
type Route struct {
	NLU   []NLUCandidate
	CPaaS []CPaaSCandidate
	// FallbackReply is what the customer hears when no NLU provider could answer.
	FallbackReply string
	// LanguageCode for NLU queries.
	LanguageCode string
	// Escalation says when and where the conversation goes to a human.
	Escalation EscalationPolicy
	// StaleReply says what becomes of a reply to a turn that waited too long.
	StaleReply StaleReply
}

// StaleReply is what happens to the reply to a turn older than After: it is
// prefixed with Apology, or, with Suppress, not sent at all. After 0 disables it
// (routes recorded before the policy had the setting).
type StaleReply struct {
	After    time.Duration
	Suppress bool
	Apology  string
}

// EscalationPolicy says when a conversation is handed to a human, and where.
type EscalationPolicy struct {
	// HandoffIntents escalate as soon as one of them is detected.
	HandoffIntents []string
	// MaxNoMatch escalates after this many no-match turns in a row (0: never).
	MaxNoMatch int
	// Queues are tried in order; each must acknowledge within its AckSLA.
	Queues []Queue
	// EscalatingReply tells the customer a human is on the way.
	EscalatingReply string
	// FinalMessage is sent when no queue acknowledged in time.
	FinalMessage string
}

// Attempt bounds one provider attempt: an activity (local when it fits in the
// workflow task) with its own timeout and a capped number of retries, the only
// retry layer for that hop.
type Attempt struct {
	Timeout     time.Duration
	MaxAttempts int32
}

// AttemptGrace is how much longer an attempt's activity may run than its timeout:
// the activity bounds the vendor call by the timeout, and returns its classified
// timeout before the SDK's deadline, so no attempt is ever cut off by the SDK
// ("LocalActivity completed after activity deadline") nor retried for it.
const AttemptGrace = 500 * time.Millisecond

// NLUCandidate is one NLU provider to try.
type NLUCandidate struct {
	Provider string
	Attempt  Attempt
	// Local marks the in-process last-resort NLU: its no-match means the remote
	// providers could not be asked, so the turn escalates.
	Local bool
	// HedgeAfter is how long an attempt on this provider may go unanswered before
	// the next remote candidate is started beside it (workflows' hedge.go); 0: never.
	HedgeAfter time.Duration `json:",omitempty"`
}

// CPaaSCandidate is one CPaaS provider to try, with the business address that the
// reply leaves from on that provider.
type CPaaSCandidate struct {
	Provider string
	Channel  string
	From     string
	Attempt  Attempt
	// Forced: routed although its breaker is open, because every CPaaS breaker of
	// the turn is; the attempt goes out regardless of the breaker.
	Forced bool `json:",omitempty"`
}
