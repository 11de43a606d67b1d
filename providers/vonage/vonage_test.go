package vonage_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchboard-cc/switchboard/internal/turn"
	"github.com/switchboard-cc/switchboard/providers"
	"github.com/switchboard-cc/switchboard/providers/fake"
	"github.com/switchboard-cc/switchboard/providers/messaging/messagingtest"
	"github.com/switchboard-cc/switchboard/providers/vonage"
)

const (
	testKey    = "abcd1234"
	testSecret = "vonageSecretNeverLogged"
)

func startFake(t *testing.T) (*httptest.Server, *fake.Outbox, *fake.Faults) {
	t.Helper()
	outbox, faults := &fake.Outbox{}, &fake.Faults{}
	srv := httptest.NewServer(fake.NewVonage(testKey, testSecret, outbox, faults, "vonage"))
	t.Cleanup(srv.Close)
	return srv, outbox, faults
}

// startHangingFake starts the Vonage fake slow for ten minutes.
func startHangingFake(t *testing.T) *messagingtest.Hanging {
	return messagingtest.StartHanging(t, "vonage", func(o *fake.Outbox, f *fake.Faults) http.Handler {
		return fake.NewVonage(testKey, testSecret, o, f, "vonage")
	})
}

func newSender(t *testing.T, cfg vonage.Config) *vonage.Sender {
	t.Helper()
	s, err := vonage.New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return s
}

func hi() turn.Message {
	return turn.Message{Channel: "sms", From: "+15550001111", To: "+15557654321", Body: "hi"}
}

func TestVonageMeetsTheMessagingContract(t *testing.T) {
	messagingtest.Run(t, func(t *testing.T) messagingtest.Fixture {
		srv, outbox, faults := startFake(t)
		s := newSender(t, vonage.Config{APIKey: testKey, APISecret: testSecret, BaseURL: srv.URL})
		return messagingtest.Fixture{Provider: "vonage", Sender: s, Outbox: outbox, Faults: faults}
	})
}

// recorder keeps the JSON bodies that reached the server.
type recorder struct {
	mu     sync.Mutex
	bodies []map[string]any
}

func (rec *recorder) serve(t *testing.T, next http.Handler) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var m map[string]any
		json.Unmarshal(b, &m)
		rec.mu.Lock()
		rec.bodies = append(rec.bodies, m)
		rec.mu.Unlock()
		r.Body = io.NopCloser(strings.NewReader(string(b)))
		next.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func (rec *recorder) seen() []map[string]any {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return append([]map[string]any(nil), rec.bodies...)
}

func TestTheWireCarriesPluslessNumbersAndTheClientRef(t *testing.T) {
	var rec recorder
	srv := rec.serve(t, fake.NewVonage(testKey, testSecret, nil, nil, "vonage"))
	s := newSender(t, vonage.Config{APIKey: testKey, APISecret: testSecret, BaseURL: srv.URL})

	m := turn.Message{Channel: "whatsapp", From: "+15550001111", To: "+15557654321",
		Body: "hello", IdempotencyKey: "conv-4:turn-7"}
	if _, err := s.Send(t.Context(), m); err != nil {
		t.Fatalf("Send: %v", err)
	}
	got := rec.seen()[0]
	want := map[string]any{"message_type": "text", "text": "hello", "to": "15557654321",
		"from": "15550001111", "channel": "whatsapp", "client_ref": "conv-4:turn-7"}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
}

func TestAMessageWithoutChannelGoesBySMS(t *testing.T) {
	srv, outbox, _ := startFake(t)
	s := newSender(t, vonage.Config{APIKey: testKey, APISecret: testSecret, BaseURL: srv.URL})

	m := hi()
	m.Channel = ""
	if _, err := s.Send(t.Context(), m); err != nil {
		t.Fatalf("Send: %v", err)
	}
	if got := outbox.List()[0].Channel; got != "sms" {
		t.Errorf("channel = %q, want sms", got)
	}
}

func TestWrongCredentialsAreRejectedWithoutLeakingTheSecret(t *testing.T) {
	srv, _, _ := startFake(t)
	const wrong = "wrongSecretAlsoSecret"
	s := newSender(t, vonage.Config{APIKey: testKey, APISecret: wrong, BaseURL: srv.URL})

	_, err := s.Send(t.Context(), hi())
	if !errors.Is(err, providers.ErrRejected) || !providers.Permanent(err) {
		t.Fatalf("err = %v, want a permanent ErrRejected", err)
	}
	var p *vonage.Problem
	if !errors.As(err, &p) || p.Title != "Unauthorized" {
		t.Errorf("err = %v, want the Vonage problem reachable with errors.As", err)
	}
	var pe *providers.Error
	if !errors.As(err, &pe) || pe.Status != http.StatusUnauthorized || pe.Provider != "vonage" {
		t.Errorf("err = %#v, want status 401 from provider vonage", pe)
	}
	if strings.Contains(err.Error(), wrong) || strings.Contains(err.Error(), testSecret) {
		t.Errorf("error message leaks a secret: %v", err)
	}
}

func TestAnInvalidNumberIsRejectedByVonage(t *testing.T) {
	srv, outbox, _ := startFake(t)
	s := newSender(t, vonage.Config{APIKey: testKey, APISecret: testSecret, BaseURL: srv.URL})

	m := hi()
	m.To = "not-a-number"
	_, err := s.Send(t.Context(), m)
	var pe *providers.Error
	if !errors.Is(err, providers.ErrRejected) || !errors.As(err, &pe) || pe.Status != http.StatusUnprocessableEntity {
		t.Fatalf("err = %v, want ErrRejected with status 422", err)
	}
	if n := len(outbox.List()); n != 0 {
		t.Errorf("outbox has %d messages, want 0", n)
	}
}

