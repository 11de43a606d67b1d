package webhook_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchboard-cc/switchboard/internal/turn"
	"github.com/switchboard-cc/switchboard/providers"
	"github.com/switchboard-cc/switchboard/providers/fake"
	"github.com/switchboard-cc/switchboard/providers/messaging/messagingtest"
	"github.com/switchboard-cc/switchboard/providers/webhook"
)

var testSecret = []byte("chat-signing-secret-never-logged")

type receiver struct {
	*httptest.Server
	chat   *fake.ChatReceiver
	outbox *fake.Outbox
	faults *fake.Faults

	mu   sync.Mutex
	reqs []recorded
}

type recorded struct {
	method, path string
	header       http.Header
	body         []byte
}

// startReceiver serves the fake chat receiver on 127.0.0.1, keeping every request
// that reached it.
func startReceiver(t *testing.T) *receiver {
	t.Helper()
	rc := &receiver{outbox: &fake.Outbox{}, faults: &fake.Faults{}}
	rc.chat = fake.NewChatReceiver(testSecret, rc.outbox, rc.faults, "webchat")
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		rc.reqs = append(rc.reqs, recorded{r.Method, r.URL.Path, r.Header.Clone(), b})
		rc.mu.Unlock()
		r.Body = io.NopCloser(strings.NewReader(string(b)))
		rc.chat.ServeHTTP(w, r)
	}))
	t.Cleanup(rc.Close)
	return rc
}

func (rc *receiver) requests() []recorded {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]recorded(nil), rc.reqs...)
}

func newSender(t *testing.T, cfg webhook.Config) *webhook.Sender {
	t.Helper()
	if cfg.Name == "" {
		cfg.Name = "webchat"
	}
	if cfg.Secret == nil {
		cfg.Secret = testSecret
	}
	s, err := webhook.New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return s
}

func ctxFor(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), d)
	t.Cleanup(cancel)
	return ctx
}

func chatReply() turn.Message {
	return turn.Message{Channel: "chat", From: "+15550001000", To: "visitor-42", Body: "We open at 9.",
		IdempotencyKey: "api-chat-1/run-1/3", ConversationID: "api-chat-1", TurnID: "api:w3"}
}

func TestWebhookMeetsTheMessagingContract(t *testing.T) {
	messagingtest.Run(t, func(t *testing.T) messagingtest.Fixture {
		rc := startReceiver(t)
		return messagingtest.Fixture{Provider: "webchat", Sender: newSender(t, webhook.Config{URL: rc.URL + "/replies"}), Outbox: rc.outbox, Faults: rc.faults}
	})
}

func TestAReplyIsPostedSignedWithTheDocumentedFields(t *testing.T) {
	rc := startReceiver(t)
	s := newSender(t, webhook.Config{URL: rc.URL + "/switchboard/replies"})
	m := chatReply()
	before := time.Now().Add(-time.Second)
	r, err := s.Send(ctxFor(t, 5*time.Second), m)
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	reqs := rc.requests()
	if len(reqs) != 1 {
		t.Fatalf("%d requests reached the receiver, want 1", len(reqs))
	}
	req := reqs[0]
	if req.method != http.MethodPost || req.path != "/switchboard/replies" {
		t.Errorf("request was %s %s, want POST /switchboard/replies", req.method, req.path)
	}
	if got := req.header.Get("Idempotency-Key"); got != m.IdempotencyKey {
		t.Errorf("Idempotency-Key = %q, want %q", got, m.IdempotencyKey)
	}
	if ct := req.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q", ct)
	}

	// The documented procedure, step by step, without the package's own Verify.
	ts := req.header.Get("X-Switchboard-Timestamp")
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || time.Unix(sec, 0).Before(before.Truncate(time.Second)) || time.Unix(sec, 0).After(time.Now()) {
		t.Fatalf("X-Switchboard-Timestamp = %q, want the Unix time of the attempt", ts)
	}
	h := hmac.New(sha256.New, testSecret)
	h.Write([]byte(ts + "." + string(req.body)))
	if want := "v1=" + hex.EncodeToString(h.Sum(nil)); req.header.Get("X-Switchboard-Signature") != want {
		t.Errorf("X-Switchboard-Signature = %q, want %q", req.header.Get("X-Switchboard-Signature"), want)
	}
	if err := webhook.Verify(testSecret, ts, req.header.Get("X-Switchboard-Signature"), req.body, time.Now(), 0); err != nil {
		t.Errorf("Verify of a request as sent: %v", err)
	}

	var body map[string]any
	if err := json.Unmarshal(req.body, &body); err != nil {
		t.Fatalf("body is not JSON: %v", err)
	}
	for field, want := range map[string]string{
		"conversation_id": m.ConversationID, "turn_id": m.TurnID, "idempotency_key": m.IdempotencyKey,
		"channel": "chat", "from": m.From, "to": m.To, "body": m.Body,
	} {
		if body[field] != want {
			t.Errorf("body %s = %v, want %q", field, body[field], want)
		}
	}
	if at, err := time.Parse(time.RFC3339Nano, body["sent_at"].(string)); err != nil || at.Before(before) {
		t.Errorf("body sent_at = %v, want the attempt's time", body["sent_at"])
	}
	sent := rc.outbox.List()
	if len(sent) != 1 || sent[0].MessageID != r.MessageID || r.Provider != "webchat" {
		t.Errorf("receipt %+v, outbox %+v: want the receiver's id for the one reply", r, sent)
	}
}

