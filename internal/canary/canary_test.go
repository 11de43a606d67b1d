package canary_test

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/switchboard-cc/switchboard/deploy"
	"github.com/switchboard-cc/switchboard/internal/canary"
	"github.com/switchboard-cc/switchboard/internal/devstack/devnats"
	"github.com/switchboard-cc/switchboard/internal/streams"
	"github.com/switchboard-cc/switchboard/internal/turn"
	"github.com/switchboard-cc/switchboard/providers/routing"
)

// world is an embedded NATS with the streams, and a stand-in for the bridge and the
// conversation workflow: it answers each turn stored in JetStream with the outcome
// that answer returns (none when it returns false).
type world struct {
	nc  *nats.Conn
	js  jetstream.JetStream
	pol *routing.Policy

	mu    sync.Mutex
	turns []turn.Turn
}

func newWorld(t *testing.T, answer func(turn.Turn) (turn.Outcome, bool)) *world {
	t.Helper()
	s, err := devnats.Start(devnats.Config{Port: devnats.RandomPort})
	require.NoError(t, err)
	t.Cleanup(s.Stop)
	nc, err := nats.Connect(s.ClientURL())
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	require.NoError(t, streams.Ensure(t.Context(), js, streams.Config{MemoryStorage: true}))
	pol, err := routing.Parse(deploy.DevPolicy)
	require.NoError(t, err)
	w := &world{nc: nc, js: js, pol: pol}
	cons, err := js.CreateOrUpdateConsumer(t.Context(), turn.TurnsStream, jetstream.ConsumerConfig{AckPolicy: jetstream.AckExplicitPolicy})
	require.NoError(t, err)
	cc, err := cons.Consume(func(m jetstream.Msg) {
		_ = m.Ack()
		tr, err := streams.DecodeTurn(m.Data())
		if err != nil {
			t.Errorf("the canary published an invalid turn: %v", err)
			return
		}
		w.mu.Lock()
		w.turns = append(w.turns, tr)
		w.mu.Unlock()
		out, ok := answer(tr)
		if !ok {
			return
		}
		out.TurnID, out.ConversationID, out.ReceivedAt = tr.ID, tr.ConversationID, tr.ReceivedAt
		if out.AcceptedAt.IsZero() {
			out.AcceptedAt = tr.ReceivedAt.Add(7 * time.Millisecond)
		}
		b, _ := json.Marshal(out)
		_ = nc.Publish(turn.EventSubject(tr.ConversationID), b)
	})
	require.NoError(t, err)
	t.Cleanup(cc.Stop)
	return w
}

func (w *world) seen() []turn.Turn {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]turn.Turn(nil), w.turns...)
}

func (w *world) runner(timeout time.Duration) *canary.Runner {
	return canary.New(canary.Config{Policy: func() *routing.Policy { return w.pol }, NC: w.nc, JS: w.js, Timeout: timeout})
}

func replied(nluProvider, cpaasProvider string) func(turn.Turn) (turn.Outcome, bool) {
	return func(turn.Turn) (turn.Outcome, bool) {
		return turn.Outcome{
			Intent: "no-match", Reply: "Sorry?", Status: turn.StatusReplied,
			NLUProvider: nluProvider, NLUDuration: 30 * time.Millisecond,
			CPaaSProvider: cpaasProvider, CPaaSDuration: 20 * time.Millisecond,
		}, true
	}
}

