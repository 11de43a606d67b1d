package metrics

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// CanaryMetrics count the scheduled stack canary's runs.
type CanaryMetrics struct {
	Runs        *prometheus.CounterVec   // result: ok | failed | skipped | error
	HopLatency  *prometheus.HistogramVec // hop: jetstream | bridge | nlu | cpaas | total
	HopFailures *prometheus.CounterVec   // hop: jetstream | bridge | nlu | cpaas
}

// Canary returns the canary's metrics, registering them on first use.
func (m *Metrics) Canary() *CanaryMetrics {
	latency := []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}
	return &CanaryMetrics{
		Runs: registered(m.reg, prometheus.NewCounterVec(prometheus.CounterOpts{Name: "switchboard_canary_runs_total",
			Help: "Scheduled stack canary runs, by result: ok, failed (a hop failed), skipped (no canary in the policy), error."}, []string{"result"})),
		HopLatency: registered(m.reg, prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "switchboard_canary_hop_seconds",
			Help: "Latency of each hop of the scheduled canary's turn, and its total.", Buckets: latency}, []string{"hop"})),
		HopFailures: registered(m.reg, prometheus.NewCounterVec(prometheus.CounterOpts{Name: "switchboard_canary_hop_failures_total",
			Help: "Scheduled canary runs in which the hop failed."}, []string{"hop"})),
	}
}

// registered registers c, or returns the equal collector registered before.
func registered[C prometheus.Collector](reg *prometheus.Registry, c C) C {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing
			}
		}
		panic(err)
	}
	return c
}
