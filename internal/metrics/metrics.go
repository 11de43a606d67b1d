// Package metrics holds Switchboard's Prometheus metrics, served on /metrics. One
// Metrics value is shared by the API, the bridge, the activities and the policy
// watcher of a process; every metric is prefixed switchboard_.
//
// The same registry also serves the Temporal SDK's own metrics (task latencies,
// polls, sticky cache, RPC requests and failures), recorded through the handler
// TemporalHandler returns and set as the client's MetricsHandler. Those keep the
// SDK's temporal_ names, with _total on counters and _seconds on timers, which
// are histograms; see TemporalHandler for the label mapping.
//
// TemporalHandler is ours rather than the SDK's contrib handlers because, measured
// beside them (temporal_compare_test.go; go test -run '^$' -bench
// BenchmarkTemporalHandlers -count=6 ./internal/metrics, on 2 shared cores, best
// of 11 runs, SDK v1.50):
//
//	                   ours             tally contrib v0.2.0   OTel contrib v0.8.1
//	counter            176 ns, 0 alloc  311 ns, 1 alloc        1215 ns, 4 allocs
//	WithTags+counter  1387 ns, 2 allocs 2850 ns, 4 allocs      6974 ns, 8 allocs
//	gauge              176 ns, 0 alloc  433 ns, 0 alloc        1121 ns, 3 allocs
//	timer              165 ns, 0 alloc  373 ns, 1 alloc        1287 ns, 5 allocs
//
// and because of what each puts on /metrics. All three give the same names
// (temporal_request_total, ..._seconds histograms). Tally's Prometheus reporter
// fixes a name's label keys at first use and refuses the name under another key
// set (it panics by default; ours pads every series to the SDK's full key set);
// with the sanitizing the contrib advises, it rewrites label values to
// [A-Za-z0-9_] (task queue "switchboard-turns.v2" becomes "switchboard_turns_v2");
// it shows values only after its report tick, and adds tally_internal_* gauges. The OTel handler
// keeps labels and values as the SDK set them, but needs UseMonotonicCounters
// (else counters are gauges without _total) and a view for seconds buckets (its
// defaults are for milliseconds); it is the slowest and adds the OTel metric SDK
// (about 1.6 MB and 47 packages to a binary; tally about 0.8 MB and 10). What
// ours costs is this package's temporal.go, about 500 lines, and its tests.
package metrics

