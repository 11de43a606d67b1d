package e2e

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-cc/switchboard/providers/fake"
)

// logBook keeps what the stack logs at warn and above, and passes it on to stderr.
type logBook struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBook) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf.Write(p)
	return os.Stderr.Write(p)
}

func (b *logBook) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func (b *logBook) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(io.Writer(b), &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// The dev policy tries cx-global, then cx-europe, llm and local, with 2 s
// attempts, a breaker that opens after 3 failures and probes every 2 s, and
// hedge delays derived from each provider's latency.
func TestHungPrimaryNLU_IsHedgedOver_TripsItsBreaker_AndHoldsNoWorkflowTask(t *testing.T) {
	var book logBook
	s := startStackLogging(t, "", book.logger())
	o := s.turnVia(t, "+15557600000", "hello")
	require.Equal(t, "cx-global", o.NLUProvider, "healthy: the primary answers")
	require.Empty(t, o.Hedged, "a healthy primary is not hedged")

	s.fault(t, fake.Fault{Provider: "cx-global", Mode: fake.ModeHang})
	for i := range 3 {
		o := s.turnVia(t, fmt.Sprintf("+155576%05d", i+1), "where is my order")
		require.Equal(t, "cx-europe", o.NLUProvider, "turn %d: the hedge answers", i+1)
		require.Equal(t, "order.status", o.Intent)
		require.Len(t, o.Hedged, 1, "turn %d: %+v", i+1, o)
		require.Equal(t, "cx-global", o.Hedged[0].Provider)
		require.Contains(t, o.Hedged[0].Error, "cx-europe answered first")
		require.Empty(t, o.Failover, "turn %d waited for no timeout: %+v", i+1, o.Failover)
	}
	st := providerState(t, s.API, "cx-global")
	require.Equal(t, "open", st.State, "three hedged-over calls trip the hung provider")
	require.Contains(t, st.Reason, "hedged over")
	o = s.turnVia(t, "+15557610000", "hello")
	require.Equal(t, "cx-europe", o.NLUProvider)
	require.Empty(t, o.Hedged, "a tripped primary is routed out: nothing to hedge over")

	s.fault(t, fake.Fault{Provider: "cx-global", Mode: fake.ModeOK})
	// A probe every 2 s while open; a good one lets trial calls through.
	require.Eventually(t, func() bool { return providerState(t, s.API, "cx-global").State != "open" }, 10*time.Second, 100*time.Millisecond)
	o = s.turnVia(t, "+15557620000", "hello")
	require.Equal(t, "cx-global", o.NLUProvider, "back on the primary")

	m := scrape(t, s.API)
	require.Contains(t, m, `switchboard_provider_attempts_total{outcome="hedged_over",provider="cx-global"} 3`)
	logs := book.String()
	for _, warning := range []string{"TMPRL1104", "LocalActivity completed after activity deadline", "Workflow task duration exceeded"} {
		require.False(t, strings.Contains(logs, warning), "the worker logged %q: a hung provider held a workflow task", warning)
	}
}
