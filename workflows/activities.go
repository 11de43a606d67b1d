package workflows

import (
	"time"

	"github.com/switchboard-cc/switchboard/internal/turn"
)

// Activity names. Package workers registers its implementations under these names.
const (
	ActivityRoute    = "Route"
	ActivityDetect   = "Detect"
	ActivitySend     = "Send"
	ActivityPublish  = "PublishOutcome"
	ActivityEscalate = "Escalate"
)

// Application error types that activities return, so the workflow can decide without
// parsing messages. Rejected errors are non-retryable.
const (
	ErrTypeRejected    = "ProviderRejected"
	ErrTypeUnavailable = "ProviderUnavailable"
	ErrTypeRateLimited = "ProviderRateLimited"
	ErrTypeTimeout     = "ProviderTimeout"
	ErrTypeUnknown     = "UnknownProvider"
	// ErrTypeInFlight: another attempt (of a worker that died mid-send, say) holds
	// the reply's send claim; no provider may send it until the claim lapses. The
	// error's details carry the time.Time until which the claim holds.
	ErrTypeInFlight = "SendInFlight"
	// ErrTypeDeliveryUnknown: an attempt for this reply may have reached the
	// customer and the vendor could not be asked; nothing is sent under its key
	// until the vendor can be asked or an operator decides (SendInput.SendUnknown).
	ErrTypeDeliveryUnknown = "DeliveryUnknown"
	// ErrTypeHedgeRefused: a hedge was not started, its provider having as many
	// hedges in flight as the policy allows (hedge_max_in_flight). It says nothing
	// about the provider; the attempt it would have run beside goes on.
	ErrTypeHedgeRefused = "HedgeRefused"
)

// DetectInput is one NLU attempt.
type DetectInput struct {
	Provider       string
	ConversationID string
	Text           string
	LanguageCode   string
	// Seq and Attempt are the turn and the attempt's place among the turn's NLU
	// attempts (1-based), so that attempts racing each other can tell each other
	// apart. Zero in attempts recorded before hedging.
	Seq     int `json:",omitempty"`
	Attempt int `json:",omitempty"`
	// HedgeOf, on a hedge, is the Attempt it runs beside. The hedge waits Delay
	// before it calls, or less if that attempt fails first, and is refused
	// (ErrTypeHedgeRefused) when its provider has too many hedges in flight.
	HedgeOf int           `json:",omitempty"`
	Delay   time.Duration `json:",omitempty"`
	// SlowAfter is the provider's hedge delay: an attempt cancelled after it had
	// waited this long for the provider (another answered first) counts as a slow
	// call against the provider's breaker. 0: a cancelled attempt counts for
	// nothing.
	SlowAfter time.Duration `json:",omitempty"`
}

// DetectOutput is what an NLU provider understood.
type DetectOutput struct {
	Intent     string
	Reply      string
	Confidence float32
	// Elapsed is the provider's latency for this attempt.
	Elapsed time.Duration
}

// SendInput is one CPaaS attempt.
type SendInput struct {
	Provider string
	Message  turn.Message
	// Forced skips the breaker check (CPaaSCandidate.Forced).
	Forced bool `json:",omitempty"`
	// SendUnknown: an operator's replay decided to send a reply whose earlier
	// delivery is unknown and cannot be settled by asking the vendor.
	SendUnknown bool `json:",omitempty"`
}

// SendOutput is the vendor's receipt.
type SendOutput struct {
	MessageID string
	// Reused is true when the send ledger already held a receipt for this
	// idempotency key, so nothing was sent again.
	Reused bool
	// Elapsed is the provider's latency for this attempt.
	Elapsed time.Duration
}

// PublishInput announces a processed turn to event consumers and ?wait callers.
type PublishInput struct {
	Outcome turn.Outcome
	Vendor  string
	Channel string
}

// EscalateInput publishes an escalation to a human queue.
type EscalateInput struct {
	Escalation turn.Escalation
}
