package twilio_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchboard-cc/switchboard/internal/turn"
	"github.com/switchboard-cc/switchboard/providers"
	"github.com/switchboard-cc/switchboard/providers/fake"
	"github.com/switchboard-cc/switchboard/providers/messaging/messagingtest"
	"github.com/switchboard-cc/switchboard/providers/twilio"
)

// twilio-go insists on alphanumeric credentials, so the test ones are too.
const (
	testSID   = "AC00000000000000000000000000000001"
	testToken = "s3cr3tT0kenNeverLogged"
)

func startFake(t *testing.T) (*httptest.Server, *fake.Outbox, *fake.Faults) {
	t.Helper()
	outbox, faults := &fake.Outbox{}, &fake.Faults{}
	srv := httptest.NewServer(fake.NewTwilio(testSID, testToken, outbox, faults, "twilio"))
	t.Cleanup(srv.Close)
	return srv, outbox, faults
}

// startHangingFake starts the Twilio fake slow for ten minutes.
func startHangingFake(t *testing.T) *messagingtest.Hanging {
	return messagingtest.StartHanging(t, "twilio", func(o *fake.Outbox, f *fake.Faults) http.Handler {
		return fake.NewTwilio(testSID, testToken, o, f, "twilio")
	})
}

func newSender(t *testing.T, cfg twilio.Config) *twilio.Sender {
	t.Helper()
	s, err := twilio.New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return s
}

func TestTwilioMeetsTheMessagingContract(t *testing.T) {
	messagingtest.Run(t, func(t *testing.T) messagingtest.Fixture {
		srv, outbox, faults := startFake(t)
		s := newSender(t, twilio.Config{AccountSID: testSID, AuthToken: testToken, BaseURL: srv.URL})
		return messagingtest.Fixture{Provider: "twilio", Sender: s, Outbox: outbox, Faults: faults}
	})
}

// wire records what the Sender put on the wire and answers like Twilio.
type wire struct {
	mu   sync.Mutex
	reqs []*http.Request
	form []url.Values
}

func (w *wire) serve(t *testing.T) *httptest.Server {
	inner := fake.NewTwilio(testSID, testToken, nil, nil, "twilio")
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		w.mu.Lock()
		w.reqs = append(w.reqs, r)
		w.form = append(w.form, r.PostForm)
		w.mu.Unlock()
		inner.ServeHTTP(rw, r)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// seen returns what reached the server so far. The lock, not the network round trip,
// is what orders the handler's writes before these reads for the race detector.
func (w *wire) seen() ([]*http.Request, []url.Values) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]*http.Request(nil), w.reqs...), append([]url.Values(nil), w.form...)
}

func TestWhatsAppAddressesArePrefixedOnceOnTheWire(t *testing.T) {
	var w wire
	srv := w.serve(t)
	s := newSender(t, twilio.Config{AccountSID: testSID, AuthToken: testToken, BaseURL: srv.URL})

	for _, m := range []turn.Message{
		{Channel: "whatsapp", From: "+15550001111", To: "+15557654321", Body: "plain"},
		{Channel: "whatsapp", From: "whatsapp:+15550001111", To: "whatsapp:+15557654321", Body: "already prefixed"},
	} {
		if _, err := s.Send(t.Context(), m); err != nil {
			t.Fatalf("Send(%q): %v", m.Body, err)
		}
	}
	_, forms := w.seen()
	if len(forms) != 2 {
		t.Fatalf("%d sends reached Twilio, want 2", len(forms))
	}
	for i, f := range forms {
		if f.Get("To") != "whatsapp:+15557654321" || f.Get("From") != "whatsapp:+15550001111" {
			t.Errorf("send %d went to %q from %q", i, f.Get("To"), f.Get("From"))
		}
	}
}

func TestIdempotencyKeyTravelsAsAHeaderOnlyWhenSet(t *testing.T) {
	var w wire
	srv := w.serve(t)
	s := newSender(t, twilio.Config{AccountSID: testSID, AuthToken: testToken, BaseURL: srv.URL})

	for _, key := range []string{"conv-9:turn-2", ""} {
		m := turn.Message{From: "+15550001111", To: "+15557654321", Body: "hi", IdempotencyKey: key}
		if _, err := s.Send(t.Context(), m); err != nil {
			t.Fatalf("Send: %v", err)
		}
	}
	reqs, _ := w.seen()
	if got := reqs[0].Header.Get(twilio.IdempotencyHeader); got != "conv-9:turn-2" {
		t.Errorf("first send carried %s %q", twilio.IdempotencyHeader, got)
	}
	if _, ok := reqs[1].Header[http.CanonicalHeaderKey(twilio.IdempotencyHeader)]; ok {
		t.Errorf("a send without a key still carried %s", twilio.IdempotencyHeader)
	}
}