func TestAReplyPostedTwiceIsOneReplyAtAReceiverThatDeduplicates(t *testing.T) {
	rc := startReceiver(t)
	s := newSender(t, webhook.Config{URL: rc.URL})
	r1, err1 := s.Send(ctxFor(t, 5*time.Second), chatReply())
	r2, err2 := s.Send(ctxFor(t, 5*time.Second), chatReply())
	if err1 != nil || err2 != nil {
		t.Fatalf("Send: %v, %v", err1, err2)
	}
	if r1.MessageID != r2.MessageID {
		t.Errorf("receipts %q and %q: want the receiver's one id twice", r1.MessageID, r2.MessageID)
	}
	sent := rc.outbox.List()
	if len(sent) != 1 || sent[0].Deliveries != 2 {
		t.Errorf("outbox %+v, want one reply delivered twice", sent)
	}
	reqs := rc.requests()
	if len(reqs) != 2 || reqs[1].header.Get("Idempotency-Key") != reqs[0].header.Get("Idempotency-Key") {
		t.Errorf("want two requests under the same Idempotency-Key, got %d", len(reqs))
	}
}

func TestAWrongSecretIsRefusedByTheReceiverAndDetectedByVerify(t *testing.T) {
	rc := startReceiver(t)
	wrong := []byte("another-secret-also-never-logged")
	s := newSender(t, webhook.Config{URL: rc.URL, Secret: wrong})

	_, err := s.Send(ctxFor(t, 5*time.Second), chatReply())
	var pe *providers.Error
	if !errors.Is(err, providers.ErrRejected) || !errors.As(err, &pe) || pe.Status != http.StatusUnauthorized || !providers.Permanent(err) {
		t.Fatalf("Send with the wrong secret = %v, want a permanent rejection with status 401", err)
	}
	if strings.Contains(err.Error(), string(wrong)) || strings.Contains(err.Error(), string(testSecret)) {
		t.Errorf("error leaks a secret: %v", err)
	}
	if n := len(rc.outbox.List()); n != 0 {
		t.Errorf("the receiver kept %d replies signed with the wrong secret", n)
	}
	if got := rc.chat.Refused(); len(got) != 1 || got[0] != "signature does not match" {
		t.Errorf("receiver refusals = %q, want one bad signature", got)
	}

	req := rc.requests()[0]
	ts, sig := req.header.Get("X-Switchboard-Timestamp"), req.header.Get("X-Switchboard-Signature")
	if err := webhook.Verify(testSecret, ts, sig, req.body, time.Now(), 0); !errors.Is(err, webhook.ErrBadSignature) {
		t.Errorf("Verify with the receiver's secret = %v, want ErrBadSignature", err)
	}
	if err := webhook.Verify(wrong, ts, sig, req.body, time.Now(), 0); err != nil {
		t.Errorf("Verify with the sender's secret = %v, want it valid", err)
	}
}

