package drill

import (
	"fmt"
	"sync"
	"time"

	"github.com/switchboard-cc/switchboard/internal/turn"
	"github.com/switchboard-cc/switchboard/providers/fake"
)

// History is everything a drill saw, Jepsen-style: what it asked of the stack and
// what came of it, as observed from outside. The checker reads nothing else, so a
// history written to a file can be checked again.
type History struct {
	Scenario string    `json:"scenario"`
	Start    time.Time `json:"start"` // the load's start: every offset counts from it
	// LoadEnd is when the load stopped sending; SettledAt when the drill stopped
	// waiting (Settled says whether every accepted turn had its answer by then).
	LoadEnd   time.Time `json:"load_end"`
	SettledAt time.Time `json:"settled_at"`
	Settled   bool      `json:"settled"`

	Conversations []Conversation `json:"conversations"`
	Turns         []TurnRecord   `json:"turns"`
	// Skipped counts turns the load's rate asked for while every conversation was
	// still waiting on its previous turn: the load generator fell behind.
	Skipped int `json:"skipped"`
	// Sends is the fakes' outbox at the end: every message a CPaaS fake accepted,
	// duplicates included, with its idempotency key.
	Sends []fake.Sent `json:"sends"`
	// Escalations are the escalations published to SWITCHBOARD_ESCALATIONS.
	Escalations []EscalationEvent `json:"escalations"`
	// Agents is how many drill agents worked the desk: with none, an escalation
	// handed to a queue is as far as a drill can follow it.
	Agents int         `json:"agents"`
	Desk   []DeskEvent `json:"desk"`
	// Transcripts are read once the stack has settled, by conversation id.
	Transcripts map[string]turn.Transcript `json:"transcripts"`
	// Unreadable names the conversations whose transcript could not be read, with
	// the error.
	Unreadable map[string]string `json:"unreadable,omitempty"`
	Stuck      []turn.Stuck      `json:"stuck"`
	Breakers   []BreakerSample   `json:"breakers"`
	Faults     []FaultEvent      `json:"faults"`
	// CanaryCustomers are the stack canary's addresses: its replies answer no turn of
	// the drill.
	CanaryCustomers []string `json:"canary_customers,omitempty"`
	// Notes are what went wrong with the drill itself (a fault that could not be
	// set, a stream that could not be read): the report shows them.
	Notes []string `json:"notes,omitempty"`
}

// Conversation is one customer of the drill.
type Conversation struct {
	ID       string `json:"id"`
	Ingress  string `json:"ingress"` // one of Ingresses
	Customer string `json:"customer"`
	Business string `json:"business"`
}

// TurnRecord is one turn the drill sent: every attempt to deliver its webhook.
type TurnRecord struct {
	ID             string    `json:"id"` // the turn id the stack derives: <vendor>:<message id>
	MessageID      string    `json:"message_id"`
	ConversationID string    `json:"conversation_id"`
	Index          int       `json:"index"` // its place in its conversation, from 0: the order it was sent in
	Text           string    `json:"text"`
	Attempts       []Attempt `json:"attempts"`
}

// Attempt is one delivery of a turn's webhook.
type Attempt struct {
	API   string    `json:"api"`
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
	// Status is the HTTP status of the answer; 0 when none came.
	Status int    `json:"status,omitempty"`
	Error  string `json:"error,omitempty"`
	// CutOff: the request may have reached the api, and no answer came (the
	// connection broke, or the answer did not come in time). The turn may or may not
	// be stored.
	CutOff bool `json:"cut_off,omitempty"`
}

// Fate of a turn's webhook, from its attempts.
const (
	FateAccepted = "accepted" // some attempt was answered 2xx
	FateMaybe    = "maybe"    // no 2xx, but an attempt was cut off: may or may not be stored
	FateRefused  = "refused"  // every attempt answered otherwise, or never reached an api
)

// Fate says what the stack told the customer's vendor about the turn.
func (t TurnRecord) Fate() string {
	maybe := false
	for _, a := range t.Attempts {
		if a.Status/100 == 2 {
			return FateAccepted
		}
		maybe = maybe || a.CutOff
	}
	if maybe {
		return FateMaybe
	}
	return FateRefused
}