func TestBaseURLPathPrefixIsKept(t *testing.T) {
	outbox := &fake.Outbox{}
	mux := http.NewServeMux()
	mux.Handle("/twilio/", http.StripPrefix("/twilio", fake.NewTwilio(testSID, testToken, outbox, nil, "twilio")))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	s := newSender(t, twilio.Config{AccountSID: testSID, AuthToken: testToken, BaseURL: srv.URL + "/twilio/"})

	if _, err := s.Send(t.Context(), turn.Message{From: "+15550001111", To: "+15557654321", Body: "hi"}); err != nil {
		t.Fatalf("Send: %v", err)
	}
	if n := len(outbox.List()); n != 1 {
		t.Fatalf("outbox has %d messages, want 1", n)
	}
}

func TestWrongCredentialsAreRejectedWithoutLeakingTheToken(t *testing.T) {
	srv, _, _ := startFake(t)
	const wrong = "wrongTokenAlsoSecret"
	s := newSender(t, twilio.Config{AccountSID: testSID, AuthToken: wrong, BaseURL: srv.URL})

	_, err := s.Send(t.Context(), turn.Message{From: "+15550001111", To: "+15557654321", Body: "hi"})
	if !errors.Is(err, providers.ErrRejected) || !providers.Permanent(err) {
		t.Fatalf("err = %v, want a permanent ErrRejected", err)
	}
	var pe *providers.Error
	if !errors.As(err, &pe) || pe.Status != http.StatusUnauthorized || pe.Provider != "twilio" {
		t.Errorf("err = %#v, want status 401 from provider twilio", pe)
	}
	if strings.Contains(err.Error(), wrong) || strings.Contains(err.Error(), testToken) {
		t.Errorf("error message leaks a token: %v", err)
	}
}

func TestMissingBodyIsRejectedByTwilio(t *testing.T) {
	srv, outbox, _ := startFake(t)
	s := newSender(t, twilio.Config{AccountSID: testSID, AuthToken: testToken, BaseURL: srv.URL})

	_, err := s.Send(t.Context(), turn.Message{From: "+15550001111", To: "+15557654321"})
	if !errors.Is(err, providers.ErrRejected) || !strings.Contains(err.Error(), "21602") {
		t.Fatalf("err = %v, want ErrRejected carrying Twilio error 21602", err)
	}
	if n := len(outbox.List()); n != 0 {
		t.Errorf("outbox has %d messages, want 0", n)
	}
}

func TestConfiguredTimeoutBoundsACallerWithoutDeadline(t *testing.T) {
	srv := startHangingFake(t)
	s := newSender(t, twilio.Config{AccountSID: testSID, AuthToken: testToken, BaseURL: srv.URL,
		Timeout: 150 * time.Millisecond})

	err := srv.RequireGivesUp(t, func() error {
		_, err := s.Send(context.Background(), turn.Message{From: "+15550001111", To: "+15557654321", Body: "hi"})
		return err
	})
	if !errors.Is(err, providers.ErrTimeout) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want ErrTimeout from the deadline", err)
	}
}

func TestACallerWhoGivesUpAfterTheSendIsNotAProviderFailureButLeavesDeliveryUnknown(t *testing.T) {
	srv, _, faults := startFake(t)
	faults.Set(fake.Fault{Provider: "twilio", Mode: fake.ModeSlow, LatencyMS: 5_000})
	s := newSender(t, twilio.Config{AccountSID: testSID, AuthToken: testToken, BaseURL: srv.URL})

	ctx, cancel := context.WithCancel(t.Context())
	time.AfterFunc(100*time.Millisecond, cancel)
	_, err := s.Send(ctx, turn.Message{From: "+15550001111", To: "+15557654321", Body: "hi"})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	for _, kind := range []error{providers.ErrUnavailable, providers.ErrTimeout, providers.ErrRateLimited, providers.ErrRejected} {
		if errors.Is(err, kind) {
			t.Errorf("cancellation was classified as %v", kind)
		}
	}
	// The fake had read the request before it stalled: the message may be there.
	if !providers.DeliveryUnknown(err) {
		t.Errorf("a send abandoned after it was written must be delivery unknown: %v", err)
	}
}

