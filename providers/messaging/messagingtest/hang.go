package messagingtest

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/switchboard-cc/switchboard/providers/fake"
)

// NeverMS makes a fake slow for ten minutes, far beyond any deadline in a test: a
// call against it that returns at all was ended by a deadline, not by the fake.
const NeverMS = 600_000

// Liveness bounds how long a test waits for a call that must give up. It is
// generous, for -race on a loaded machine: it fails a test that hangs, and says
// nothing about how fast the call gave up.
const Liveness = 60 * time.Second

// Hanging is a fake vendor made slow for ten minutes, which notes every request
// whose caller hung up before it answered.
type Hanging struct {
	*httptest.Server
	gaveUp chan struct{}
}

// StartHanging serves newFake(faults), with provider's calls slow for ten minutes.
// The fake's slow mode stops waiting when the request's context ends, which net/http
// does when the caller closes the connection: that is what Hanging notes.
func StartHanging(t *testing.T, provider string, newFake func(*fake.Outbox, *fake.Faults) http.Handler) *Hanging {
	t.Helper()
	outbox, faults := &fake.Outbox{}, &fake.Faults{}
	if err := faults.Set(fake.Fault{Provider: provider, Mode: fake.ModeSlow, LatencyMS: NeverMS}); err != nil {
		t.Fatalf("set fault: %v", err)
	}
	h := newFake(outbox, faults)
	s := &Hanging{gaveUp: make(chan struct{}, 16)}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(w, r)
		if r.Context().Err() != nil {
			select {
			case s.gaveUp <- struct{}{}:
			default:
			}
		}
	}))
	t.Cleanup(s.Close)
	return s
}

// RequireGivesUp runs call against the fake: call must return within Liveness
// although the fake would answer only after ten minutes, and the fake must then see
// the caller hang up. It returns call's error.
func (s *Hanging) RequireGivesUp(t *testing.T, call func() error) error {
	t.Helper()
	errc := make(chan error, 1)
	go func() { errc <- call() }()
	var err error
	select {
	case err = <-errc:
	case <-time.After(Liveness):
		s.CloseClientConnections() // ends the call and the fake's wait
		t.Fatalf("the call was still waiting after %v on a fake that answers after 10 minutes: no deadline ended it", Liveness)
	}
	select {
	case <-s.gaveUp:
	case <-time.After(Liveness):
		t.Fatalf("the call returned %v, but the fake did not see the caller hang up within %v", err, Liveness)
	}
	return err
}
