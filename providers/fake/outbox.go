package fake

import (
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
}

// Outbox records every message the fake CPaaS vendors accept, duplicates included:
// it is how tests and the dev tour see what customers would have received. Safe for
// concurrent use; the zero value is ready.
type Outbox struct {
	mu      sync.Mutex
	sent    []Sent
	waiters []chan struct{}
}

// Add records a message.
func (o *Outbox) Add(s Sent) {
	o.mu.Lock()
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
