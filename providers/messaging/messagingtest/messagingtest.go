package messagingtest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/switchboard-cc/switchboard/internal/turn"
	"github.com/switchboard-cc/switchboard/providers"
	"github.com/switchboard-cc/switchboard/providers/fake"
	"github.com/switchboard-cc/switchboard/providers/messaging"
)

// Fixture is one Sender wired to a fresh fake vendor.
type Fixture struct {
	// Provider is the name the fake draws faults under and receipts carry.
	Provider string
	Sender   messaging.Sender
	Outbox   *fake.Outbox
	Faults   *fake.Faults
}

// Harness starts a fake vendor for one scenario (cleaning it up with t.Cleanup) and
// returns a Sender pointed at it. Run calls it once per scenario so that no scenario
// sees another's messages or faults.
type Harness func(t *testing.T) Fixture

// Addresses the scenarios send between: E.164, which every vendor must accept.
const (
	business = "+15550001111"
	customer = "+15557654321"
)

// Run runs the messaging contract against h.
func Run(t *testing.T, h Harness) {
	t.Run("a sent reply reaches the vendor with its idempotency key", func(t *testing.T) {
		f := h(t)
		m := turn.Message{Channel: "sms", From: business, To: customer,
			Body: "Your order shipped.", IdempotencyKey: "conv-1:turn-3"}
		r, err := f.Sender.Send(ctxFor(t, 5*time.Second), m)
		if err != nil {
			t.Fatalf("Send: %v", err)
		}
		if r.Provider != f.Provider {
			t.Errorf("receipt provider = %q, want %q", r.Provider, f.Provider)
		}
		got := onlySent(t, f.Outbox)
		if got.MessageID != r.MessageID || r.MessageID == "" {
			t.Errorf("receipt id = %q, outbox message id = %q: want the same non-empty id", r.MessageID, got.MessageID)
		}
		want := fake.Sent{Vendor: f.Provider, Channel: "sms", From: business, To: customer,
			Body: m.Body, IdempotencyKey: m.IdempotencyKey}
		if got.Vendor != want.Vendor || got.Channel != want.Channel || got.From != want.From ||
			got.To != want.To || got.Body != want.Body || got.IdempotencyKey != want.IdempotencyKey {
			t.Errorf("outbox got %+v, want %+v", got, want)
		}
	})

	t.Run("a whatsapp reply is addressed on the whatsapp channel", func(t *testing.T) {
		f := h(t)
		m := turn.Message{Channel: "whatsapp", From: business, To: customer,
			Body: "Hi from WhatsApp", IdempotencyKey: "conv-2:turn-1"}
		if _, err := f.Sender.Send(ctxFor(t, 5*time.Second), m); err != nil {
			t.Fatalf("Send: %v", err)
		}
		got := onlySent(t, f.Outbox)
		if got.Channel != "whatsapp" || got.From != business || got.To != customer {
			t.Errorf("outbox got channel %q from %q to %q, want whatsapp from %q to %q",
				got.Channel, got.From, got.To, business, customer)
		}
	})

	t.Run("a vendor that drops the connection is unavailable", func(t *testing.T) {
		f := h(t)
		setFault(t, f, fake.Fault{Mode: fake.ModeDown})
		err := sendOne(t, f, 5*time.Second)
		wantKind(t, err, providers.ErrUnavailable)
		if n := len(f.Outbox.List()); n != 0 {
			t.Errorf("outbox has %d messages after a dropped call, want 0", n)
		}
		if providers.DeliveryUnknown(err) {
			t.Errorf("a dropped connection is a definite non-delivery, got delivery unknown: %v", err)
		}
	})

	t.Run("a vendor that accepts a message and then hangs leaves its delivery unknown", func(t *testing.T) {
		f := h(t)
		setFault(t, f, fake.Fault{Mode: fake.ModeAcceptThenHang})
		err := sendOne(t, f, 300*time.Millisecond)
		wantKind(t, err, providers.ErrTimeout)
		if !providers.DeliveryUnknown(err) {
			t.Errorf("a timeout after the request was written must be delivery unknown: %v", err)
		}
		onlySent(t, f.Outbox) // the vendor has it, whatever the caller saw
	})

	t.Run("a vendor that can be asked finds an accepted message, and only that one", func(t *testing.T) {
		f := h(t)
		finder, ok := f.Sender.(messaging.Finder)
		if !ok {
			t.Skipf("%s cannot be asked for its messages", f.Provider)
		}
		before := time.Now().Add(-time.Second)
		setFault(t, f, fake.Fault{Mode: fake.ModeAcceptThenHang})
		m := turn.Message{Channel: "sms", From: business, To: customer, Body: "Your parcel is on its way.", IdempotencyKey: "conv-u:turn-1"}
		if _, err := f.Sender.Send(ctxFor(t, 300*time.Millisecond), m); !providers.DeliveryUnknown(err) {
			t.Fatalf("Send under accept_then_hang: %v, want delivery unknown", err)
		}
		setFault(t, f, fake.Fault{Mode: fake.ModeOK})
		r, found, err := finder.Find(ctxFor(t, 5*time.Second), m, before)
		if err != nil || !found {
			t.Fatalf("Find = %v, %v; want the accepted message", found, err)
		}
		if want := onlySent(t, f.Outbox).MessageID; r.MessageID != want || r.Provider != f.Provider {
			t.Errorf("Find receipt = %+v, want message %q of %s", r, want, f.Provider)
		}
		other := m
		other.Body = "A reply that was never sent."
		if _, found, err := finder.Find(ctxFor(t, 5*time.Second), other, before); err != nil || found {
			t.Errorf("Find of a message never sent = %v, %v; want not found", found, err)
		}
		if _, found, err := finder.Find(ctxFor(t, 5*time.Second), m, time.Now().Add(time.Hour)); err != nil || found {
			t.Errorf("Find of a message created before since = %v, %v; want not found", found, err)
		}
		setFault(t, f, fake.Fault{Mode: fake.ModeDown})
		if _, _, err := finder.Find(ctxFor(t, 5*time.Second), m, before); !errors.Is(err, providers.ErrUnavailable) {
			t.Errorf("Find on a vendor that is down = %v, want unavailable", err)
		}
	})

	for _, c := range []struct {
		status    int
		kind      error
		permanent bool
	}{
		{429, providers.ErrRateLimited, false},
		{400, providers.ErrRejected, true},
		{503, providers.ErrUnavailable, false},
	} {
		t.Run(fmt.Sprintf("a vendor answering %d is classified %v", c.status, c.kind), func(t *testing.T) {
			f := h(t)
			setFault(t, f, fake.Fault{Mode: fake.ModeErrors, Rate: 1, Status: c.status})
			err := sendOne(t, f, 5*time.Second)
			wantKind(t, err, c.kind)
			if got := providers.Permanent(err); got != c.permanent {
				t.Errorf("Permanent(%v) = %v, want %v", err, got, c.permanent)
			}
			if providers.DeliveryUnknown(err) {
				t.Errorf("an error answer is a definite non-delivery, got delivery unknown: %v", err)
			}
			var pe *providers.Error
			if errors.As(err, &pe) && pe.Status != c.status {
				t.Errorf("error status = %d, want %d", pe.Status, c.status)
			}
		})
	}

	t.Run("a vendor slower than the caller's deadline times out", func(t *testing.T) {
		f := h(t)
		setFault(t, f, fake.Fault{Mode: fake.ModeSlow, LatencyMS: 5_000})
		start := time.Now()
		err := sendOne(t, f, 200*time.Millisecond)
		wantKind(t, err, providers.ErrTimeout)
		if took := time.Since(start); took > 3*time.Second {
			t.Errorf("Send took %v, want it to end near the 200ms deadline", took)
		}
	})

	t.Run("concurrent sends each reach the vendor exactly once", func(t *testing.T) {
		f := h(t)
		const n = 16
		ctx := ctxFor(t, 10*time.Second)
		receipts := make([]messaging.Receipt, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				receipts[i], errs[i] = f.Sender.Send(ctx, turn.Message{
					Channel: "sms", From: business, To: customer,
					Body: fmt.Sprintf("reply %d", i), IdempotencyKey: fmt.Sprintf("conv-c:turn-%d", i),
				})
			})
		}
		wg.Wait()
		byKey := map[string]fake.Sent{}
		for _, s := range f.Outbox.List() {
			if _, dup := byKey[s.IdempotencyKey]; dup {
				t.Errorf("key %q reached the vendor more than once", s.IdempotencyKey)
			}
			byKey[s.IdempotencyKey] = s
		}
		for i := range n {
			if errs[i] != nil {
				t.Errorf("send %d: %v", i, errs[i])
				continue
			}
			s, ok := byKey[fmt.Sprintf("conv-c:turn-%d", i)]
			switch {
			case !ok:
				t.Errorf("send %d is missing from the outbox", i)
			case s.MessageID != receipts[i].MessageID:
				t.Errorf("send %d: receipt id %q, outbox id %q", i, receipts[i].MessageID, s.MessageID)
			case s.Body != fmt.Sprintf("reply %d", i):
				t.Errorf("send %d: outbox body %q", i, s.Body)
			}
		}
		if len(byKey) != n {
			t.Errorf("outbox has %d distinct messages, want %d", len(byKey), n)
		}
	})
}

