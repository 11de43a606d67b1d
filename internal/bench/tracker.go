package bench

import (
	"context"
	"sync"
	"time"

	"github.com/switchboard-cc/switchboard/deploy"
	"github.com/switchboard-cc/switchboard/providers/fake"
	"github.com/switchboard-cc/switchboard/providers/routing"
)

// canaryCustomer is the dev policy's canary customer: its schedule sends a canary
// turn every minute, whose reply answers no bench turn.
var canaryCustomer = sync.OnceValue(func() string {
	p, err := routing.Parse(deploy.DevPolicy)
	if err != nil || p.Canary == nil {
		return ""
	}
	return p.Canary.Customer
})

// tracker matches replies in the fake outbox to the turns waiting for them, by
// customer address, first come first served: the replies of one conversation leave
// in the order of its turns.
type tracker struct {
	outbox *fake.Outbox

	mu         sync.Mutex
	waiters    map[string][]chan fake.Sent
	unexpected int // replies nobody waited for
}

func newTracker(o *fake.Outbox) *tracker {
	return &tracker{outbox: o, waiters: make(map[string][]chan fake.Sent)}
}

// expect registers a turn to customer to about to be sent. The channel receives its
// reply. A waiter that gives up stays registered, so that a late reply is consumed
// by it and not taken for the next turn's.
func (t *tracker) expect(customer string) <-chan fake.Sent {
	c := make(chan fake.Sent, 1)
	t.mu.Lock()
	t.waiters[customer] = append(t.waiters[customer], c)
	t.mu.Unlock()
	return c
}

// minPoll spaces out copies of the outbox, which grow with it. Latencies come from
// the time the fake recorded each reply, so coalescing does not bias them; it only
// delays a closed-loop conversation's next turn by at most this much.
const minPoll = time.Millisecond

// run dispatches replies until ctx ends. It only looks at replies added after
// it started.
func (t *tracker) run(ctx context.Context) {
	seen := len(t.outbox.List())
	for {
		changed := t.outbox.Changed()
		list := t.outbox.List()
		if len(list) > seen {
			t.dispatch(list[seen:])
			seen = len(list)
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return
		}
		select {
		case <-time.After(minPoll):
		case <-ctx.Done():
			return
		}
	}
}

func (t *tracker) dispatch(sent []fake.Sent) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, s := range sent {
		q := t.waiters[s.To]
		if len(q) == 0 {
			if s.To != canaryCustomer() {
				t.unexpected++
			}
			continue
		}
		q[0] <- s
		if len(q) == 1 {
			delete(t.waiters, s.To)
		} else {
			t.waiters[s.To] = q[1:]
		}
	}
}

func (t *tracker) unexpectedReplies() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.unexpected
}

// forget withdraws a waiter whose turn was refused, so no reply can be taken for it.
func (t *tracker) forget(customer string, c <-chan fake.Sent) {
	t.mu.Lock()
	defer t.mu.Unlock()
	q := t.waiters[customer]
	for i, w := range q {
		if w == c {
			q = append(q[:i:i], q[i+1:]...)
			break
		}
	}
	if len(q) == 0 {
		delete(t.waiters, customer)
	} else {
		t.waiters[customer] = q
	}
}
