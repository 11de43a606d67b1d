package twilio_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-cc/switchboard/providers"
	"github.com/switchboard-cc/switchboard/providers/fake"
	"github.com/switchboard-cc/switchboard/providers/messaging/messagingtest"
	"github.com/switchboard-cc/switchboard/providers/twilio"
)

func TestProbeFetchesTheAccountOverTheWire(t *testing.T) {
	var w wire
	srv := w.serve(t)
	s := newSender(t, twilio.Config{AccountSID: testSID, AuthToken: testToken, BaseURL: srv.URL})

	if err := s.Probe(t.Context()); err != nil {
		t.Fatalf("Probe: %v", err)
	}
	reqs, _ := w.seen()
	if len(reqs) != 1 {
		t.Fatalf("%d requests reached Twilio, want 1", len(reqs))
	}
	r := reqs[0]
	if r.Method != http.MethodGet || r.URL.Path != "/2010-04-01/Accounts/"+testSID+".json" {
		t.Errorf("probe was %s %s, want GET of the account resource", r.Method, r.URL.Path)
	}
	if user, pass, ok := r.BasicAuth(); !ok || user != testSID || pass != testToken {
		t.Errorf("probe did not authenticate as the account")
	}
	if _, ok := r.Header[http.CanonicalHeaderKey(twilio.IdempotencyHeader)]; ok {
		t.Errorf("probe carried %s", twilio.IdempotencyHeader)
	}
}

func TestProbeFollowsTheFakesFaultsAndSendsNothing(t *testing.T) {
	srv, outbox, faults := startFake(t)
	s := newSender(t, twilio.Config{AccountSID: testSID, AuthToken: testToken, BaseURL: srv.URL})

	if err := s.Probe(t.Context()); err != nil {
		t.Fatalf("Probe with the fake ok: %v", err)
	}

	faults.Set(fake.Fault{Provider: "twilio", Mode: fake.ModeDown})
	if err := s.Probe(t.Context()); !errors.Is(err, providers.ErrUnavailable) {
		t.Fatalf("Probe with the fake down = %v, want ErrUnavailable", err)
	}

	for _, c := range []struct {
		status int
		kind   error
	}{
		{http.StatusTooManyRequests, providers.ErrRateLimited},
		{http.StatusServiceUnavailable, providers.ErrUnavailable},
		{http.StatusBadRequest, providers.ErrRejected},
	} {
		faults.Set(fake.Fault{Provider: "twilio", Mode: fake.ModeErrors, Status: c.status})
		err := s.Probe(t.Context())
		var pe *providers.Error
		if !errors.Is(err, c.kind) || !errors.As(err, &pe) || pe.Status != c.status || pe.Provider != "twilio" {
			t.Errorf("Probe with the fake failing %d = %v, want %v with that status", c.status, err, c.kind)
		}
	}

	faults.Set(fake.Fault{Provider: "twilio", Mode: fake.ModeOK})
	if err := s.Probe(t.Context()); err != nil {
		t.Fatalf("Probe with the fake back: %v", err)
	}
	if n := len(outbox.List()); n != 0 {
		t.Errorf("outbox has %d messages after probes, want 0", n)
	}
}

func TestProbeHonoursTheCallersDeadlineAndTheConfiguredTimeout(t *testing.T) {
	srv := startHangingFake(t)

	t.Run("Timeout without a caller deadline", func(t *testing.T) {
		s := newSender(t, twilio.Config{AccountSID: testSID, AuthToken: testToken, BaseURL: srv.URL,
			Timeout: 150 * time.Millisecond})
		err := srv.RequireGivesUp(t, func() error { return s.Probe(context.Background()) })
		if !errors.Is(err, providers.ErrTimeout) {
			t.Fatalf("Probe = %v, want ErrTimeout", err)
		}
	})
	t.Run("caller deadline before Timeout", func(t *testing.T) {
		// Timeout is as long as the fake's delay: only the caller's deadline can end
		// the probe within messagingtest.Liveness.
		s := newSender(t, twilio.Config{AccountSID: testSID, AuthToken: testToken, BaseURL: srv.URL,
			Timeout: messagingtest.NeverMS * time.Millisecond})
		ctx, cancel := context.WithTimeout(t.Context(), 150*time.Millisecond)
		defer cancel()
		err := srv.RequireGivesUp(t, func() error { return s.Probe(ctx) })
		if !errors.Is(err, providers.ErrTimeout) {
			t.Fatalf("Probe = %v, want ErrTimeout", err)
		}
	})
}

func TestProbeWithWrongCredentialsIsRejectedWithoutLeakingTheToken(t *testing.T) {
	srv, _, _ := startFake(t)
	const wrong = "wrongTokenAlsoSecret"
	s := newSender(t, twilio.Config{AccountSID: testSID, AuthToken: wrong, BaseURL: srv.URL})

	err := s.Probe(t.Context())
	var pe *providers.Error
	if !errors.Is(err, providers.ErrRejected) || !errors.As(err, &pe) || pe.Status != http.StatusUnauthorized {
		t.Fatalf("Probe = %v, want ErrRejected with status 401", err)
	}
	if strings.Contains(err.Error(), wrong) || strings.Contains(err.Error(), testToken) {
		t.Errorf("error message leaks a token: %v", err)
	}
}

func TestProbeOfAnAccountThatIsNotActiveIsUnavailable(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"sid":"` + testSID + `","status":"suspended","type":"Full","auth_token":"` + testToken + `"}`))
	}))
	t.Cleanup(srv.Close)
	s := newSender(t, twilio.Config{AccountSID: testSID, AuthToken: testToken, BaseURL: srv.URL})

	err := s.Probe(t.Context())
	if !errors.Is(err, providers.ErrUnavailable) || !strings.Contains(err.Error(), "suspended") {
		t.Fatalf("Probe = %v, want ErrUnavailable naming the status", err)
	}
	if strings.Contains(err.Error(), testToken) {
		t.Errorf("error message leaks the token: %v", err)
	}
}

func TestProbeOfAnUnparsableAnswerIsUnavailable(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.Write([]byte("<html>captive portal</html>"))
	}))
	t.Cleanup(srv.Close)
	s := newSender(t, twilio.Config{AccountSID: testSID, AuthToken: testToken, BaseURL: srv.URL})

	if err := s.Probe(t.Context()); !errors.Is(err, providers.ErrUnavailable) {
		t.Fatalf("Probe = %v, want ErrUnavailable", err)
	}
}

func TestProbeKeepsTheBaseURLPathPrefix(t *testing.T) {
	mux := http.NewServeMux()
	mux.Handle("/twilio/", http.StripPrefix("/twilio", fake.NewTwilio(testSID, testToken, nil, nil, "twilio")))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	s := newSender(t, twilio.Config{AccountSID: testSID, AuthToken: testToken, BaseURL: srv.URL + "/twilio/"})

	if err := s.Probe(t.Context()); err != nil {
		t.Fatalf("Probe: %v", err)
	}
}