// Sent is when the turn's first attempt began.
func (t TurnRecord) Sent() time.Time {
	if len(t.Attempts) == 0 {
		return time.Time{}
	}
	return t.Attempts[0].Start
}

// AcceptedAt is when the 2xx came; zero if none did.
func (t TurnRecord) AcceptedAt() time.Time {
	for _, a := range t.Attempts {
		if a.Status/100 == 2 {
			return a.End
		}
	}
	return time.Time{}
}

// EscalationEvent is one publish on SWITCHBOARD_ESCALATIONS: an escalation queued
// (on a queue's subject) or flagged (no queue acknowledged it).
type EscalationEvent struct {
	At             time.Time `json:"at"`
	ID             string    `json:"id"`
	ConversationID string    `json:"conversation_id"`
	Queue          string    `json:"queue"`
	State          string    `json:"state"`
}

// DeskEvent is one action of a drill agent at the desk.
type DeskEvent struct {
	At             time.Time `json:"at"`
	Agent          string    `json:"agent"`
	Action         string    `json:"action"` // claim, ack, reply, resolve
	EscalationID   string    `json:"escalation_id,omitempty"`
	ConversationID string    `json:"conversation_id,omitempty"`
	Status         int       `json:"status,omitempty"`
	Error          string    `json:"error,omitempty"`
}

// OK reports whether the desk did what the agent asked.
func (d DeskEvent) OK() bool { return d.Status/100 == 2 }

// BreakerSample is a provider's breaker state as an api reported it.
type BreakerSample struct {
	At       time.Time `json:"at"`
	Provider string    `json:"provider"`
	State    string    `json:"state"` // closed, open, half-open; "" when no api answered
}

// FaultEvent is one fault of the timeline as it happened.
type FaultEvent struct {
	Kind  string    `json:"kind"`
	Label string    `json:"label"`
	Start time.Time `json:"start"`
	End   time.Time `json:"end"` // zero while it holds
	// Error is set when the drill could not cause the fault, or not undo it.
	Error string `json:"error,omitempty"`
}

// recorder collects a History while the drill runs. Safe for concurrent use.
type recorder struct {
	mu sync.Mutex
	h  History
}

func (r *recorder) turn(t TurnRecord) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.h.Turns = append(r.h.Turns, t)
	return len(r.h.Turns) - 1
}

func (r *recorder) attempt(i int, a Attempt) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.h.Turns[i].Attempts = append(r.h.Turns[i].Attempts, a)
}

func (r *recorder) skipped() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.h.Skipped++
}

func (r *recorder) desk(e DeskEvent) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.h.Desk = append(r.h.Desk, e)
}

func (r *recorder) deskEvents() []DeskEvent {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]DeskEvent(nil), r.h.Desk...)
}

func (r *recorder) breakers(s []BreakerSample) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.h.Breakers = append(r.h.Breakers, s...)
}

// fault records a fault's start and returns its index, for faultEnd.
func (r *recorder) fault(e FaultEvent) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.h.Faults = append(r.h.Faults, e)
	return len(r.h.Faults) - 1
}

func (r *recorder) faultEnd(i int, end time.Time, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.h.Faults[i].End = end
	if err != nil {
		if r.h.Faults[i].Error != "" {
			r.h.Faults[i].Error += "; "
		}
		r.h.Faults[i].Error += err.Error()
	}
}

func (r *recorder) note(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.h.Notes = append(r.h.Notes, fmt.Sprintf(format, args...))
}

// progress counts turns for the progress line.
func (r *recorder) progress() (sent, accepted int, active []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, t := range r.h.Turns {
		sent++
		if t.Fate() == FateAccepted {
			accepted++
		}
	}
	for _, f := range r.h.Faults {
		if f.End.IsZero() {
			active = append(active, f.Label)
		}
	}
	return sent, accepted, active
}

// snapshot copies the turns recorded so far.
func (r *recorder) turns() []TurnRecord {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]TurnRecord, len(r.h.Turns))
	for i, t := range r.h.Turns {
		t.Attempts = append([]Attempt(nil), t.Attempts...)
		out[i] = t
	}
	return out
}
