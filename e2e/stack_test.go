// Package e2e runs Switchboard end to end on the embedded stack: NATS with
// JetStream, the Temporal dev server, the fake vendors, the worker and the API, all in
// the test process and all on loopback. It is the only test package that imports the
// Temporal server.
package e2e

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-cc/switchboard/internal/devstack"
	"github.com/switchboard-cc/switchboard/internal/devstack/devtemporal"
	"github.com/switchboard-cc/switchboard/internal/testmsg"
	"github.com/switchboard-cc/switchboard/internal/turn"
	"github.com/switchboard-cc/switchboard/providers/fake"
)

// Bearer tokens of the test stacks. Requests from the tests carry the ops token
// unless they set Authorization themselves (see TestMain).
const (
	opsToken   = "ops-e2e-token-0000000000"
	agentToken = "agent-e2e-token-000000000"
)

// withOpsToken adds the ops token to requests that carry no Authorization.
type withOpsToken struct{ base http.RoundTripper }

func (t withOpsToken) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Header.Get("Authorization") == "" && r.Header.Get("X-Twilio-Signature") == "" && !strings.HasPrefix(r.URL.Path, "/webhooks/") {
		r = r.Clone(r.Context())
		r.Header.Set("Authorization", "Bearer "+opsToken)
	}
	return t.base.RoundTrip(r)
}

func TestMain(m *testing.M) {
	http.DefaultClient.Transport = withOpsToken{http.DefaultTransport}
	os.Exit(m.Run())
}

func testLogger() *slog.Logger {
	level := slog.LevelWarn
	if os.Getenv("E2E_VERBOSE") != "" {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
}

// stack is a running dev stack.
type stack struct {
	devstack.Ready
	signer testmsg.Signer
	stop   func()
}

// startStack runs `switchboard dev` in the test process. dataDir "" keeps everything
// in memory.
func startStack(t *testing.T, dataDir string) *stack {
	t.Helper()
	return startStackLogging(t, dataDir, testLogger())
}

// startStackLogging is startStack with the stack's logs (the Temporal SDK's
// included) going to log.
func startStackLogging(t *testing.T, dataDir string, log *slog.Logger) *stack {
	t.Helper()
	dc := devstack.Config{
		DataDir: dataDir, InMemory: dataDir == "", HTTPAddr: "127.0.0.1:0",
		TemporalPort: devtemporal.RandomPort, NATSPort: -1, DisableUI: true,
		OpsToken: opsToken, AgentToken: agentToken,
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan devstack.Ready, 1)
	done := make(chan error, 1)
	go func() { done <- devstack.Run(ctx, dc, log, func(r devstack.Ready) { ready <- r }) }()
	var s stack
	select {
	case r := <-ready:
		s.Ready = r
	case err := <-done:
		cancel()
		t.Fatalf("dev stack did not start: %v", err)
	case <-time.After(60 * time.Second):
		cancel()
		t.Fatal("dev stack did not start within 60s")
	}
	s.signer = testmsg.DevSigner(s.PublicURL)
	stopped := false
	s.stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			require.NoError(t, err)
		case <-time.After(30 * time.Second):
			t.Error("dev stack did not stop within 30s")
		}
	}
	t.Cleanup(s.stop)
	return &s
}

// send posts a signed webhook and returns the status and body.
func (s *stack) send(t *testing.T, m testmsg.Message) (int, string, string) {
	t.Helper()
	req, id, err := s.signer.Request(context.Background(), s.API, m)
	require.NoError(t, err)
	return do(t, req, id)
}

func do(t *testing.T, req *http.Request, id string) (int, string, string) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b), id
}

// waitOutbox waits until the outbox holds n messages to addr.
func (s *stack) waitOutbox(t *testing.T, to string, n int) []fake.Sent {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		changed := s.Outbox.Changed()
		got := sentTo(s.Outbox, to)
		if len(got) >= n {
			return got
		}
		select {
		case <-changed:
		case <-deadline:
			t.Fatalf("outbox holds %d messages to %s, want %d", len(got), to, n)
		}
	}
}

func sentTo(o *fake.Outbox, to string) []fake.Sent {
	var out []fake.Sent
	for _, m := range o.List() {
		if m.To == to {
			out = append(out, m)
		}
	}
	return out
}

// transcript reads a conversation through the API.
func (s *stack) transcript(t *testing.T, conversationID string) turn.Transcript {
	t.Helper()
	resp, err := http.Get(s.API + "/v1/conversations/" + conversationID)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var tr turn.Transcript
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&tr))
	return tr
}
