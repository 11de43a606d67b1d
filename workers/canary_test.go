package workers

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-cc/switchboard/internal/canary"
	"github.com/switchboard-cc/switchboard/internal/metrics"
	"github.com/switchboard-cc/switchboard/internal/turn"
)

func scrapeMetrics(t *testing.T, m *metrics.Metrics) string {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	return rec.Body.String()
}

func report(ok map[string]bool, notReached ...string) turn.CanaryReport {
	rep := turn.CanaryReport{OK: true, TotalMS: 80}
	hops := []*turn.CanaryHop{&rep.Hops.JetStream, &rep.Hops.Bridge, &rep.Hops.NLU, &rep.Hops.CPaaS}
	for i, name := range []string{turn.HopJetStream, turn.HopBridge, turn.HopNLU, turn.HopCPaaS} {
		*hops[i] = turn.CanaryHop{Name: name, OK: ok[name], LatencyMS: 20}
		for _, n := range notReached {
			hops[i].NotReached = hops[i].NotReached || n == name
		}
		rep.OK = rep.OK && ok[name]
	}
	return rep
}

func TestCanaryActivity_CountsRunsAndTheHopsThatFailed(t *testing.T) {
	m := metrics.New()
	var rep turn.CanaryReport
	var err error
	a := &CanaryActivity{Run: func(context.Context) (turn.CanaryReport, error) { return rep, err }, Metrics: m, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	all := map[string]bool{"jetstream": true, "bridge": true, "nlu": true, "cpaas": true}

	rep = report(all)
	got, aerr := a.Canary(t.Context())
	require.NoError(t, aerr)
	require.True(t, got.OK)

	// The bridge failed; NLU and CPaaS were never reached: only the bridge counts.
	rep = report(map[string]bool{"jetstream": true}, "nlu", "cpaas")
	got, aerr = a.Canary(t.Context())
	require.NoError(t, aerr, "a failed hop is a report, not an activity error")
	require.False(t, got.OK)

	rep, err = turn.CanaryReport{Skipped: "no canary configured in the policy"}, canary.ErrNotConfigured
	_, aerr = a.Canary(t.Context())
	require.NoError(t, aerr)

	rep, err = turn.CanaryReport{}, errors.New("canary: business has no address")
	_, aerr = a.Canary(t.Context())
	require.ErrorContains(t, aerr, "no address")

	out := scrapeMetrics(t, m)
	for _, want := range []string{
		`switchboard_canary_runs_total{result="ok"} 1`,
		`switchboard_canary_runs_total{result="failed"} 1`,
		`switchboard_canary_runs_total{result="skipped"} 1`,
		`switchboard_canary_runs_total{result="error"} 1`,
		`switchboard_canary_hop_failures_total{hop="bridge"} 1`,
		`switchboard_canary_hop_failures_total{hop="nlu"} 0`,
		`switchboard_canary_hop_failures_total{hop="cpaas"} 0`,
		`switchboard_canary_hop_failures_total{hop="jetstream"} 0`,
		`switchboard_canary_hop_seconds_count{hop="jetstream"} 2`,
		`switchboard_canary_hop_seconds_count{hop="nlu"} 1`,
		`switchboard_canary_hop_seconds_count{hop="total"} 1`,
	} {
		require.Contains(t, out, want)
	}
	require.Equal(t, 1, strings.Count(out, "# TYPE switchboard_canary_runs_total counter"), "registered once")
}

func TestCanaryActivity_WithoutARunnerFails(t *testing.T) {
	_, err := (&CanaryActivity{Metrics: metrics.New()}).Canary(t.Context())
	require.ErrorContains(t, err, "no stack canary")
}