func ctxFor(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), d)
	t.Cleanup(cancel)
	return ctx
}

func sendOne(t *testing.T, f Fixture, deadline time.Duration) error {
	t.Helper()
	_, err := f.Sender.Send(ctxFor(t, deadline), turn.Message{
		Channel: "sms", From: business, To: customer, Body: "hello", IdempotencyKey: "conv-f:turn-1",
	})
	if err == nil {
		t.Fatal("Send succeeded, want an error")
	}
	return err
}

func setFault(t *testing.T, f Fixture, fault fake.Fault) {
	t.Helper()
	fault.Provider = f.Provider
	if err := f.Faults.Set(fault); err != nil {
		t.Fatalf("set fault: %v", err)
	}
}

func wantKind(t *testing.T, err, kind error) {
	t.Helper()
	if !errors.Is(err, kind) {
		t.Fatalf("error %v is not %v", err, kind)
	}
	var pe *providers.Error
	if !errors.As(err, &pe) {
		t.Fatalf("error %v is not a *providers.Error", err)
	}
}

func onlySent(t *testing.T, o *fake.Outbox) fake.Sent {
	t.Helper()
	sent := o.List()
	if len(sent) != 1 {
		t.Fatalf("outbox has %d messages, want 1: %+v", len(sent), sent)
	}
	return sent[0]
}
