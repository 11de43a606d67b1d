// Package nlutest is the contract every nlu.Detector must keep, as a test suite an
// implementation runs against its fake vendor. The workflow's failover logic relies
// on these behaviours (classified errors, one prompt attempt, concurrency safety),
// so each implementation proves them the same way.
//
// It imports internal/turn and the providers packages (the contract, the fakes) of
// the project; nothing above them.
package nlutest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-cc/switchboard/internal/turn"
	"github.com/switchboard-cc/switchboard/providers"
	"github.com/switchboard-cc/switchboard/providers/fake"
	"github.com/switchboard-cc/switchboard/providers/nlu"
)

// Harness is an implementation under test, wired to a fake vendor.
type Harness struct {
	// Detector talks to the fake.
	Detector nlu.Detector
	// Agent is the agent the fake answers from; expectations are drawn from it.
	Agent *fake.Agent
	// Faults are the switches the fake obeys, and Provider the name it decides them
	// by. With nil Faults the fault scenarios are skipped (a detector with no vendor
	// behind it cannot be made to fail).
	Faults   *fake.Faults
	Provider string
}

// Run runs the contract as subtests of t. Subtests that set faults clear them when
// they finish, so Run must not share the fake with parallel tests.
func Run(t *testing.T, h Harness) {
	t.Helper()
	require.NotNil(t, h.Detector, "Harness.Detector")
	require.NotNil(t, h.Agent, "Harness.Agent")
	require.NotEmpty(t, h.Agent.Intents, "Harness.Agent has no intents")

	t.Run("known phrase matches its intent with a reply", func(t *testing.T) {
		for i, in := range h.Agent.Intents {
			phrase := in.TrainingPhrases[0]
			res, err := h.Detector.Detect(callCtx(t), query(i, phrase))
			require.NoError(t, err, "phrase %q", phrase)
			require.Equal(t, in.Name, res.Intent, "phrase %q", phrase)
			require.NotEmpty(t, res.Reply, "phrase %q", phrase)
			require.Contains(t, res.Reply, in.Reply, "phrase %q", phrase)
			require.Greater(t, res.Confidence, float32(0), "phrase %q", phrase)
		}
	})

	t.Run("gibberish is no match with the no-match reply", func(t *testing.T) {
		res, err := h.Detector.Detect(callCtx(t), query(0, "zxqv blorft wumpus"))
		require.NoError(t, err)
		require.Equal(t, turn.NoMatch, res.Intent)
		require.Equal(t, h.Agent.NoMatchReply, res.Reply)
	})

	t.Run("provider down is unavailable and recovers when it is back", func(t *testing.T) {
		setFault(t, h, fake.Fault{Mode: fake.ModeDown})
		_, err := h.Detector.Detect(callCtx(t), known(h))
		requireKind(t, err, providers.ErrUnavailable)
		require.False(t, providers.Permanent(err), "an outage is not permanent: %v", err)

		setFault(t, h, fake.Fault{Mode: fake.ModeOK})
		_, err = h.Detector.Detect(callCtx(t), known(h))
		require.NoError(t, err)
	})

	t.Run("status 429 is rate limited", func(t *testing.T) {
		setFault(t, h, fake.Fault{Mode: fake.ModeErrors, Status: 429})
		_, err := h.Detector.Detect(callCtx(t), known(h))
		requireKind(t, err, providers.ErrRateLimited)
		require.False(t, providers.Permanent(err), "rate limiting is not permanent: %v", err)
	})

	t.Run("status 400 is rejected and permanent", func(t *testing.T) {
		setFault(t, h, fake.Fault{Mode: fake.ModeErrors, Status: 400})
		_, err := h.Detector.Detect(callCtx(t), known(h))
		requireKind(t, err, providers.ErrRejected)
		require.True(t, providers.Permanent(err), "a rejected request is permanent: %v", err)
	})

	t.Run("slow beyond the caller's deadline times out", func(t *testing.T) {
		const latency = 10 * time.Second
		setFault(t, h, fake.Fault{Mode: fake.ModeSlow, LatencyMS: int(latency / time.Millisecond)})
		c, cancel := context.WithTimeout(callCtx(t), 200*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := h.Detector.Detect(c, known(h))
		requireKind(t, err, providers.ErrTimeout)
		// Loose on purpose: the point is that the detector gave up at the caller's
		// deadline instead of waiting for the slow vendor.
		require.Less(t, time.Since(start), latency/2, "Detect waited for the slow vendor")
	})

	t.Run("hung: a cancelled call ends at once", func(t *testing.T) {
		setFault(t, h, fake.Fault{Mode: fake.ModeHang})
		c, cancel := context.WithCancel(callCtx(t))
		time.AfterFunc(100*time.Millisecond, cancel) // another provider answered first
		start := time.Now()
		_, err := h.Detector.Detect(c, known(h))
		require.Error(t, err)
		require.Less(t, time.Since(start), 2*time.Second, "Detect waited for the hung vendor after its caller gave up")
	})

	t.Run("concurrent calls are safe", func(t *testing.T) {
		const workers, calls = 8, 5
		var wg sync.WaitGroup
		for w := range workers {
			wg.Go(func() {
				for n := range calls {
					in := h.Agent.Intents[(w+n)%len(h.Agent.Intents)]
					q := nlu.Query{SessionID: fmt.Sprintf("nlutest-%d-%d", w, n), Text: in.TrainingPhrases[0]}
					res, err := h.Detector.Detect(callCtx(t), q)
					switch {
					case err != nil:
						t.Errorf("worker %d call %d: %v", w, n, err)
					case res.Intent != in.Name:
						t.Errorf("worker %d call %d: %q matched %q, want %q", w, n, q.Text, res.Intent, in.Name)
					}
				}
			})
		}
		wg.Wait()
	})
}

// callCtx bounds every contract call, so a detector that hangs fails the test instead
// of stalling it.
func callCtx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

func query(n int, text string) nlu.Query {
	return nlu.Query{SessionID: fmt.Sprintf("nlutest-%d", n), Text: text}
}

func known(h Harness) nlu.Query {
	return query(0, h.Agent.Intents[0].TrainingPhrases[0])
}

// setFault sets f for the harness's provider and clears it when the subtest ends.
func setFault(t *testing.T, h Harness, f fake.Fault) {
	t.Helper()
	if h.Faults == nil {
		t.Skip("the harness has no fault switches")
	}
	f.Provider = h.Provider
	require.NoError(t, h.Faults.Set(f))
	t.Cleanup(func() {
		_ = h.Faults.Set(fake.Fault{Provider: h.Provider, Mode: fake.ModeOK})
	})
}

func requireKind(t *testing.T, err error, kind error) {
	t.Helper()
	require.Error(t, err)
	require.True(t, errors.Is(err, kind), "error %q is not %q", err, kind)
	var pe *providers.Error
	require.True(t, errors.As(err, &pe), "error %q is not a *providers.Error", err)
}
