package workers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/switchboard-cc/switchboard/internal/turn"
)

// SendLedger records, per reply idempotency key, whether the reply was sent and by
// whom. It is what keeps a retried, failed-over or replayed send from reaching the
// customer twice: an attempt finds the receipt here instead of sending again.
//
// An entry is in one of three states:
//   - pending: an attempt claimed the key and is sending. The claim holds until the
//     attempt's deadline (its local activity's timeout, after which the owner's call
//     to the vendor is cancelled) plus Grace.
//   - sent: a vendor took the reply. Nothing is sent again under the key.
//   - unknown: a send whose outcome is unknown (it timed out after reaching the
//     vendor, its 2xx answer could not be read, or its owner vanished mid-send and
//     the claim lapsed). Nothing may be sent under the key until the vendor has
//     been asked (see Activities.Send) or an operator decided to send anyway.
//
// A claim whose owner failed definitely (the vendor refused, or never got the
// request) is released, so the next attempt may send.
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

// NewSendLedger uses the given bucket (turn.SendsBucket).
func NewSendLedger(kv jetstream.KeyValue) *SendLedger {
	return &SendLedger{kv: kv, Grace: DefaultClaimGrace}
}

// LedgerEntry is what the ledger holds for one reply.
type LedgerEntry struct {
	State     string `json:"state"` // pending | sent | unknown
	Provider  string `json:"provider"`
	MessageID string `json:"message_id,omitempty"`
	// At is when the attempt that wrote the entry claimed the key: a vendor asked
	// about an unknown send looks for messages created since.
	At time.Time `json:"at"`
	// Until is when a pending claim stops holding.
	Until time.Time `json:"until,omitzero"`
	// Message is what the attempt sent, so that another attempt (of a replay whose
	// text gained an apology, say) asks the vendor about the message it really sent.
	Message *turn.Message `json:"message,omitempty"`
	// Detail says why the outcome of an unknown send is unknown.
	Detail string `json:"detail,omitempty"`
}

// Ledger entry states.
const (
	statePending = "pending"
	stateSent    = "sent"
	stateUnknown = "unknown"
)

// Claim is the result of claiming a key. At most one of Sent and Unknown is set;
// with neither, the claim is the caller's and it may send.
type Claim struct {
	key      string
	revision uint64
	// Sent is set when the reply was already sent: nothing may be sent again.
	Sent *LedgerEntry
	// Unknown is set when an earlier attempt's outcome is unknown: the caller must
	// settle it (Confirm after the vendor said it has the message, TakeOver after
	// it said it has not) before anything is sent.
	Unknown *LedgerEntry
}

// ErrSendInFlight is returned (wrapped in an *InFlightError) when another attempt
// holds a live claim on the key.
var ErrSendInFlight = errors.New("another attempt is sending this reply")

// InFlightError says until when another attempt's claim holds.
type InFlightError struct {
	Until time.Time
}

func (e *InFlightError) Error() string {
	return fmt.Sprintf("%v (its claim holds until %s)", ErrSendInFlight, e.Until.UTC().Format(time.RFC3339))
}

func (e *InFlightError) Is(target error) bool { return target == ErrSendInFlight }

// Claim reserves key for a send of m by provider.
func (l *SendLedger) Claim(ctx context.Context, key, provider string, m turn.Message) (Claim, error) {
	k := turn.SendsKey(key)
	data := l.pending(ctx, provider, m)
	rev, err := l.kv.Create(ctx, k, data)
	if err == nil {
		return Claim{key: k, revision: rev}, nil
	}
	if !errors.Is(err, jetstream.ErrKeyExists) {
		return Claim{}, fmt.Errorf("send ledger: %w", err)
	}
	cur, err := l.kv.Get(ctx, k)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		// Released between the two calls: claim it afresh.
		return l.Claim(ctx, key, provider, m)
	}
	if err != nil {
		return Claim{}, fmt.Errorf("send ledger: %w", err)
	}
	var old LedgerEntry
	if err := json.Unmarshal(cur.Value(), &old); err != nil {
		return Claim{}, fmt.Errorf("send ledger: entry %s is corrupt: %w", key, err)
	}
	switch old.State {
	case stateSent:
		return Claim{key: k, revision: cur.Revision(), Sent: &old}, nil
	case stateUnknown:
		return Claim{key: k, revision: cur.Revision(), Unknown: &old}, nil
	}
	expiry := old.Until
	if expiry.IsZero() {
		expiry = old.At.Add(maxClaim)
	}
	if time.Now().Before(expiry) {
		return Claim{}, &InFlightError{Until: expiry}
	}
	// The owner vanished mid-send: whether its send reached the vendor is unknown.
	old.State, old.Detail = stateUnknown, "the attempt that claimed it stopped mid-send (worker killed?)"
	rev, err = l.kv.Update(ctx, k, mustJSON(old), cur.Revision())
	if err != nil {
		return Claim{}, &InFlightError{Until: time.Now()} // another attempt settled it first: look again
	}
	return Claim{key: k, revision: rev, Unknown: &old}, nil
}

func (l *SendLedger) pending(ctx context.Context, provider string, m turn.Message) []byte {
	now := time.Now().UTC()
	until := now.Add(maxClaim)
	if dl, ok := ctx.Deadline(); ok && dl.Before(until) {
		until = dl.UTC()
	}
	return mustJSON(LedgerEntry{State: statePending, Provider: provider, At: now, Until: until.Add(l.Grace), Message: &m})
}

// TakeOver makes an unknown claim the caller's after the vendor said it does not
// have the message (or an operator decided to send anyway). ErrSendInFlight if
// another attempt settled it first.
func (l *SendLedger) TakeOver(ctx context.Context, c Claim, provider string, m turn.Message) (Claim, error) {
	rev, err := l.kv.Update(ctx, c.key, l.pending(ctx, provider, m), c.revision)
	if err != nil {
		return Claim{}, &InFlightError{Until: time.Now()}
	}
	return Claim{key: c.key, revision: rev}, nil
}

// Confirm records that a vendor took the reply: after the caller's own send, or
// after the vendor said it holds the message of an unknown send.
func (l *SendLedger) Confirm(ctx context.Context, c Claim, provider, messageID string) error {
	data := mustJSON(LedgerEntry{State: stateSent, Provider: provider, MessageID: messageID, At: time.Now().UTC()})
	if _, err := l.kv.Update(ctx, c.key, data, c.revision); err != nil {
		return fmt.Errorf("send ledger: confirm: %w", err)
	}
	return nil
}

// MarkUnknown records that the caller's send may or may not have reached the
// vendor. The entry keeps what was sent, to whom and when, so that a later attempt
// can ask the vendor.
func (l *SendLedger) MarkUnknown(ctx context.Context, c Claim, provider string, m turn.Message, claimedAt time.Time, detail string) error {
	data := mustJSON(LedgerEntry{State: stateUnknown, Provider: provider, At: claimedAt.UTC(), Message: &m, Detail: detail})
	if _, err := l.kv.Update(ctx, c.key, data, c.revision); err != nil {
		return fmt.Errorf("send ledger: mark unknown: %w", err)
	}
	return nil
}

// Release gives up a claim after a send that definitely did not reach the vendor.
func (l *SendLedger) Release(ctx context.Context, c Claim) error {
	if err := l.kv.Delete(ctx, c.key, jetstream.LastRevision(c.revision)); err != nil {
		return fmt.Errorf("send ledger: release: %w", err)
	}
	return nil
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // only plain structs are encoded here
	}
	return b
}