func TestVerifyRefusesTamperedAndReplayedRequests(t *testing.T) {
	body := []byte(`{"body":"hi"}`)
	now := time.Now()
	ts := strconv.FormatInt(now.Unix(), 10)
	sig := webhook.Sign(testSecret, ts, body)
	if err := webhook.Verify(testSecret, ts, sig, body, now, 0); err != nil {
		t.Fatalf("Verify of a fresh request: %v", err)
	}
	for name, c := range map[string]struct {
		ts, sig string
		body    []byte
		now     time.Time
		want    error
	}{
		"a body changed after signing":       {ts, sig, []byte(`{"body":"hj"}`), now, webhook.ErrBadSignature},
		"a timestamp changed after signing":  {strconv.FormatInt(now.Unix()+1, 10), sig, body, now, webhook.ErrBadSignature},
		"a signature without its version":    {ts, strings.TrimPrefix(sig, "v1="), body, now, webhook.ErrBadSignature},
		"the same request six minutes later": {ts, sig, body, now.Add(6 * time.Minute), webhook.ErrStale},
		"a request from six minutes ahead":   {ts, sig, body, now.Add(-6 * time.Minute), webhook.ErrStale},
	} {
		if err := webhook.Verify(testSecret, c.ts, c.sig, c.body, c.now, 0); !errors.Is(err, c.want) {
			t.Errorf("%s: Verify = %v, want %v", name, err, c.want)
		}
	}
	if err := webhook.Verify(testSecret, ts, sig, body, now.Add(6*time.Minute), 10*time.Minute); err != nil {
		t.Errorf("Verify within a 10-minute window: %v", err)
	}
}

func TestATimeoutAfterTheRequestWasWrittenLeavesTheDeliveryUnknown(t *testing.T) {
	hang := messagingtest.StartHanging(t, "webchat", func(o *fake.Outbox, f *fake.Faults) http.Handler {
		return fake.NewChatReceiver(testSecret, o, f, "webchat")
	})
	s := newSender(t, webhook.Config{URL: hang.URL, Timeout: 150 * time.Millisecond})
	err := hang.RequireGivesUp(t, func() error {
		_, err := s.Send(context.Background(), chatReply())
		return err
	})
	if !errors.Is(err, providers.ErrTimeout) || !providers.DeliveryUnknown(err) {
		t.Fatalf("Send = %v, want a timeout of unknown delivery", err)
	}
}