func TestRun_HealthyStack_EveryHopOK(t *testing.T) {
	w := newWorld(t, replied("cx-global", "twilio"))
	r := w.runner(5 * time.Second)
	rep, err := r.Run(t.Context())
	require.NoError(t, err)
	require.True(t, rep.OK, rep.Error)
	require.Empty(t, rep.Error)
	require.Equal(t, "jetstream", rep.Hops.JetStream.Name)
	require.Positive(t, rep.Hops.JetStream.LatencyMS)
	require.InDelta(t, 7, rep.Hops.Bridge.LatencyMS, 0.001)
	require.Equal(t, "cx-global", rep.Hops.NLU.Provider)
	require.InDelta(t, 30, rep.Hops.NLU.LatencyMS, 0.001)
	require.Equal(t, 30*time.Millisecond, rep.Hops.NLU.Latency())
	require.Equal(t, "twilio", rep.Hops.CPaaS.Provider)
	require.InDelta(t, 20, rep.Hops.CPaaS.LatencyMS, 0.001)
	require.Positive(t, rep.TotalMS)
	for _, h := range rep.Hops.All() {
		require.True(t, h.OK, h.Name)
		require.False(t, h.Degraded, h.Name)
	}

	// The turn: a canary turn of the JSON API, from the canary's customer to the
	// business's address on the channel's first CPaaS provider.
	require.Len(t, w.seen(), 1)
	tr := w.seen()[0]
	require.True(t, tr.Canary)
	require.Equal(t, turn.VendorAPI, tr.Vendor)
	require.Equal(t, "sms", tr.Channel)
	require.Equal(t, "+15559990000", tr.From)
	require.Equal(t, "+15550001000", tr.To)
	require.Equal(t, routing.DefaultCanaryText, tr.Text)
	require.Equal(t, rep.TurnID, tr.ID)
	require.True(t, turn.IsCanaryTurn(tr.ID))
	require.Equal(t, rep.ConversationID, tr.ConversationID)

	// A second run: a new turn of the same conversation.
	rep2, err := r.Run(t.Context())
	require.NoError(t, err)
	require.True(t, rep2.OK, rep2.Error)
	require.NotEqual(t, rep.TurnID, rep2.TurnID)
	require.Equal(t, rep.ConversationID, rep2.ConversationID)
}

func TestRun_FailedOverProviders_AreDegradedNotFailed(t *testing.T) {
	w := newWorld(t, replied("llm", "vonage"))
	rep, err := w.runner(5 * time.Second).Run(t.Context())
	require.NoError(t, err)
	require.True(t, rep.OK, rep.Error)
	require.True(t, rep.Hops.NLU.Degraded)
	require.Contains(t, rep.Hops.NLU.Note, "cx-global")
	require.True(t, rep.Hops.CPaaS.Degraded)
	require.Contains(t, rep.Hops.CPaaS.Note, "twilio")
}

func TestRun_LocalNLUOrFallback_FailTheNLUHop(t *testing.T) {
	for _, nluProvider := range []string{"local", "fallback"} {
		t.Run(nluProvider, func(t *testing.T) {
			w := newWorld(t, replied(nluProvider, "twilio"))
			rep, err := w.runner(5 * time.Second).Run(t.Context())
			require.NoError(t, err)
			require.False(t, rep.OK)
			require.False(t, rep.Hops.NLU.OK)
			require.False(t, rep.Hops.NLU.NotReached)
			require.NotEmpty(t, rep.Hops.NLU.Error)
			require.Contains(t, rep.Error, "nlu: ")
			require.True(t, rep.Hops.CPaaS.OK)
			require.True(t, rep.Hops.Bridge.OK)
		})
	}
}

func TestRun_ReplyNotSent_FailsTheCPaaSHop(t *testing.T) {
	w := newWorld(t, func(turn.Turn) (turn.Outcome, bool) {
		return turn.Outcome{Status: turn.StatusFailed, Reason: "reply not sent: twilio unavailable", NLUProvider: "cx-global", NLUDuration: time.Millisecond}, true
	})
	rep, err := w.runner(5 * time.Second).Run(t.Context())
	require.NoError(t, err)
	require.False(t, rep.OK)
	require.True(t, rep.Hops.NLU.OK)
	require.False(t, rep.Hops.CPaaS.OK)
	require.Contains(t, rep.Hops.CPaaS.Error, "twilio unavailable")
	require.Equal(t, turn.StatusFailed, rep.Status)
}

func TestRun_NoOutcome_BlamesTheBridge(t *testing.T) {
	w := newWorld(t, func(turn.Turn) (turn.Outcome, bool) { return turn.Outcome{}, false })
	// The outcome never comes: only the runner's timeout can end Run. The guard is
	// liveness, generous for -race on a loaded machine, not a latency bound.
	type result struct {
		rep turn.CanaryReport
		err error
	}
	done := make(chan result, 1)
	go func() {
		rep, err := w.runner(300 * time.Millisecond).Run(t.Context())
		done <- result{rep, err}
	}()
	var rep turn.CanaryReport
	select {
	case r := <-done:
		rep = r.rep
		require.NoError(t, r.err)
	case <-time.After(time.Minute):
		t.Fatal("Run was still waiting after a minute: the wait is not bounded by the timeout")
	}
	require.False(t, rep.OK)
	require.True(t, rep.Hops.JetStream.OK)
	require.False(t, rep.Hops.Bridge.OK)
	require.False(t, rep.Hops.Bridge.NotReached)
	require.Contains(t, rep.Hops.Bridge.Error, "no outcome within 300ms")
	require.True(t, rep.Hops.NLU.NotReached)
	require.True(t, rep.Hops.CPaaS.NotReached)
}