func TestUnreachableTwilioIsUnavailable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there any more: connection refused

	s := newSender(t, twilio.Config{AccountSID: testSID, AuthToken: testToken, BaseURL: "http://" + addr})
	_, err = s.Send(t.Context(), turn.Message{From: "+15550001111", To: "+15557654321", Body: "hi"})
	if !errors.Is(err, providers.ErrUnavailable) {
		t.Fatalf("err = %v, want ErrUnavailable", err)
	}
}

func TestAnErrorPageTwilioGoCannotDecodeIsClassifiedByStatus(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusBadGateway)
		w.Write([]byte("<html><body>502 Bad Gateway</body></html>"))
	}))
	t.Cleanup(srv.Close)
	s := newSender(t, twilio.Config{AccountSID: testSID, AuthToken: testToken, BaseURL: srv.URL})

	_, err := s.Send(t.Context(), turn.Message{From: "+15550001111", To: "+15557654321", Body: "hi"})
	var pe *providers.Error
	if !errors.Is(err, providers.ErrUnavailable) || !errors.As(err, &pe) || pe.Status != http.StatusBadGateway {
		t.Fatalf("err = %v, want ErrUnavailable with status 502", err)
	}
}

func TestAnUnsupportedChannelIsRejectedBeforeAnyCall(t *testing.T) {
	var w wire
	srv := w.serve(t)
	s := newSender(t, twilio.Config{AccountSID: testSID, AuthToken: testToken, BaseURL: srv.URL})

	_, err := s.Send(t.Context(), turn.Message{Channel: "pigeon", From: "+15550001111", To: "+15557654321", Body: "hi"})
	if !errors.Is(err, providers.ErrRejected) {
		t.Fatalf("err = %v, want ErrRejected", err)
	}
	if reqs, _ := w.seen(); len(reqs) != 0 {
		t.Errorf("%d requests reached Twilio", len(reqs))
	}
}

func TestConfigNamesTheInvalidFieldButNotItsValue(t *testing.T) {
	for _, c := range []struct {
		cfg   twilio.Config
		field string
	}{
		{twilio.Config{AuthToken: testToken}, "AccountSID"},
		{twilio.Config{AccountSID: testSID}, "AuthToken"},
		{twilio.Config{AccountSID: testSID, AuthToken: "has-dash&secret"}, "AuthToken"},
		{twilio.Config{AccountSID: testSID, AuthToken: testToken, Timeout: -time.Second}, "Timeout"},
		{twilio.Config{AccountSID: testSID, AuthToken: testToken, BaseURL: "ftp://127.0.0.1"}, "BaseURL"},
		{twilio.Config{AccountSID: testSID, AuthToken: testToken, BaseURL: "http://"}, "BaseURL"},
	} {
		_, err := twilio.New(c.cfg)
		if err == nil || !strings.Contains(err.Error(), c.field) {
			t.Errorf("New(%+v) = %v, want an error naming %s", c.cfg, err, c.field)
			continue
		}
		if c.cfg.AuthToken != "" && strings.Contains(err.Error(), c.cfg.AuthToken) {
			t.Errorf("error leaks the auth token: %v", err)
		}
	}
}

func TestConfigDefaults(t *testing.T) {
	cfg := twilio.Config{AccountSID: testSID, AuthToken: testToken}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if cfg.Name != "twilio" || cfg.Timeout != 5*time.Second || cfg.BaseURL != "" {
		t.Errorf("defaults = %+v", cfg)
	}
}

func TestA2xxThatCannotBeReadLeavesTheDeliveryUnknown(t *testing.T) {
	for name, body := range map[string]string{
		"cut off":       `{"sid": "SM0123`,
		"no message id": `{"status": "queued"}`,
	} {
		t.Run(name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusCreated)
				w.Write([]byte(body))
			}))
			t.Cleanup(srv.Close)
			s := newSender(t, twilio.Config{AccountSID: testSID, AuthToken: testToken, BaseURL: srv.URL})
			_, err := s.Send(t.Context(), turn.Message{From: "+15550001111", To: "+15557654321", Body: "hi"})
			if err == nil || !providers.DeliveryUnknown(err) {
				t.Fatalf("err = %v, want delivery unknown: Twilio said 201", err)
			}
		})
	}
}
