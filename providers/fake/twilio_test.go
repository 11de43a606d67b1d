package fake_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-cc/switchboard/providers/fake"
)

const (
	twSID   = "AC11111111111111111111111111111111"
	twToken = "fakeTwilioToken"
	twPath  = "/2010-04-01/Accounts/" + twSID + "/Messages.json"
)

func startTwilioFake(t *testing.T) (*httptest.Server, *fake.Outbox, *fake.Faults) {
	t.Helper()
	outbox, faults := &fake.Outbox{}, &fake.Faults{}
	srv := httptest.NewServer(fake.NewTwilio(twSID, twToken, outbox, faults, "twilio"))
	t.Cleanup(srv.Close)
	return srv, outbox, faults
}

type twilioAnswer struct {
	status int
	body   map[string]any
}

func twilioPost(t *testing.T, ctx context.Context, srv *httptest.Server, path, user, pass string,
	form url.Values, header http.Header) (twilioAnswer, error) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL+path, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for k, v := range header {
		req.Header[k] = v
	}
	if user != "" {
		req.SetBasicAuth(user, pass)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		return twilioAnswer{}, err
	}
	defer resp.Body.Close()
	var body map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatalf("answer is not JSON: %v", err)
	}
	return twilioAnswer{resp.StatusCode, body}, nil
}

func smsForm() url.Values {
	return url.Values{"To": {"+15557654321"}, "From": {"+15550001111"}, "Body": {"Your order shipped."}}
}

func TestTwilioFakeAcceptsAMessageAsTwilioDoes(t *testing.T) {
	srv, outbox, _ := startTwilioFake(t)
	a, err := twilioPost(t, t.Context(), srv, twPath, twSID, twToken, smsForm(),
		http.Header{"I-Twilio-Idempotency-Token": {"conv-1:turn-1"}})
	if err != nil {
		t.Fatal(err)
	}
	if a.status != http.StatusCreated {
		t.Fatalf("status = %d, body %v", a.status, a.body)
	}
	sid, _ := a.body["sid"].(string)
	if !regexp.MustCompile(`^SM[0-9a-f]{32}$`).MatchString(sid) {
		t.Errorf("sid = %q, want SM and 32 hex digits", sid)
	}
	for k, want := range map[string]any{"status": "queued", "to": "+15557654321", "from": "+15550001111",
		"body": "Your order shipped.", "account_sid": twSID, "direction": "outbound-api"} {
		if a.body[k] != want {
			t.Errorf("%s = %v, want %v", k, a.body[k], want)
		}
	}
	if _, err := time.Parse(time.RFC1123Z, a.body["date_created"].(string)); err != nil {
		t.Errorf("date_created: %v", err)
	}

	sent := outbox.List()
	if len(sent) != 1 {
		t.Fatalf("outbox has %d messages, want 1", len(sent))
	}
	s := sent[0]
	if s.Vendor != "twilio" || s.MessageID != sid || s.Channel != "sms" || s.To != "+15557654321" ||
		s.From != "+15550001111" || s.Body != "Your order shipped." || s.IdempotencyKey != "conv-1:turn-1" || s.At.IsZero() {
		t.Errorf("outbox recorded %+v", s)
	}
}

func TestTwilioFakeRecordsWhatsAppWithNeutralAddresses(t *testing.T) {
	srv, outbox, _ := startTwilioFake(t)
	form := url.Values{"To": {"whatsapp:+15557654321"}, "From": {"whatsapp:+15550001111"}, "Body": {"hi"}}
	a, err := twilioPost(t, t.Context(), srv, twPath, twSID, twToken, form, nil)
	if err != nil || a.status != http.StatusCreated {
		t.Fatalf("answer %v, %v", a, err)
	}
	if a.body["to"] != "whatsapp:+15557654321" {
		t.Errorf("answer echoes to = %v, want Twilio's addressing", a.body["to"])
	}
	s := outbox.List()[0]
	if s.Channel != "whatsapp" || s.To != "+15557654321" || s.From != "+15550001111" {
		t.Errorf("outbox recorded channel %q from %q to %q", s.Channel, s.From, s.To)
	}
}

func TestTwilioFakeRecordsDuplicatesBecauseTwilioWould(t *testing.T) {
	srv, outbox, _ := startTwilioFake(t)
	h := http.Header{"I-Twilio-Idempotency-Token": {"conv-1:turn-1"}}
	for range 2 {
		if a, err := twilioPost(t, t.Context(), srv, twPath, twSID, twToken, smsForm(), h); err != nil || a.status != 201 {
			t.Fatalf("answer %v, %v", a, err)
		}
	}
	if n := len(outbox.List()); n != 2 {
		t.Errorf("outbox has %d messages, want the duplicate too (2)", n)
	}
}

