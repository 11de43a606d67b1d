package llm_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-cc/switchboard/providers"
	"github.com/switchboard-cc/switchboard/providers/fake"
	"github.com/switchboard-cc/switchboard/providers/llm"
)

func TestProbeIsOneChatCompletionOverTheWire(t *testing.T) {
	agent, err := fake.LoadAgent(demoAgent)
	require.NoError(t, err)
	oa := fake.NewOpenAI(agent, nil, "llm", testKey)
	var (
		mu     sync.Mutex
		paths  []string
		bodies []map[string]any
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var m map[string]any
		json.Unmarshal(b, &m)
		mu.Lock()
		paths, bodies = append(paths, r.Method+" "+r.URL.Path), append(bodies, m)
		mu.Unlock()
		r.Body = io.NopCloser(strings.NewReader(string(b)))
		oa.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	c, err := llm.New(llm.Config{BaseURL: srv.URL + "/v1", APIKey: testKey, Model: "gpt-test",
		Intents: llm.IntentsOf(agent), NoMatchReply: agent.NoMatchReply})
	require.NoError(t, err)

	require.NoError(t, c.Probe(t.Context()))

	mu.Lock()
	defer mu.Unlock()
	require.Equal(t, []string{"POST /v1/chat/completions"}, paths)
	msgs, _ := bodies[0]["messages"].([]any)
	require.Len(t, msgs, 2)
	require.Equal(t, map[string]any{"role": "system", "content": c.SystemPrompt()}, msgs[0])
	require.Equal(t, map[string]any{"role": "user", "content": llm.ProbeText}, msgs[1])
	require.Equal(t, map[string]any{"type": "json_object"}, bodies[0]["response_format"])
}

func TestProbeFollowsTheFakesFaults(t *testing.T) {
	f := newFixture(t, llm.Config{})

	require.NoError(t, f.client.Probe(t.Context()), "fake ok")

	require.NoError(t, f.faults.Set(fake.Fault{Provider: "llm", Mode: fake.ModeDown}))
	requireProviderError(t, f.client.Probe(t.Context()), providers.ErrUnavailable, 0)

	for _, c := range []struct {
		status int
		kind   error
	}{
		{http.StatusTooManyRequests, providers.ErrRateLimited},
		{http.StatusServiceUnavailable, providers.ErrUnavailable},
		{http.StatusUnauthorized, providers.ErrRejected},
	} {
		require.NoError(t, f.faults.Set(fake.Fault{Provider: "llm", Mode: fake.ModeErrors, Status: c.status}))
		requireProviderError(t, f.client.Probe(t.Context()), c.kind, c.status)
	}

	require.NoError(t, f.faults.Set(fake.Fault{Provider: "llm", Mode: fake.ModeOK}))
	require.NoError(t, f.client.Probe(t.Context()), "fake back")
	require.Equal(t, 6, f.fake.Calls(), "each probe is exactly one attempt")
}

func TestProbeHoldsTheModelToTheFormat(t *testing.T) {
	f := newFixture(t, llm.Config{})
	for _, out := range []fake.OpenAIOutput{fake.OpenAIOutputNotJSON, fake.OpenAIOutputUnknownIntent,
		fake.OpenAIOutputTruncated, fake.OpenAIOutputRefusal} {
		require.NoError(t, f.fake.SetOutput(out))
		err := f.client.Probe(t.Context())
		requireProviderError(t, err, providers.ErrUnavailable, 0)
		require.ErrorIs(t, err, llm.ErrInvalidOutput, "output %q", out)
	}
}

func TestProbeHonoursTheCallersDeadlineAndTheConfiguredTimeout(t *testing.T) {
	t.Run("Timeout without a caller deadline", func(t *testing.T) {
		f := newFixture(t, llm.Config{Timeout: 150 * time.Millisecond})
		require.NoError(t, f.faults.Set(fake.Fault{Provider: "llm", Mode: fake.ModeSlow, LatencyMS: neverMS}))
		err := f.requireGivesUp(t, func() error { return f.client.Probe(context.Background()) })
		require.ErrorIs(t, err, providers.ErrTimeout)
	})
	t.Run("caller deadline before Timeout", func(t *testing.T) {
		// Timeout is as long as the fake's delay: only the caller's deadline can end
		// the probe within liveness.
		f := newFixture(t, llm.Config{Timeout: neverMS * time.Millisecond})
		require.NoError(t, f.faults.Set(fake.Fault{Provider: "llm", Mode: fake.ModeSlow, LatencyMS: neverMS}))
		ctx, cancel := context.WithTimeout(t.Context(), 150*time.Millisecond)
		defer cancel()
		err := f.requireGivesUp(t, func() error { return f.client.Probe(ctx) })
		require.ErrorIs(t, err, providers.ErrTimeout)
	})
}
