package vonage_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchboard-cc/switchboard/providers"
	"github.com/switchboard-cc/switchboard/providers/fake"
	"github.com/switchboard-cc/switchboard/providers/messaging/messagingtest"
	"github.com/switchboard-cc/switchboard/providers/vonage"
)

// probeSender points both the Messages and the Account API at srv, as dev does.
func probeSender(t *testing.T, srv *httptest.Server, cfg vonage.Config) *vonage.Sender {
	t.Helper()
	if cfg.APIKey == "" {
		cfg.APIKey = testKey
	}
	if cfg.APISecret == "" {
		cfg.APISecret = testSecret
	}
	cfg.BaseURL, cfg.AccountBaseURL = srv.URL, srv.URL
	return newSender(t, cfg)
}

func TestProbeReadsTheBalanceOverTheWire(t *testing.T) {
	var (
		mu   sync.Mutex
		reqs []*http.Request
	)
	inner := fake.NewVonage(testKey, testSecret, nil, nil, "vonage")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		reqs = append(reqs, r.Clone(context.Background()))
		mu.Unlock()
		inner.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	// The Messages API lives elsewhere: the probe must use AccountBaseURL alone.
	s := newSender(t, vonage.Config{APIKey: testKey, APISecret: testSecret,
		BaseURL: "http://127.0.0.1:1", AccountBaseURL: srv.URL + "/"})

	if err := s.Probe(t.Context()); err != nil {
		t.Fatalf("Probe: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(reqs) != 1 {
		t.Fatalf("%d requests reached Vonage, want 1", len(reqs))
	}
	r := reqs[0]
	if r.Method != http.MethodGet || r.URL.Path != "/account/get-balance" {
		t.Errorf("probe was %s %s, want GET /account/get-balance", r.Method, r.URL.Path)
	}
	if user, pass, ok := r.BasicAuth(); !ok || user != testKey || pass != testSecret {
		t.Errorf("probe did not authenticate with basic auth")
	}
	if strings.Contains(r.URL.RawQuery, testSecret) {
		t.Errorf("the secret travelled in the URL: %s", r.URL.RawQuery)
	}
}

func TestProbeFollowsTheFakesFaultsAndSendsNothing(t *testing.T) {
	srv, outbox, faults := startFake(t)
	s := probeSender(t, srv, vonage.Config{})

	if err := s.Probe(t.Context()); err != nil {
		t.Fatalf("Probe with the fake ok: %v", err)
	}

	faults.Set(fake.Fault{Provider: "vonage", Mode: fake.ModeDown})
	if err := s.Probe(t.Context()); !errors.Is(err, providers.ErrUnavailable) {
		t.Fatalf("Probe with the fake down = %v, want ErrUnavailable", err)
	}

	for _, c := range []struct {
		status int
		kind   error
	}{
		{http.StatusTooManyRequests, providers.ErrRateLimited},
		{http.StatusInternalServerError, providers.ErrUnavailable},
		{http.StatusForbidden, providers.ErrRejected},
	} {
		faults.Set(fake.Fault{Provider: "vonage", Mode: fake.ModeErrors, Status: c.status})
		err := s.Probe(t.Context())
		var pe *providers.Error
		var p *vonage.Problem
		if !errors.Is(err, c.kind) || !errors.As(err, &pe) || pe.Status != c.status || !errors.As(err, &p) {
			t.Errorf("Probe with the fake failing %d = %v, want %v with that status and a Problem", c.status, err, c.kind)
		}
	}

	faults.Set(fake.Fault{Provider: "vonage", Mode: fake.ModeOK})
	if err := s.Probe(t.Context()); err != nil {
		t.Fatalf("Probe with the fake back: %v", err)
	}
	if n := len(outbox.List()); n != 0 {
		t.Errorf("outbox has %d messages after probes, want 0", n)
	}
}

func TestProbeHonoursTheCallersDeadlineAndTheConfiguredTimeout(t *testing.T) {
	hang := startHangingFake(t)
	srv := hang.Server

	t.Run("Timeout without a caller deadline", func(t *testing.T) {
		s := probeSender(t, srv, vonage.Config{Timeout: 150 * time.Millisecond})
		err := hang.RequireGivesUp(t, func() error { return s.Probe(context.Background()) })
		if !errors.Is(err, providers.ErrTimeout) {
			t.Fatalf("Probe = %v, want ErrTimeout", err)
		}
	})
	t.Run("caller deadline before Timeout", func(t *testing.T) {
		// Timeout is as long as the fake's delay: only the caller's deadline can end
		// the probe within messagingtest.Liveness.
		s := probeSender(t, srv, vonage.Config{Timeout: messagingtest.NeverMS * time.Millisecond})
		ctx, cancel := context.WithTimeout(t.Context(), 150*time.Millisecond)
		defer cancel()
		err := hang.RequireGivesUp(t, func() error { return s.Probe(ctx) })
		if !errors.Is(err, providers.ErrTimeout) {
			t.Fatalf("Probe = %v, want ErrTimeout", err)
		}
	})
}

func TestProbeWithWrongCredentialsIsRejectedWithoutLeakingTheSecret(t *testing.T) {
	srv, _, _ := startFake(t)
	const wrong = "wrongSecretAlsoSecret"
	s := probeSender(t, srv, vonage.Config{APISecret: wrong})

	err := s.Probe(t.Context())
	var pe *providers.Error
	if !errors.Is(err, providers.ErrRejected) || !errors.As(err, &pe) || pe.Status != http.StatusUnauthorized {
		t.Fatalf("Probe = %v, want ErrRejected with status 401", err)
	}
	if strings.Contains(err.Error(), wrong) || strings.Contains(err.Error(), testSecret) {
		t.Errorf("error message leaks a secret: %v", err)
	}
}

func TestProbeOfAnUnreachableAccountAPIIsUnavailableWithoutLeakingTheSecret(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()

	s := newSender(t, vonage.Config{APIKey: testKey, APISecret: testSecret, AccountBaseURL: "http://" + addr})
	err = s.Probe(t.Context())
	if !errors.Is(err, providers.ErrUnavailable) {
		t.Fatalf("Probe = %v, want ErrUnavailable", err)
	}
	if strings.Contains(err.Error(), testSecret) {
		t.Errorf("error message leaks the secret: %v", err)
	}
}

func TestProbeOfAnAnswerWithoutABalanceIsUnavailable(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.Write([]byte("<html>captive portal</html>"))
	}))
	t.Cleanup(srv.Close)
	s := probeSender(t, srv, vonage.Config{})

	if err := s.Probe(t.Context()); !errors.Is(err, providers.ErrUnavailable) {
		t.Fatalf("Probe = %v, want ErrUnavailable", err)
	}
}