func TestTwilioFakeRefusesWhatTwilioRefuses(t *testing.T) {
	without := func(k string) url.Values { f := smsForm(); f.Del(k); return f }
	for _, c := range []struct {
		name       string
		path       string
		user, pass string
		form       url.Values
		status     int
		code       float64
	}{
		{"no credentials", twPath, "", "", smsForm(), 401, 20003},
		{"wrong token", twPath, twSID, "nope", smsForm(), 401, 20003},
		{"another account's path", "/2010-04-01/Accounts/AC2/Messages.json", twSID, twToken, smsForm(), 404, 20404},
		{"unknown resource", "/2010-04-01/Accounts/" + twSID + "/Calls.json", twSID, twToken, smsForm(), 404, 20404},
		{"no To", twPath, twSID, twToken, without("To"), 400, 21604},
		{"no From", twPath, twSID, twToken, without("From"), 400, 21603},
		{"no Body", twPath, twSID, twToken, without("Body"), 400, 21602},
		{"invalid To", twPath, twSID, twToken, url.Values{"To": {"12"}, "From": {"+15550001111"}, "Body": {"x"}}, 400, 21211},
		{"mixed channels", twPath, twSID, twToken,
			url.Values{"To": {"whatsapp:+15557654321"}, "From": {"+15550001111"}, "Body": {"x"}}, 400, 21910},
	} {
		t.Run(c.name, func(t *testing.T) {
			srv, outbox, _ := startTwilioFake(t)
			a, err := twilioPost(t, t.Context(), srv, c.path, c.user, c.pass, c.form, nil)
			if err != nil {
				t.Fatal(err)
			}
			if a.status != c.status || a.body["code"] != c.code || a.body["status"] != float64(c.status) {
				t.Errorf("answer %d %v, want %d with code %v", a.status, a.body, c.status, c.code)
			}
			if n := len(outbox.List()); n != 0 {
				t.Errorf("outbox has %d messages, want 0", n)
			}
		})
	}
}

func TestTwilioFakeDownDropsTheConnection(t *testing.T) {
	srv, outbox, faults := startTwilioFake(t)
	faults.Set(fake.Fault{Provider: "twilio", Mode: fake.ModeDown})
	_, err := twilioPost(t, t.Context(), srv, twPath, twSID, twToken, smsForm(), nil)
	if err == nil {
		t.Fatal("a down fake answered")
	}
	if n := len(outbox.List()); n != 0 {
		t.Errorf("outbox has %d messages, want 0", n)
	}
}

func TestTwilioFakeErrorsAnswerInTwilioShape(t *testing.T) {
	srv, outbox, faults := startTwilioFake(t)
	faults.Set(fake.Fault{Provider: "twilio", Mode: fake.ModeErrors, Status: 429})
	a, err := twilioPost(t, t.Context(), srv, twPath, twSID, twToken, smsForm(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if a.status != 429 || a.body["status"] != float64(429) || a.body["code"] != float64(20429) || a.body["message"] == "" {
		t.Errorf("answer %d %v", a.status, a.body)
	}
	if n := len(outbox.List()); n != 0 {
		t.Errorf("outbox has %d messages, want 0", n)
	}
}

func TestTwilioFakeFaultsAreScopedToItsName(t *testing.T) {
	srv, _, faults := startTwilioFake(t)
	faults.Set(fake.Fault{Provider: "vonage", Mode: fake.ModeDown})
	if a, err := twilioPost(t, t.Context(), srv, twPath, twSID, twToken, smsForm(), nil); err != nil || a.status != 201 {
		t.Fatalf("answer %v, %v: another provider's fault reached twilio", a, err)
	}
}

func TestTwilioFakeSlowModeAnswersLateOrGivesUpWithTheCaller(t *testing.T) {
	srv, outbox, faults := startTwilioFake(t)
	faults.Set(fake.Fault{Provider: "twilio", Mode: fake.ModeSlow, LatencyMS: 150})

	start := time.Now()
	a, err := twilioPost(t, t.Context(), srv, twPath, twSID, twToken, smsForm(), nil)
	if err != nil || a.status != 201 {
		t.Fatalf("answer %v, %v", a, err)
	}
	if took := time.Since(start); took < 150*time.Millisecond {
		t.Errorf("answered after %v, want at least 150ms", took)
	}

	// Ten minutes: only a handler that notices the caller left can be done in time.
	faults.Set(fake.Fault{Provider: "twilio", Mode: fake.ModeSlow, LatencyMS: 600_000})
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	if _, err := twilioPost(t, ctx, srv, twPath, twSID, twToken, smsForm(), nil); err == nil {
		t.Fatal("a 10 minute answer arrived within 100ms")
	}
	// The handler must notice the caller left: Close waits for it.
	closed := make(chan struct{})
	go func() { srv.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(60 * time.Second): // liveness, generous for -race on a loaded machine
		srv.CloseClientConnections()
		t.Fatal("the handler kept waiting after the caller gave up")
	}
	if n := len(outbox.List()); n != 1 {
		t.Errorf("outbox has %d messages, want only the first", n)
	}
}

// A body the fake must not read without bound.
func TestTwilioFakeBoundsTheRequestBody(t *testing.T) {
	srv, outbox, _ := startTwilioFake(t)
	huge := url.Values{"To": {"+15557654321"}, "From": {"+15550001111"}, "Body": {strings.Repeat("a", 2<<20)}}
	req, _ := http.NewRequest(http.MethodPost, srv.URL+twPath, strings.NewReader(huge.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(twSID, twToken)
	resp, err := srv.Client().Do(req)
	if err == nil {
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("status = %d, want 400", resp.StatusCode)
		}
	}
	if n := len(outbox.List()); n != 0 {
		t.Errorf("outbox has %d messages, want 0", n)
	}
}
