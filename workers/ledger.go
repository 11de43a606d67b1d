package workers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// SendLedger records, per reply idempotency key, whether the reply was sent and by
// whom. It is what keeps a retried or replayed send from reaching the customer twice:
// a local activity retried after its result was lost (a worker crash, a failed
// workflow task) finds the receipt here instead of sending again.
//
// An attempt claims the key before it sends and confirms it after. A claim whose
// owner failed definitely (the vendor refused or was unreachable) is released so the
// next attempt may send. A claim holds until its attempt's deadline (the local
// activity's timeout, after which the owner's call to the vendor is cancelled) plus
// Grace. A claim whose owner vanished mid-send is taken over after that: the reply
// may then reach the customer twice, which is preferred over never reaching them.
// That window is the one duplicate this design admits.
type SendLedger struct {
	kv    jetstream.KeyValue
	Grace time.Duration
}

// DefaultClaimGrace is the default of SendLedger.Grace: room for clock skew between
// workers and for the owner's last ledger write.
const DefaultClaimGrace = 5 * time.Second

// maxClaim bounds a claim made without a deadline, and claims written before claims
// carried one.
const maxClaim = 2 * time.Minute

// NewSendLedger uses the given bucket (streams.SendsBucket).
func NewSendLedger(kv jetstream.KeyValue) *SendLedger {
	return &SendLedger{kv: kv, Grace: DefaultClaimGrace}
}

type ledgerEntry struct {
	State     string    `json:"state"` // pending | sent
	Provider  string    `json:"provider"`
	MessageID string    `json:"message_id,omitempty"`
	At        time.Time `json:"at"`
	// Until is when a pending claim stops holding.
	Until time.Time `json:"until,omitzero"`
}

const (
	statePending = "pending"
	stateSent    = "sent"
)

// Claim is the result of claiming a key.
type Claim struct {
	key      string
	revision uint64
	// Sent is set when the reply was already sent: nothing may be sent again.
	Sent *ledgerEntry
}

// ErrSendInFlight is returned when another attempt holds a fresh claim on the key.
var ErrSendInFlight = errors.New("another attempt is sending this reply")

// Claim reserves key for a send by provider.
func (l *SendLedger) Claim(ctx context.Context, key, provider string) (Claim, error) {
	k := ledgerKey(key)
	now := time.Now().UTC()
	until := now.Add(maxClaim)
	if dl, ok := ctx.Deadline(); ok && dl.Before(until) {
		until = dl.UTC()
	}
	e := ledgerEntry{State: statePending, Provider: provider, At: now, Until: until.Add(l.Grace)}
	data, _ := json.Marshal(e)
	rev, err := l.kv.Create(ctx, k, data)
	if err == nil {
		return Claim{key: k, revision: rev}, nil
	}
	if !errors.Is(err, jetstream.ErrKeyExists) {
		return Claim{}, fmt.Errorf("send ledger: %w", err)
	}
	cur, err := l.kv.Get(ctx, k)
	if err != nil {
		return Claim{}, fmt.Errorf("send ledger: %w", err)
	}
	var old ledgerEntry
	if err := json.Unmarshal(cur.Value(), &old); err != nil {
		return Claim{}, fmt.Errorf("send ledger: entry %s is corrupt: %w", key, err)
	}
	if old.State == stateSent {
		return Claim{key: k, Sent: &old}, nil
	}
	expiry := old.Until
	if expiry.IsZero() {
		expiry = old.At.Add(maxClaim)
	}
	if time.Now().Before(expiry) {
		return Claim{}, ErrSendInFlight
	}
	rev, err = l.kv.Update(ctx, k, data, cur.Revision())
	if err != nil {
		return Claim{}, ErrSendInFlight // someone else took it over first
	}
	return Claim{key: k, revision: rev}, nil
}

// Confirm records that the claimed send reached the vendor.
func (l *SendLedger) Confirm(ctx context.Context, c Claim, provider, messageID string) error {
	data, _ := json.Marshal(ledgerEntry{State: stateSent, Provider: provider, MessageID: messageID, At: time.Now().UTC()})
	if _, err := l.kv.Update(ctx, c.key, data, c.revision); err != nil {
		return fmt.Errorf("send ledger: confirm: %w", err)
	}
	return nil
}

// Release gives up a claim after a send that definitely did not reach the customer.
func (l *SendLedger) Release(ctx context.Context, c Claim) error {
	if err := l.kv.Delete(ctx, c.key, jetstream.LastRevision(c.revision)); err != nil {
		return fmt.Errorf("send ledger: release: %w", err)
	}
	return nil
}

// ledgerKey maps an idempotency key ("conv/epoch/seq") to a valid KV key.
func ledgerKey(key string) string { return kvKey(key) }

// kvKey maps a string of conversation-id characters and '/' to a valid KV key:
// '/' becomes '.' and ':', which KV keys may not hold, becomes '=', which
// conversation ids never hold.
func kvKey(s string) string { return kvKeyReplacer.Replace(s) }

var kvKeyReplacer = strings.NewReplacer("/", ".", ":", "=")
