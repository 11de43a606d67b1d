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
	// Canary marks a reply to a stack canary's customer (Outbox.SetCanaryCustomers):
	// GET /dev/outbox leaves those out unless asked (?canary=1).
	Canary bool `json:"canary,omitempty"`
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
	if o.canary[bareAddress(s.To)] {
		s.Canary = true
	}
	o.sent = append(o.sent, s)
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
