package turn

import "time"

// Hops of the stack a canary turn goes through, in order.
const (
	HopJetStream = "jetstream" // the API's publish to JetStream, up to the ack
	HopBridge    = "bridge"    // from the turn's receipt to its acceptance by the workflow
	HopNLU       = "nlu"       // the NLU provider that answered, its own latency
	HopCPaaS     = "cpaas"     // the CPaaS provider that sent the reply, its own latency
)

// CanaryReport is what one canary run found: the Canary activity's result, the
// body of GET /v1/health/stack, and (when a hop failed) the details of the failed
// CanaryWorkflow run.
type CanaryReport struct {
	// OK is true when every hop is OK.
	OK bool `json:"ok"`
	// Skipped says why the canary did not run (the policy has no canary section).
	Skipped string `json:"skipped,omitempty"`
	// Error names the failed hops and why, in one line.
	Error string `json:"error,omitempty"`

	TurnID         string `json:"turn_id,omitempty"`
	ConversationID string `json:"conversation_id,omitempty"`
	Business       string `json:"business,omitempty"` // the business name of the policy
	To             string `json:"to,omitempty"`       // the business address written to
	Channel        string `json:"channel,omitempty"`
	Customer       string `json:"customer,omitempty"` // who the reply goes to

	StartedAt time.Time `json:"started_at"`
	// TotalMS is from the publish to the outcome's arrival, in milliseconds.
	TotalMS float64 `json:"total_ms"`
	// Intent is what the NLU understood; Status and Reason are the turn outcome's.
	Intent string `json:"intent,omitempty"`
	Status string `json:"status,omitempty"`
	Reason string `json:"reason,omitempty"`

	Hops CanaryHops `json:"hops"`
}

// CanaryHops are the hops of a canary turn.
type CanaryHops struct {
	JetStream CanaryHop `json:"jetstream"`
	Bridge    CanaryHop `json:"bridge"`
	NLU       CanaryHop `json:"nlu"`
	CPaaS     CanaryHop `json:"cpaas"`
}

// All lists the hops in order.
func (h CanaryHops) All() []CanaryHop { return []CanaryHop{h.JetStream, h.Bridge, h.NLU, h.CPaaS} }

// CanaryHop is one hop's result.
type CanaryHop struct {
	Name string `json:"name"`
	OK   bool   `json:"ok"`
	// Provider answered the hop (NLU and CPaaS).
	Provider string `json:"provider,omitempty"`
	// Degraded: the hop worked, but not through the channel's first provider.
	Degraded bool `json:"degraded,omitempty"`
	// LatencyMS is the hop's latency in milliseconds (0 when it was not reached).
	LatencyMS float64 `json:"latency_ms"`
	// Error says why the hop is not OK.
	Error string `json:"error,omitempty"`
	// NotReached: the turn never got to this hop (an earlier one failed, or the run
	// timed out before it); the hop is not OK, but it did not fail itself.
	NotReached bool `json:"not_reached,omitempty"`
	// Note says what degraded an OK hop, or what is unknown about it.
	Note string `json:"note,omitempty"`
}

// Latency is LatencyMS as a duration.
func (h CanaryHop) Latency() time.Duration {
	return time.Duration(h.LatencyMS * float64(time.Millisecond))
}