func TestRun_NoOutcome_TranscriptTellsWhereTheTurnIs(t *testing.T) {
	w := newWorld(t, func(turn.Turn) (turn.Outcome, bool) { return turn.Outcome{}, false })
	var tr turn.Transcript
	var trErr error
	r := canary.New(canary.Config{
		Policy: func() *routing.Policy { return w.pol }, NC: w.nc, JS: w.js, Timeout: 300 * time.Millisecond,
		Transcript: func(ctx context.Context, id string) (turn.Transcript, error) { return tr, trErr },
	})

	// Accepted, not processed: the bridge did its part.
	tr = turn.Transcript{Pending: 1}
	rep, err := r.Run(t.Context())
	require.NoError(t, err)
	require.False(t, rep.OK)
	require.True(t, rep.Hops.Bridge.OK)
	require.Contains(t, rep.Hops.Bridge.Note, "1 turn(s) not processed")
	require.False(t, rep.Hops.NLU.OK)
	require.False(t, rep.Hops.NLU.NotReached)
	require.True(t, rep.Hops.CPaaS.NotReached)

	// The workflow is unreachable.
	tr, trErr = turn.Transcript{}, errors.New("context deadline exceeded")
	rep, err = r.Run(t.Context())
	require.NoError(t, err)
	require.False(t, rep.Hops.Bridge.OK)
	require.Contains(t, rep.Hops.Bridge.Error, "could not be read: context deadline exceeded")
}

func TestRun_NoCanarySection(t *testing.T) {
	w := newWorld(t, replied("cx-global", "twilio"))
	w.pol.Canary = nil
	rep, err := w.runner(time.Second).Run(t.Context())
	require.ErrorIs(t, err, canary.ErrNotConfigured)
	require.EqualError(t, err, "no canary configured in the policy")
	require.Equal(t, "no canary configured in the policy", rep.Skipped)
	require.False(t, rep.OK)
	require.Empty(t, w.seen())
}

func TestRun_JetStreamRefusesTheTurn(t *testing.T) {
	w := newWorld(t, replied("cx-global", "twilio"))
	require.NoError(t, w.js.DeleteStream(t.Context(), turn.TurnsStream))
	rep, err := w.runner(time.Second).Run(t.Context())
	require.NoError(t, err)
	require.False(t, rep.OK)
	require.False(t, rep.Hops.JetStream.OK)
	require.Contains(t, rep.Hops.JetStream.Error, "turn not stored")
	for _, h := range []turn.CanaryHop{rep.Hops.Bridge, rep.Hops.NLU, rep.Hops.CPaaS} {
		require.False(t, h.OK, h.Name)
		require.True(t, h.NotReached, h.Name)
	}
}

func TestTargetOf_ConversationFollowsTheAddresses(t *testing.T) {
	pol, err := routing.Parse(deploy.DevPolicy)
	require.NoError(t, err)
	a, err := canary.TargetOf(pol)
	require.NoError(t, err)
	require.True(t, turn.ValidConversationID(a.ConversationID), a.ConversationID)
	require.Regexp(t, `^canary-sms-[0-9a-f]{12}$`, a.ConversationID)
	again, err := canary.TargetOf(pol)
	require.NoError(t, err)
	require.Equal(t, a, again)

	// A conversation keeps the customer it started with: another customer is
	// another canary conversation.
	c := *pol.Canary
	c.Customer = "+15559990001"
	pol.Canary = &c
	b, err := canary.TargetOf(pol)
	require.NoError(t, err)
	require.NotEqual(t, a.ConversationID, b.ConversationID)

	c.Business = "nobody"
	_, err = canary.TargetOf(pol)
	require.ErrorContains(t, err, `business "nobody"`)
}
