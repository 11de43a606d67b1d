package e2e

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-cc/switchboard/internal/app"
	"github.com/switchboard-cc/switchboard/internal/devtemporal"
	"github.com/switchboard-cc/switchboard/internal/logging"
	"github.com/switchboard-cc/switchboard/internal/testmsg"
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
	dc := app.DevConfig{HTTPAddr: "127.0.0.1:0", TemporalPort: devtemporal.RandomPort, NATSPort: -1, DisableUI: true,
		InMemory: true, OpsToken: opsToken, AgentToken: agentToken}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan app.DevReady, 1)
	done := make(chan error, 1)
	go func() { done <- app.RunDev(ctx, dc, startTemporal, log, func(r app.DevReady) { ready <- r }) }()
	var r app.DevReady
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
	} {
		require.Equal(t, c.want, status(t, c.method, r.API+c.path, c.token), "%s %s with %q", c.method, c.path, c.token)
	}

	// A turn with a body and a phone number, then a look at everything logged.
	signer := testmsg.Signer{PublicURL: r.PublicURL, TwilioAccountSID: app.DevTwilioAccountSID, TwilioAuthToken: app.DevTwilioAuthToken, VonageSecret: app.DevVonageSignatureSecret}
	secretText := "my card number is 4111 1111 1111 1111"
	req, _, err := signer.Request(context.Background(), r.API, testmsg.Message{Vendor: "twilio", From: "+15558880001", To: business, Text: secretText})
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Eventually(t, func() bool { return len(sentTo(r.Outbox, "+15558880001")) == 1 }, 20*time.Second, 50*time.Millisecond)

	out := logs.String()
	require.NotEmpty(t, out)
	for _, secret := range []string{opsToken, agentToken, app.DevTwilioAuthToken, "4111", "5558880001"} {
		require.NotContains(t, out, secret)
	}
}
