package health_test

import (
	"context"
	"encoding/json"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-cc/switchboard/providers/health"
)

// A provider fully down behind an open breaker used to read error_rate 0.03 (the
// 3 failures that tripped it among 100 good calls; an open breaker makes no calls)
// and, after its first failed probe, the reason "probe failed" instead of why it
// tripped. Status now keeps the trip reason, reports the probes, and names the
// window and the calls the error rate is over.
func TestAProviderDownBehindAnOpenBreaker_ShowsWhyItTripped_ItsFailingProbes_AndTheCallsItsErrorRateCovers(t *testing.T) {
	var probes atomic.Int32
	down := health.ProberFunc(func(context.Context) error { probes.Add(1); return unavailable })
	settings := map[string]health.BreakerSettings{
		"twilio": {ConsecutiveFailures: 3, MinCalls: 1000, OpenFor: time.Hour, ProbeInterval: 10 * time.Millisecond},
	}
	reg := start(t, nil, health.Options{Instance: "w", Settings: settings, ProbeInterval: time.Hour,
		Probers: map[string]health.Prober{"twilio": down}})
	for range 97 {
		reg.Record("twilio", time.Millisecond, nil)
	}
	for range 3 {
		reg.Record("twilio", time.Millisecond, unavailable)
	}
	require.Eventually(t, func() bool { return status(t, reg, "twilio").ProbeFailures >= 2 }, settle, 5*time.Millisecond)

	s := status(t, reg, "twilio")
	require.Equal(t, health.StateOpen, s.State)
	require.Equal(t, "3 consecutive failures: provider unavailable", s.TripReason)
	require.Equal(t, "3 consecutive failures: provider unavailable", s.Reason, "a failed probe does not replace why it tripped")
	require.Equal(t, "failed: provider unavailable", s.LastProbeResult)
	require.False(t, s.LastProbe.IsZero())
	require.Equal(t, time.Minute, s.Window)
	require.Equal(t, 100, s.Calls)
	require.Equal(t, 3, s.FailedCalls)
	require.InDelta(t, 0.03, s.ErrorRate, 1e-9)
	require.False(t, s.LastCall.IsZero())

	b, err := json.Marshal(s)
	require.NoError(t, err)
	var wire map[string]any
	require.NoError(t, json.Unmarshal(b, &wire))
	for _, field := range []string{"trip_reason", "last_probe", "last_probe_result", "probe_failures", "window_ms", "failed_calls", "last_call"} {
		require.Contains(t, wire, field)
	}
	require.EqualValues(t, 60000, wire["window_ms"])
	var back health.Status
	require.NoError(t, json.Unmarshal(b, &back))
	require.Equal(t, s.TripReason, back.TripReason)
	require.Equal(t, s.Window, back.Window)
	require.Equal(t, s.ProbeFailures, back.ProbeFailures)
	require.True(t, s.LastProbe.Equal(back.LastProbe))
}

// A per-provider probe_interval passed validation and was ignored: one interval,
// Options.ProbeInterval, read once. Each provider now has its own, and Configure (a
// policy reload) changes it without touching the breaker.
func TestProbeInterval_EachProviderIsProbedAtItsOwn_AndAReloadChangesIt(t *testing.T) {
	var fastProbes, slowProbes atomic.Int32
	prober := func(n *atomic.Int32) health.Prober {
		return health.ProberFunc(func(context.Context) error { n.Add(1); return unavailable })
	}
	fast := health.BreakerSettings{ConsecutiveFailures: 1, MinCalls: 1000, OpenFor: time.Hour, ProbeInterval: 10 * time.Millisecond}
	slow := health.BreakerSettings{ConsecutiveFailures: 1, MinCalls: 1000, OpenFor: time.Hour} // Options': an hour
	reg := start(t, nil, health.Options{Instance: "w", ProbeInterval: time.Hour,
		Settings: map[string]health.BreakerSettings{"fast": fast, "slow": slow},
		Probers:  map[string]health.Prober{"fast": prober(&fastProbes), "slow": prober(&slowProbes)}})
	reg.Record("fast", time.Millisecond, unavailable)
	reg.Record("slow", time.Millisecond, unavailable)

	require.Eventually(t, func() bool { return fastProbes.Load() >= 3 }, settle, 5*time.Millisecond)
	require.Zero(t, slowProbes.Load(), "three 10ms intervals of fast are far short of slow's hour")
	tripped := status(t, reg, "slow")

	// The reload gives slow a short interval of its own: probed within it, its
	// breaker as it was (an interval is no breaker setting).
	slow.ProbeInterval = 10 * time.Millisecond
	require.NoError(t, reg.Configure(map[string]health.BreakerSettings{"fast": fast, "slow": slow}))
	require.Eventually(t, func() bool { return slowProbes.Load() >= 2 }, settle, 5*time.Millisecond)
	s := status(t, reg, "slow")
	require.Equal(t, health.StateOpen, s.State)
	require.Equal(t, tripped.Since, s.Since)
	require.Equal(t, tripped.TripReason, s.TripReason)

	require.ErrorContains(t, reg.Configure(map[string]health.BreakerSettings{"fast": {ProbeInterval: -time.Second}}), "ProbeInterval")
}