func TestProbeReadsTheProbeURLOrAsksForOptionsAndSendsNothing(t *testing.T) {
	rc := startReceiver(t)
	withURL := newSender(t, webhook.Config{URL: rc.URL + "/replies", ProbeURL: rc.URL + "/healthz"})
	bare := newSender(t, webhook.Config{URL: rc.URL + "/replies"})
	for name, s := range map[string]*webhook.Sender{"probe_url": withURL, "OPTIONS": bare} {
		if err := s.Probe(ctxFor(t, 5*time.Second)); err != nil {
			t.Errorf("%s: Probe of a healthy receiver: %v", name, err)
		}
		rc.faults.Set(fake.Fault{Provider: "webchat", Mode: fake.ModeDown})
		if err := s.Probe(ctxFor(t, 5*time.Second)); !errors.Is(err, providers.ErrUnavailable) {
			t.Errorf("%s: Probe of a receiver that is down = %v, want unavailable", name, err)
		}
		rc.faults.Set(fake.Fault{Provider: "webchat", Mode: fake.ModeErrors, Status: http.StatusServiceUnavailable})
		if err := s.Probe(ctxFor(t, 5*time.Second)); !errors.Is(err, providers.ErrUnavailable) {
			t.Errorf("%s: Probe of a receiver answering 503 = %v, want unavailable", name, err)
		}
		rc.faults.Set(fake.Fault{Provider: "webchat", Mode: fake.ModeAcceptThenHang})
		if err := s.Probe(ctxFor(t, 5*time.Second)); err != nil {
			t.Errorf("%s: Probe of a receiver whose sends hang but which answers: %v", name, err)
		}
		rc.faults.Set(fake.Fault{Provider: "webchat", Mode: fake.ModeOK})
	}
	var methods []string
	for _, r := range rc.requests() {
		methods = append(methods, r.method+" "+r.path)
	}
	if !strings.Contains(strings.Join(methods, ","), "GET /healthz") || !strings.Contains(strings.Join(methods, ","), "OPTIONS /replies") {
		t.Errorf("probes were %v, want GET /healthz and OPTIONS /replies", methods)
	}
	if n := len(rc.outbox.List()); n != 0 {
		t.Errorf("outbox has %d replies after probes, want 0", n)
	}

	// A server that answers OPTIONS with 405 is up; a GET probe needs a 2xx.
	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusMethodNotAllowed)
	}))
	t.Cleanup(plain.Close)
	if err := newSender(t, webhook.Config{URL: plain.URL}).Probe(ctxFor(t, 5*time.Second)); err != nil {
		t.Errorf("OPTIONS answered 405: Probe = %v, want up", err)
	}
	if err := newSender(t, webhook.Config{URL: plain.URL, ProbeURL: plain.URL + "/healthz"}).Probe(ctxFor(t, 5*time.Second)); !errors.Is(err, providers.ErrRejected) {
		t.Errorf("probe_url answered 405: Probe = %v, want a failure", err)
	}
}

func TestConfigRefusesPlainHTTPOffLoopbackShortSecretsAndURLsWithCredentials(t *testing.T) {
	for _, c := range []struct {
		cfg  webhook.Config
		want string
	}{
		{webhook.Config{Secret: testSecret}, "URL is required"},
		{webhook.Config{URL: "https://chat.example.com/r", Secret: []byte("short")}, "at least 16 bytes"},
		{webhook.Config{URL: "http://chat.example.com/r", Secret: testSecret}, "must be https outside loopback"},
		{webhook.Config{URL: "https://u:" + string(testSecret) + "@chat.example.com/r", Secret: testSecret}, "credentials"},
		{webhook.Config{URL: "https://chat.example.com/r?token=x", Secret: testSecret}, "query"},
		{webhook.Config{URL: "ftp://chat.example.com/r", Secret: testSecret}, "scheme"},
		{webhook.Config{URL: "https://chat.example.com/r", ProbeURL: "http://chat.example.com/h", Secret: testSecret}, "ProbeURL"},
	} {
		_, err := webhook.New(c.cfg)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("New(%s): err = %v, want it to say %q", c.cfg.URL, err, c.want)
			continue
		}
		if strings.Contains(err.Error(), string(testSecret)) {
			t.Errorf("error leaks the secret: %v", err)
		}
	}
	for _, ok := range []webhook.Config{
		{URL: "https://chat.example.com/r", Secret: testSecret},
		{URL: "http://127.0.0.1:9000/r", Secret: testSecret},
		{URL: "http://[::1]:9000/r", Secret: testSecret},
		{URL: "http://localhost/r", Secret: testSecret},
		{URL: "http://chat.internal/r", Secret: testSecret, InsecureHTTP: true},
	} {
		if _, err := webhook.New(ok); err != nil {
			t.Errorf("New(%s): %v", ok.URL, err)
		}
	}
}

func TestAReplyWithoutAnIdempotencyKeyIsRejectedUnsent(t *testing.T) {
	rc := startReceiver(t)
	m := chatReply()
	m.IdempotencyKey = ""
	_, err := newSender(t, webhook.Config{URL: rc.URL}).Send(ctxFor(t, 5*time.Second), m)
	if !errors.Is(err, providers.ErrRejected) {
		t.Fatalf("Send = %v, want rejected", err)
	}
	if n := len(rc.requests()); n != 0 {
		t.Errorf("%d requests reached the receiver, want 0", n)
	}
}
