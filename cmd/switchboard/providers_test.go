package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-cc/switchboard/providers/health"
)

// `switchboard providers` showed a provider fully down as "3.0%" errors: the trip's
// failures among the calls before it, as an open breaker makes no calls. It now
// shows why it tripped, the probes, and what the rate is over.
func TestProvidersCLI_AProviderDownShowsWhyItTripped_ItsProbes_AndTheCallsBehindItsErrorRate(t *testing.T) {
	now := time.Date(2026, 1, 2, 12, 0, 0, 0, time.UTC)
	list := []health.Status{
		{Name: "twilio", State: health.StateOpen, Override: health.ModeAuto,
			Reason: "3 consecutive failures: provider unavailable", TripReason: "3 consecutive failures: provider unavailable",
			Since: now.Add(-42 * time.Second), LastProbe: now.Add(-2 * time.Second), LastProbeResult: "failed: provider unavailable", ProbeFailures: 4,
			Window: time.Minute, Calls: 100, FailedCalls: 3, ErrorRate: 0.03, P95: 5 * time.Millisecond},
		{Name: "vonage", State: health.StateHalfOpen, Override: health.ModeAuto,
			Reason: "probe succeeded: trial calls allowed", TripReason: "5 consecutive failures: provider timed out",
			Since: now.Add(-time.Second), LastProbe: now.Add(-time.Second), LastProbeResult: "ok", Window: time.Minute},
	}
	var out bytes.Buffer
	require.NoError(t, printProviders(&out, list, now))
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	require.Len(t, lines, 3, out.String())
	require.Contains(t, lines[0], "PROBES")
	for _, want := range []string{"3 consecutive failures: provider unavailable", "42s ago", "4 failed, last 2s ago", "3.0% of 100 in 1m"} {
		require.Contains(t, lines[1], want)
	}
	for _, want := range []string{"probe succeeded: trial calls allowed; tripped: 5 consecutive failures: provider timed out", "ok 1s ago", "no calls in 1m"} {
		require.Contains(t, lines[2], want)
	}
	require.NotContains(t, lines[1], "tripped:", "the reason is the trip's: not said twice")
}