func TestAccountBaseURLDefaultAndValidation(t *testing.T) {
	cfg := vonage.Config{APIKey: testKey, APISecret: testSecret}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if cfg.AccountBaseURL != "https://rest.nexmo.com" {
		t.Errorf("AccountBaseURL defaults to %q, want https://rest.nexmo.com", cfg.AccountBaseURL)
	}

	for _, bad := range []string{"ftp://127.0.0.1", "http://", "http://u:" + testSecret + "@127.0.0.1"} {
		_, err := vonage.New(vonage.Config{APIKey: testKey, APISecret: testSecret, AccountBaseURL: bad})
		if err == nil || !strings.Contains(err.Error(), "AccountBaseURL") {
			t.Errorf("AccountBaseURL %q: err = %v, want an error naming AccountBaseURL", bad, err)
			continue
		}
		if strings.Contains(err.Error(), testSecret) {
			t.Errorf("error leaks the secret: %v", err)
		}
	}
	_, err := vonage.New(vonage.Config{APIKey: testKey, APISecret: testSecret, BaseURL: "ftp://127.0.0.1"})
	if err == nil || strings.Contains(err.Error(), "AccountBaseURL") {
		t.Errorf("a bad BaseURL: err = %v, want it named, not AccountBaseURL", err)
	}
}