import (
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics are the process's metrics. The zero value is not usable: call New.
type Metrics struct {
	reg          *prometheus.Registry
	temporalRoot *temporalHandler

	TurnsReceived  *prometheus.CounterVec   // vendor, result: accepted | duplicate | rejected | unavailable | replayed | unknown_business
	TurnsProcessed *prometheus.CounterVec   // status
	TurnLatency    prometheus.Histogram     // receipt to outcome, seconds
	TurnHops       *prometheus.HistogramVec // hop: bridge | nlu | cpaas, seconds
	Attempts       *prometheus.CounterVec   // provider, outcome: ok | unavailable | rate_limited | timeout | rejected | breaker_open | delivery_unknown
	AttemptLatency *prometheus.HistogramVec // provider
	Escalations    *prometheus.CounterVec   // outcome: queued | rerouted | flagged
	PolicyReloads  *prometheus.CounterVec   // result: ok | refused
	PolicyValid    prometheus.Gauge         // 1 when the file on disk is the policy in force
	BridgeResults  *prometheus.CounterVec   // result: accepted | duplicate | redelivered | busy | config_fault | dead_lettered
	Stuck          *prometheus.GaugeVec     // source: jetstream | unanswered | escalation
	Replays        *prometheus.CounterVec   // result: replayed | failed
	// DeliverySettled counts sends of unknown delivery settled before a resend:
	// found at the vendor, not found (sent then), sent by an operator's decision,
	// or left undecided (the vendor could not be asked).
	DeliverySettled *prometheus.CounterVec // result: found | not_found | operator | undecided
	// AutoReplays counts stuck conversations replayed without an operator, once a
	// CPaaS provider of theirs was in rotation again.
	AutoReplays *prometheus.CounterVec // result: replayed | failed
}

// New builds the metrics and registers them, with the Go runtime and process
// collectors, on a fresh registry.
func New() *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry()}
	latency := []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}
	m.TurnsReceived = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "switchboard_turns_received_total", Help: "Turns received at ingress, by vendor and result."}, []string{"vendor", "result"})
	m.TurnsProcessed = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "switchboard_turns_processed_total", Help: "Turns processed by conversation workflows, by outcome status."}, []string{"status"})
	m.TurnLatency = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "switchboard_turn_latency_seconds", Help: "From the turn's receipt at ingress to its outcome.", Buckets: latency})
	m.TurnHops = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "switchboard_turn_hop_seconds", Help: "Per hop of a turn: bridge (receipt at ingress to the workflow accepting it), nlu and cpaas (the answering provider's latency).", Buckets: latency}, []string{"hop"})
	m.Attempts = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "switchboard_provider_attempts_total", Help: "Provider attempts, by provider and outcome."}, []string{"provider", "outcome"})
	m.AttemptLatency = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "switchboard_provider_attempt_seconds", Help: "Duration of provider attempts.", Buckets: latency}, []string{"provider"})
	m.Escalations = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "switchboard_escalations_total", Help: "Escalation events: queued on a queue, re-routed after a missed SLA, flagged when no queue acknowledged (alert on this)."}, []string{"outcome"})
	m.PolicyReloads = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "switchboard_policy_reloads_total", Help: "Routing policy reloads, by result."}, []string{"result"})
	m.PolicyValid = prometheus.NewGauge(prometheus.GaugeOpts{Name: "switchboard_policy_file_valid", Help: "1 when the policy file on disk is the policy in force, 0 after a refused reload."})
	m.BridgeResults = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "switchboard_bridge_turns_total", Help: "What the JetStream bridge did with turns."}, []string{"result"})
	m.PolicyValid.Set(1)
	m.Stuck = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "switchboard_stuck_conversations", Help: "Stuck conversations at the last sweep, by what they are stuck on. Every worker sweeps: aggregate with max, not sum."}, []string{"source"})
	m.Replays = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "switchboard_replays_total", Help: "Replays of stuck conversations, by result."}, []string{"result"})
	m.DeliverySettled = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "switchboard_delivery_settled_total", Help: "Replies of unknown delivery settled before a resend: found at the vendor, not found (sent then), sent by an operator's decision, undecided (the vendor could not be asked)."}, []string{"result"})
	m.AutoReplays = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "switchboard_auto_replays_total", Help: "Stuck conversations whose unanswered replies were re-sent without an operator, once a CPaaS provider was back, by result."}, []string{"result"})
	m.temporalRoot = newTemporalRoot(newTemporalSink(m.reg))
	m.reg.MustRegister(m.TurnsReceived, m.TurnsProcessed, m.TurnLatency, m.TurnHops, m.Attempts, m.AttemptLatency, m.Escalations,
		m.PolicyReloads, m.PolicyValid, m.BridgeResults, m.Stuck, m.Replays, m.DeliverySettled, m.AutoReplays,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Register adds collectors that read state on scrape (breakers, consumer lag).
func (m *Metrics) Register(c ...prometheus.Collector) { m.reg.MustRegister(c...) }

// Handler serves the metrics in the Prometheus exposition format.
func (m *Metrics) Handler() http.Handler { return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{}) }

// Attempt records one provider attempt.
func (m *Metrics) Attempt(provider, outcome string, d time.Duration) {
	m.Attempts.WithLabelValues(provider, outcome).Inc()
	m.AttemptLatency.WithLabelValues(provider).Observe(d.Seconds())
}

// NewGaugeFunc is a labelled gauge computed on every scrape: collect calls emit once
// per label set.
func NewGaugeFunc(name, help string, labels []string, collect func(emit func(value float64, labels ...string))) prometheus.Collector {
	return gaugeFunc{desc: prometheus.NewDesc(name, help, labels, nil), collect: collect}
}

type gaugeFunc struct {
	desc    *prometheus.Desc
	collect func(emit func(value float64, labels ...string))
}

func (g gaugeFunc) Describe(ch chan<- *prometheus.Desc) { ch <- g.desc }

func (g gaugeFunc) Collect(ch chan<- prometheus.Metric) {
	g.collect(func(v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(g.desc, prometheus.GaugeValue, v, labels...)
	})
}

var (
	discardOnce sync.Once
	discard     *Metrics
)

// Discard returns metrics that no endpoint serves, for components built without any
// (unit tests, tools).
func Discard() *Metrics {
	discardOnce.Do(func() { discard = New() })
	return discard
}