func TestAnErrorPageIsClassifiedByStatus(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusBadGateway)
		w.Write([]byte("<html>502 Bad Gateway</html>"))
	}))
	t.Cleanup(srv.Close)
	s := newSender(t, vonage.Config{APIKey: testKey, APISecret: testSecret, BaseURL: srv.URL})

	_, err := s.Send(t.Context(), hi())
	var pe *providers.Error
	if !errors.Is(err, providers.ErrUnavailable) || !errors.As(err, &pe) || pe.Status != http.StatusBadGateway {
		t.Fatalf("err = %v, want ErrUnavailable with status 502", err)
	}
}

func TestAnEndlessAnswerIsNotReadToTheEnd(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusAccepted)
		w.Write([]byte(`{"message_uuid":"`))
		chunk := []byte(strings.Repeat("a", 32<<10))
		for range 1024 { // 32 MiB unless the client stops reading
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	}))
	t.Cleanup(srv.Close)
	s := newSender(t, vonage.Config{APIKey: testKey, APISecret: testSecret, BaseURL: srv.URL})

	_, err := s.Send(t.Context(), hi())
	if !errors.Is(err, providers.ErrUnavailable) {
		t.Fatalf("err = %v, want ErrUnavailable", err)
	}
}

func TestConfiguredTimeoutBoundsACallerWithoutDeadline(t *testing.T) {
	srv := startHangingFake(t)
	s := newSender(t, vonage.Config{APIKey: testKey, APISecret: testSecret, BaseURL: srv.URL,
		Timeout: 150 * time.Millisecond})

	err := srv.RequireGivesUp(t, func() error {
		_, err := s.Send(context.Background(), hi())
		return err
	})
	if !errors.Is(err, providers.ErrTimeout) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want ErrTimeout from the deadline", err)
	}
}

func TestACallerWhoGivesUpAfterTheSendIsNotAProviderFailureButLeavesDeliveryUnknown(t *testing.T) {
	srv, _, faults := startFake(t)
	faults.Set(fake.Fault{Provider: "vonage", Mode: fake.ModeSlow, LatencyMS: 5_000})
	s := newSender(t, vonage.Config{APIKey: testKey, APISecret: testSecret, BaseURL: srv.URL})

	ctx, cancel := context.WithCancel(t.Context())
	time.AfterFunc(100*time.Millisecond, cancel)
	_, err := s.Send(ctx, hi())
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

func TestUnreachableVonageIsUnavailable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()

	s := newSender(t, vonage.Config{APIKey: testKey, APISecret: testSecret, BaseURL: "http://" + addr})
	if _, err := s.Send(t.Context(), hi()); !errors.Is(err, providers.ErrUnavailable) {
		t.Fatalf("err = %v, want ErrUnavailable", err)
	}
}

func TestAnUnsupportedChannelIsRejectedBeforeAnyCall(t *testing.T) {
	var rec recorder
	srv := rec.serve(t, fake.NewVonage(testKey, testSecret, nil, nil, "vonage"))
	s := newSender(t, vonage.Config{APIKey: testKey, APISecret: testSecret, BaseURL: srv.URL})

	m := hi()
	m.Channel = "pigeon"
	if _, err := s.Send(t.Context(), m); !errors.Is(err, providers.ErrRejected) {
		t.Fatalf("err = %v, want ErrRejected", err)
	}
	if n := len(rec.seen()); n != 0 {
		t.Errorf("%d requests reached Vonage", n)
	}
}

func TestConfigNamesTheInvalidFieldButNotItsValue(t *testing.T) {
	for _, c := range []struct {
		cfg   vonage.Config
		field string
	}{
		{vonage.Config{APISecret: testSecret}, "APIKey"},
		{vonage.Config{APIKey: testKey}, "APISecret"},
		{vonage.Config{APIKey: testKey, APISecret: testSecret, Timeout: -time.Second}, "Timeout"},
		{vonage.Config{APIKey: testKey, APISecret: testSecret, BaseURL: "ftp://127.0.0.1"}, "BaseURL"},
		{vonage.Config{APIKey: testKey, APISecret: testSecret, BaseURL: "http://"}, "BaseURL"},
		{vonage.Config{APIKey: testKey, APISecret: testSecret, BaseURL: "http://u:p@127.0.0.1"}, "BaseURL"},
	} {
		_, err := vonage.New(c.cfg)
		if err == nil || !strings.Contains(err.Error(), c.field) {
			t.Errorf("New(%+v) = %v, want an error naming %s", c.cfg, err, c.field)
			continue
		}
		if strings.Contains(err.Error(), testSecret) {
			t.Errorf("error leaks the secret: %v", err)
		}
	}
}

func TestConfigDefaults(t *testing.T) {
	cfg := vonage.Config{APIKey: testKey, APISecret: testSecret}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if cfg.Name != "vonage" || cfg.Timeout != 5*time.Second || cfg.BaseURL != "https://api.nexmo.com" {
		t.Errorf("defaults = %+v", cfg)
	}
}

func TestA2xxThatCannotBeReadLeavesTheDeliveryUnknown(t *testing.T) {
	for name, body := range map[string]string{
		"cut off":       `{"message_uuid": "aaaa`,
		"no message id": `{}`,
	} {
		t.Run(name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusAccepted)
				w.Write([]byte(body))
			}))
			t.Cleanup(srv.Close)
			s := newSender(t, vonage.Config{APIKey: testKey, APISecret: testSecret, BaseURL: srv.URL})
			_, err := s.Send(t.Context(), hi())
			if err == nil || !providers.DeliveryUnknown(err) {
				t.Fatalf("err = %v, want delivery unknown: Vonage said 202", err)
			}
		})
	}
}
