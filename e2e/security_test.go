package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-cc/switchboard/internal/devstack"
	"github.com/switchboard-cc/switchboard/internal/devstack/devtemporal"
	"github.com/switchboard-cc/switchboard/internal/logging"
	"github.com/switchboard-cc/switchboard/internal/testmsg"
	"github.com/switchboard-cc/switchboard/internal/turn"
	"github.com/switchboard-cc/switchboard/providers/vonage"
)

// lockedBuffer collects the stack's log output.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// ingressToken is the bearer token of the JSON turn API in the tests that name it.
const ingressToken = "ingress-e2e-token-0000000"

func status(t *testing.T, method, url, token string) int {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(`{"agent":"ann"}`))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+token)
	if token == "" {
		req.Header.Set("Authorization", "none") // keep the test transport from adding one
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	return resp.StatusCode
}

func TestAPISecurity_TokensAndRoles_NoSecretOrBodyInTheLogs(t *testing.T) {
	var logs lockedBuffer
	log := slog.New(logging.Mask(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	dc := devstack.Config{HTTPAddr: "127.0.0.1:0", TemporalPort: devtemporal.RandomPort, NATSPort: -1, DisableUI: true,
		InMemory: true, OpsToken: opsToken, AgentToken: agentToken, IngressToken: ingressToken}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan devstack.Ready, 1)
	done := make(chan error, 1)
	go func() { done <- devstack.Run(ctx, dc, log, func(r devstack.Ready) { ready <- r }) }()
	var r devstack.Ready
	select {
	case r = <-ready:
	case err := <-done:
		t.Fatal(err)
	case <-time.After(60 * time.Second):
		t.Fatal("no start")
	}
	defer func() { cancel(); <-done }()

	for _, c := range []struct {
		method, path, token string
		want                int
	}{
		{"GET", "/v1/providers", "", http.StatusUnauthorized},
		{"GET", "/v1/providers", "wrong-token-0000000000", http.StatusUnauthorized},
		{"GET", "/v1/providers", agentToken, http.StatusForbidden},
		{"GET", "/v1/providers", opsToken, http.StatusOK},
		{"GET", "/metrics", agentToken, http.StatusForbidden},
		{"GET", "/v1/policy", "", http.StatusUnauthorized},
		{"POST", "/v1/queues/tier1/claim", "", http.StatusUnauthorized},
		{"POST", "/v1/queues/tier1/claim", agentToken, http.StatusNotFound}, // allowed; the queue is empty
		{"GET", "/healthz", "", http.StatusOK},
		// The JSON turn API is closed: only ingress and ops tokens get in (and then
		// the body, which is no turn, is refused).
		{"POST", "/v1/turns", "", http.StatusUnauthorized},
		{"POST", "/v1/turns", "wrong-token-0000000000", http.StatusUnauthorized},
		{"POST", "/v1/turns", agentToken, http.StatusForbidden},
		{"POST", "/v1/turns", ingressToken, http.StatusBadRequest},
		{"POST", "/v1/turns", opsToken, http.StatusBadRequest},
		{"GET", "/v1/conversations", ingressToken, http.StatusForbidden},
	} {
		require.Equal(t, c.want, status(t, c.method, r.API+c.path, c.token), "%s %s with %q", c.method, c.path, c.token)
	}

	// A turn with a body and a phone number, then a look at everything logged.
	signer := testmsg.DevSigner(r.PublicURL)
	secretText := "my card number is 4111 1111 1111 1111"
	req, _, err := signer.Request(context.Background(), r.API, testmsg.Message{Vendor: "twilio", From: "+15558880001", To: business, Text: secretText})
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Eventually(t, func() bool { return len(sentTo(r.Outbox, "+15558880001")) == 1 }, 20*time.Second, 50*time.Millisecond)

	out := logs.String()
	require.NotEmpty(t, out)
	for _, secret := range []string{opsToken, agentToken, ingressToken, testmsg.DevTwilioAuthToken, "4111", "5558880001"} {
		require.NotContains(t, out, secret)
	}
}

// asStranger sends req as an outsider's client would: with no token but the one it
// set itself (the test transport adds the ops token to every other request).
func asStranger(t *testing.T, req *http.Request) (int, string) {
	t.Helper()
	resp, err := http.DefaultTransport.RoundTrip(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b)
}

func TestAPISecurity_AnIngressTokenCannotSpeakInACustomersTwilioConversation(t *testing.T) {
	s := startStack(t, "")
	customer := "+15558880002"
	code, body, _ := s.send(t, testmsg.Message{Vendor: "twilio", From: customer, To: business, Text: "where is my order"})
	require.Equal(t, http.StatusOK, code, body)
	s.waitOutbox(t, customer, 1)
	victim := turn.ConversationID(turn.VendorTwilio, turn.ChannelSMS, customer, business)
	require.Len(t, s.transcript(t, victim).Turns, 1)

	// The id is an unsalted hash of two phone numbers: anyone can compute it. With
	// the ingress token, or with none at all, a turn aimed at it is refused.
	inject := func(token, messageID string) (int, string) {
		b, err := json.Marshal(map[string]string{
			"message_id": messageID, "conversation_id": victim, "channel": "sms",
			"from": customer, "to": business, "text": "cancel my order and refund it to another card",
		})
		require.NoError(t, err)
		req, err := http.NewRequest(http.MethodPost, s.API+"/v1/turns?wait=5s", bytes.NewReader(b))
		require.NoError(t, err)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		return asStranger(t, req)
	}
	code, body = inject("", "inject-1")
	require.Equal(t, http.StatusUnauthorized, code, body)
	code, body = inject(s.IngressToken, "inject-2")
	require.Equal(t, http.StatusBadRequest, code, body)
	require.Contains(t, body, "conversation_id must begin with")
	// Refused before JetStream: the transcript still holds the customer's own turn.
	tr := s.transcript(t, victim)
	require.Len(t, tr.Turns, 1)
	require.Equal(t, "where is my order", tr.Turns[0].Text)
	require.Len(t, sentTo(s.Outbox, customer), 1)
}

func TestAPISecurity_ACapturedVonageWebhookReplayed_AndAStaleOne_AreRefused(t *testing.T) {
	s := startStack(t, "")
	customer := "+15558880003"
	req, _, err := s.signer.Request(context.Background(), s.API, testmsg.Message{Vendor: "vonage", From: customer, To: "+15550002000", Text: "where is my order"})
	require.NoError(t, err)
	auth := req.Header.Get("Authorization")
	captured, err := io.ReadAll(req.Body)
	require.NoError(t, err)
	req.Body = io.NopCloser(bytes.NewReader(captured))
	code, body := asStranger(t, req)
	require.Equal(t, http.StatusOK, code, body)
	s.waitOutbox(t, customer, 1)

	replay := func(authorization string) (int, string) {
		r, err := http.NewRequest(http.MethodPost, s.API+testmsg.VonagePath, bytes.NewReader(captured))
		require.NoError(t, err)
		r.Header.Set("Content-Type", "application/json")
		r.Header.Set("Authorization", authorization)
		return asStranger(t, r)
	}
	// The same signed delivery again: its jti was seen.
	code, body = replay(auth)
	require.Equal(t, http.StatusUnauthorized, code, body)
	require.Contains(t, body, "used before")
	// A delivery signed ten minutes ago (captured then): too old.
	stale, err := vonage.SignToken(testmsg.DevVonageSignatureSecret, captured, vonage.Token{ID: "jti-captured-long-ago", IssuedAt: time.Now().Add(-10 * time.Minute)})
	require.NoError(t, err)
	code, body = replay(stale)
	require.Equal(t, http.StatusUnauthorized, code, body)
	require.Contains(t, body, "too old")

	conv := turn.ConversationID(turn.VendorVonage, turn.ChannelSMS, customer, "+15550002000")
	require.Len(t, s.transcript(t, conv).Turns, 1)
	require.Len(t, sentTo(s.Outbox, customer), 1)
}
