package fake

import (
	"strings"
	"sync"
	"time"
)

// Sent is one message a fake CPaaS vendor was asked to deliver.
type Sent struct {
	Vendor         string    `json:"vendor"`
	MessageID      string    `json:"message_id"`
	Channel        string    `json:"channel,omitempty"`
	From           string    `json:"from"`
	To             string    `json:"to"`
	Body           string    `json:"body"`
	IdempotencyKey string    `json:"idempotency_key"`
	At             time.Time `json:"at"`
	// ConversationID and TurnID are what a receiver of webhook replies (the chat
	// receiver) was told of the reply's conversation and the turn it answers.
	ConversationID string `json:"conversation_id,omitempty"`
	TurnID         string `json:"turn_id,omitempty"`
	// Canary marks a reply to a stack canary's customer (Outbox.SetCanaryCustomers):
	// GET /dev/outbox leaves those out unless asked (?canary=1).
	Canary bool `json:"canary,omitempty"`
	// Deliveries counts the requests that delivered this message to a receiver
	// that deduplicates on the idempotency key (the chat receiver): 1, or more
	// when the same reply was posted again and not shown twice. 0 for vendors that
	// keep every request as its own message.
	Deliveries int `json:"deliveries,omitempty"`
}

// Outbox records every message the fake CPaaS vendors accept, duplicates included:
// it is how tests and the dev tour see what customers would have received. Safe for
// concurrent use; the zero value is ready.
type Outbox struct {
	mu      sync.Mutex
	sent    []Sent
	waiters []chan struct{}
	canary  map[string]bool // the canary customers' addresses, without a leading +
}

// SetCanaryCustomers names the addresses of the stack canary's customers: messages
// to them are marked Canary from then on.
func (o *Outbox) SetCanaryCustomers(addrs ...string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.canary = map[string]bool{}
	for _, a := range addrs {
		if a != "" {
			o.canary[bareAddress(a)] = true
		}
	}
}

// bareAddress drops a leading '+': Vonage writes numbers without it.
func bareAddress(a string) string { return strings.TrimPrefix(a, "+") }

// Add records a message.
func (o *Outbox) Add(s Sent) {
	o.mu.Lock()
	o.add(s)
	o.wake()
}

// AddOnce records s unless vendor s.Vendor already has a message under
// s.IdempotencyKey, as a receiver that deduplicates on the key shows it: a first
// delivery is recorded with Deliveries 1, a repeat only counts one more delivery of
// the message recorded first. It returns the recorded message and whether s was new.
func (o *Outbox) AddOnce(s Sent) (Sent, bool) {
	o.mu.Lock()
	for i := range o.sent {
		if m := &o.sent[i]; m.Vendor == s.Vendor && m.IdempotencyKey == s.IdempotencyKey {
			m.Deliveries++
			kept := *m
			o.wake()
			return kept, false
		}
	}
	s.Deliveries = 1
	s = o.add(s)
	o.wake()
	return s, true
}

// add records s. Requires o.mu.
func (o *Outbox) add(s Sent) Sent {
	if o.canary[bareAddress(s.To)] {
		s.Canary = true
	}
	o.sent = append(o.sent, s)
	return s
}

// wake unlocks o.mu and tells the waiters that the outbox changed.
func (o *Outbox) wake() {
	w := o.waiters
	o.waiters = nil
	o.mu.Unlock()
	for _, c := range w {
		close(c)
	}
}

// List returns a copy of every recorded message, oldest first.
func (o *Outbox) List() []Sent {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]Sent(nil), o.sent...)
}

// Changed returns a channel closed at the next Add.
func (o *Outbox) Changed() <-chan struct{} {
	o.mu.Lock()
	defer o.mu.Unlock()
	c := make(chan struct{})
	o.waiters = append(o.waiters, c)
	return c
}
