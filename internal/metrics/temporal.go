package metrics

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
	"go.temporal.io/sdk/client"
)

// sdkTagKeys is the union of the tag keys the Temporal Go SDK (v1.50) attaches to
// its metrics (internal/common/metrics/constants.go), sorted. Every metric the
// handler exports carries all of them as labels, so one metric name always has
// one label set whatever subset of tags the SDK emitted it with; a tag the SDK
// did not set is the empty label, which Prometheus treats as absent.
var sdkTagKeys = [...]string{
	"activity_type",
	"cause",
	"client_name",
	"failure_reason",
	"namespace",
	"nexus_operation",
	"nexus_service",
	"operation",
	"poller_type",
	"status_code",
	"task_queue",
	"worker_type",
	"workflow_type",
}

const numTagKeys = len(sdkTagKeys)

// tagIndex is the index of key in sdkTagKeys, or -1.
func tagIndex(key string) int {
	switch key {
	case "activity_type":
		return 0
	case "cause":
		return 1
	case "client_name":
		return 2
	case "failure_reason":
		return 3
	case "namespace":
		return 4
	case "nexus_operation":
		return 5
	case "nexus_service":
		return 6
	case "operation":
		return 7
	case "poller_type":
		return 8
	case "status_code":
		return 9
	case "task_queue":
		return 10
	case "worker_type":
		return 11
	case "workflow_type":
		return 12
	}
	return -1
}

// temporalBuckets span what the SDK times: task executions and RPCs in
// milliseconds, long polls around a minute, schedule-to-start and end-to-end
// latencies in minutes to an hour.
var temporalBuckets = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300, 1800, 3600}

// reservedPrefixes are the namespaces of the registry's other collectors. A metric
// the handler is asked for under one of them (say, from workflow code through
// workflow.GetMetricsHandler) is refused rather than registered beside them, where
// it could clash at scrape time and fail the whole /metrics response.
var reservedPrefixes = []string{"switchboard_", "go_", "process_", "promhttp_"}

// Reasons for switchboard_temporal_metrics_errors_total.
const (
	reasonNameConflict = "name_conflict" // the name, or a series it exposes, is taken by another kind of metric
	reasonReservedName = "reserved_name" // the name is in a namespace of the registry's other collectors
	reasonRegister     = "register"      // the registry refused the collector, or building it failed
	reasonTagsDropped  = "tags_dropped"  // tags beyond the metric's fixed label set were dropped
)

// temporalSink holds the SDK's metric families of one Metrics. Families are
// looked up by the name the SDK asked for; the label values of a handler are
// computed once in WithTags, so a lookup of an existing series is two map reads
// under read locks and allocates nothing.
type temporalSink struct {
	reg    *prometheus.Registry
	errors *prometheus.CounterVec // metric, reason

	mu       sync.RWMutex
	counters map[string]*temporalFamily[client.MetricsCounter]
	gauges   map[string]*temporalFamily[client.MetricsGauge]
	timers   map[string]*temporalFamily[client.MetricsTimer]
	byProm   map[string]any    // Prometheus name → its *temporalFamily, for names that sanitize alike
	taken    map[string]string // every series name the families expose → the kind that exposes it
}

func newTemporalSink(reg *prometheus.Registry) *temporalSink {
	s := &temporalSink{
		reg: reg,
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "switchboard_temporal_metrics_errors_total",
			Help: "Temporal SDK metric lookups the handler could not serve as asked, by SDK metric name and reason: name_conflict, reserved_name and register lookups are recorded nowhere; tags_dropped lookups lost the tags beyond the metric's label set.",
		}, []string{"metric", "reason"}),
		counters: map[string]*temporalFamily[client.MetricsCounter]{},
		gauges:   map[string]*temporalFamily[client.MetricsGauge]{},
		timers:   map[string]*temporalFamily[client.MetricsTimer]{},
		byProm:   map[string]any{},
		taken:    map[string]string{},
	}
	reg.MustRegister(s.errors)
	return s
}

// temporalHandler implements client.MetricsHandler. It is immutable: WithTags
// returns a new handler.
type temporalHandler struct {
	s      *temporalSink
	vals   [numTagKeys]string // the values of sdkTagKeys, "" when unset
	key    string             // vals joined by 0xff, which valid UTF-8 never contains
	extras map[string]string  // tags outside sdkTagKeys, by label name; shared, never written after construction
	extra  []string           // the sorted keys of extras
}

// TemporalHandler returns a Temporal SDK metrics handler (client.Options.MetricsHandler)
// that records the SDK's metrics on this registry, beside the switchboard_ ones:
//
//   - counters become Prometheus counters named <sdk name>_total
//     (temporal_request → temporal_request_total);
//   - timers become histograms in seconds named <sdk name>_seconds
//     (temporal_workflow_task_execution_latency → temporal_workflow_task_execution_latency_seconds);
//   - gauges keep the SDK's name (temporal_sticky_cache_size).
//
// Names already ending in the suffix do not get it twice; characters Prometheus does
// not allow become '_'. Every metric is labelled with the SDK's full set of tag keys
// (namespace, task_queue, workflow_type, activity_type, poller_type, operation, ...),
// empty where the SDK did not set one, so a name always has the same labels. Tags
// outside that set (from workflow code's own metrics) become extra labels fixed by the
// metric's first use; later tags beyond them are dropped and counted. A metric that
// cannot be registered (its name or series clash with another kind of metric, or it
// falls in the switchboard_, go_, process_ or promhttp_ namespaces) records nowhere
// and is counted in switchboard_temporal_metrics_errors_total; the handler never
// panics. It is safe for concurrent use and all handlers share the same series.
func (m *Metrics) TemporalHandler() client.MetricsHandler { return m.temporalRoot }

func newTemporalRoot(s *temporalSink) *temporalHandler {
	h := &temporalHandler{s: s}
	h.key = strings.Join(h.vals[:], "\xff")
	return h
}

// WithTags returns a handler whose metrics carry h's tags overlaid with tags.
func (h *temporalHandler) WithTags(tags map[string]string) client.MetricsHandler {
	if len(tags) == 0 {
		return h
	}
	n := &temporalHandler{s: h.s, vals: h.vals, extras: h.extras, extra: h.extra}
	copied := false
	for k, v := range tags {
		v = validUTF8(v)
		i := tagIndex(k)
		if i < 0 {
			k = labelName(k)
			i = tagIndex(k)
		}
		if i >= 0 {
			n.vals[i] = v
			continue
		}
		if !copied {
			n.extras = make(map[string]string, len(h.extras)+1)
			for k, v := range h.extras {
				n.extras[k] = v
			}
			copied = true
		}
		n.extras[k] = v
	}
	if copied {
		n.extra = make([]string, 0, len(n.extras))
		for k := range n.extras {
			n.extra = append(n.extra, k)
		}
		slices.Sort(n.extra)
	}
	n.key = strings.Join(n.vals[:], "\xff")
	return n
}

// Counter returns the counter of the given name with h's tags.
func (h *temporalHandler) Counter(name string) client.MetricsCounter {
	return lookup(h, h.s.counters, name, &counterKind)
}

// Gauge returns the gauge of the given name with h's tags.
func (h *temporalHandler) Gauge(name string) client.MetricsGauge {
	return lookup(h, h.s.gauges, name, &gaugeKind)
}

// Timer returns the timer of the given name with h's tags.
func (h *temporalHandler) Timer(name string) client.MetricsTimer {
	return lookup(h, h.s.timers, name, &timerKind)
}

func lookup[T any](h *temporalHandler, set map[string]*temporalFamily[T], name string, k *temporalKind[T]) T {
	s := h.s
	s.mu.RLock()
	f := set[name]
	s.mu.RUnlock()
	if f == nil {
		f = sinkFamily(s, set, name, k, h.extra)
	}
	return f.get(h)
}

// temporalKind describes how one kind of SDK metric maps to Prometheus.
type temporalKind[T any] struct {
	kind   string
	suffix string
	series func(name string) []string // the series names the metric exposes
	build  func(name, help string, labels []string) (prometheus.Collector, func(labelValues []string) (T, error))
	nop    T
}

var counterKind = temporalKind[client.MetricsCounter]{
	kind:   "counter",
	suffix: "_total",
	series: func(n string) []string { return []string{n} },
	build: func(name, help string, labels []string) (prometheus.Collector, func([]string) (client.MetricsCounter, error)) {
		vec := prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
		return vec, func(v []string) (client.MetricsCounter, error) {
			c, err := vec.GetMetricWithLabelValues(v...)
			if err != nil {
				return nil, err
			}
			return promCounter{c}, nil
		}
	},
	nop: nopMetric{},
}

var gaugeKind = temporalKind[client.MetricsGauge]{
	kind:   "gauge",
	series: func(n string) []string { return []string{n} },
	build: func(name, help string, labels []string) (prometheus.Collector, func([]string) (client.MetricsGauge, error)) {
		vec := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: name, Help: help}, labels)
		return vec, func(v []string) (client.MetricsGauge, error) {
			g, err := vec.GetMetricWithLabelValues(v...)
			if err != nil {
				return nil, err
			}
			return promGauge{g}, nil
		}
	},
	nop: nopMetric{},
}

var timerKind = temporalKind[client.MetricsTimer]{
	kind:   "timer",
	suffix: "_seconds",
	series: func(n string) []string { return []string{n, n + "_bucket", n + "_sum", n + "_count"} },
	build: func(name, help string, labels []string) (prometheus.Collector, func([]string) (client.MetricsTimer, error)) {
		vec := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: name, Help: help, Buckets: temporalBuckets}, labels)
		return vec, func(v []string) (client.MetricsTimer, error) {
			o, err := vec.GetMetricWithLabelValues(v...)
			if err != nil {
				return nil, err
			}
			return promTimer{o}, nil
		}
	},
	nop: nopMetric{},
}

// temporalFamily is one Prometheus metric and its cached children.
type temporalFamily[T any] struct {
	name    string   // as the SDK asked for it
	extra   []string // labels beyond sdkTagKeys, fixed at creation
	nop     T
	child   func(labelValues []string) (T, error) // nil when the family was refused
	refused prometheus.Counter                    // counts lookups of a refused family

	mu       sync.RWMutex
	children map[string]T
}

// family returns the family of name, creating and registering it on first use.
func sinkFamily[T any](s *temporalSink, set map[string]*temporalFamily[T], name string, k *temporalKind[T], extra []string) *temporalFamily[T] {
	s.mu.Lock()
	defer s.mu.Unlock()
	if f := set[name]; f != nil {
		return f
	}
	f := newFamily(s, name, k, extra)
	set[name] = f
	return f
}

func newFamily[T any](s *temporalSink, name string, k *temporalKind[T], extra []string) (f *temporalFamily[T]) {
	prom := metricName(name, k.suffix)
	name = validUTF8(name) // it labels switchboard_temporal_metrics_errors_total
	f = &temporalFamily[T]{name: name, nop: k.nop, children: map[string]T{}}
	refuse := func(reason string) *temporalFamily[T] {
		f.child = nil
		f.refused = s.errors.WithLabelValues(name, reason)
		return f
	}
	for _, p := range reservedPrefixes {
		if strings.HasPrefix(prom, p) {
			return refuse(reasonReservedName)
		}
	}
	if other, ok := s.byProm[prom]; ok {
		// Another SDK name sanitized to the same Prometheus name: share its family
		// if it is the same kind.
		if same, ok := other.(*temporalFamily[T]); ok {
			return same
		}
		return refuse(reasonNameConflict)
	}
	series := k.series(prom)
	for _, n := range series {
		if _, ok := s.taken[n]; ok {
			return refuse(reasonNameConflict)
		}
	}
	f.extra = slices.Clone(extra)
	labels := slices.Concat(sdkTagKeys[:], f.extra)
	help := fmt.Sprintf("Temporal SDK %s %s; labels are the SDK's tags, empty where it did not set one.", k.kind, name)
	defer func() {
		// The registry reports an invalid name or label as an error; this is the
		// last guard, as a metric must never take the worker down.
		if recover() != nil {
			f = refuse(reasonRegister)
		}
	}()
	c, child := k.build(prom, help, labels)
	if err := s.reg.Register(c); err != nil {
		return refuse(reasonRegister)
	}
	f.child = child
	s.byProm[prom] = f
	for _, n := range series {
		s.taken[n] = k.kind
	}
	return f
}

// get returns the child of f for h's tags, creating it on first use.
func (f *temporalFamily[T]) get(h *temporalHandler) T {
	if f.child == nil {
		f.refused.Inc()
		return f.nop
	}
	key := h.key
	if len(f.extra) > 0 || len(h.extra) > 0 {
		key = f.extraKey(h)
	}
	f.mu.RLock()
	c, ok := f.children[key]
	f.mu.RUnlock()
	if ok {
		return c
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if c, ok := f.children[key]; ok {
		return c
	}
	vals := h.vals[:]
	if len(f.extra) > 0 {
		vals = make([]string, 0, numTagKeys+len(f.extra))
		vals = append(vals, h.vals[:]...)
		for _, e := range f.extra {
			vals = append(vals, h.extras[e])
		}
	}
	c, err := safeChild(f.child, vals)
	if err != nil {
		h.s.errors.WithLabelValues(f.name, reasonRegister).Inc()
		return f.nop
	}
	f.children[key] = c
	return c
}

// safeChild creates a child. A vec can panic creating one (histograms refuse an
// "le" label); labelName should prevent that, but a metric must never take the
// worker down.
func safeChild[T any](child func([]string) (T, error), vals []string) (c T, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("creating child: %v", r)
		}
	}()
	return child(vals)
}

// extraKey is the child key of h in a family with labels beyond sdkTagKeys, or
// for a handler with tags beyond them; it counts tags the family has no label for.
func (f *temporalFamily[T]) extraKey(h *temporalHandler) string {
	for _, e := range h.extra {
		if !slices.Contains(f.extra, e) {
			h.s.errors.WithLabelValues(f.name, reasonTagsDropped).Inc()
			break
		}
	}
	if len(f.extra) == 0 {
		return h.key
	}
	var b strings.Builder
	b.WriteString(h.key)
	for _, e := range f.extra {
		b.WriteByte(0xff)
		b.WriteString(h.extras[e])
	}
	return b.String()
}

// validUTF8 replaces invalid UTF-8, which a label value must not hold.
func validUTF8(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}

// metricName is the Prometheus name of an SDK metric: invalid characters become
// '_' and the kind's suffix is appended unless already there.
func metricName(name, suffix string) string {
	n := sanitize(name, true)
	if !strings.HasSuffix(n, suffix) {
		n += suffix
	}
	return n
}

// labelName is the Prometheus label name of an SDK tag key. Names Prometheus
// reserves (a leading "__", and le and quantile, which histograms and summaries
// use) are prefixed with tag_.
func labelName(key string) string {
	n := sanitize(key, false)
	if strings.HasPrefix(n, "__") || n == "le" || n == "quantile" {
		n = "tag_" + n
	}
	return n
}

// sanitize replaces what the legacy Prometheus name syntax does not allow
// ([a-zA-Z_:][a-zA-Z0-9_:]* for metrics, the same without ':' for labels) with '_'.
func sanitize(s string, colon bool) string {
	valid := func(i int, r rune) bool {
		return r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || (r == ':' && colon) || (r >= '0' && r <= '9' && i > 0)
	}
	ok := s != ""
	for i, r := range s {
		if !valid(i, r) {
			ok = false
			break
		}
	}
	if ok {
		return s
	}
	if s == "" {
		return "_"
	}
	var b strings.Builder
	for i, r := range s {
		if valid(i, r) {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	return b.String()
}

type promCounter struct{ c prometheus.Counter }

// Inc adds d; a negative d, which a Prometheus counter would panic on, is ignored.
func (p promCounter) Inc(d int64) {
	if d > 0 {
		p.c.Add(float64(d))
	}
}

type promGauge struct{ g prometheus.Gauge }

func (p promGauge) Update(v float64) { p.g.Set(v) }

type promTimer struct{ o prometheus.Observer }

func (p promTimer) Record(d time.Duration) { p.o.Observe(d.Seconds()) }

type nopMetric struct{}

func (nopMetric) Inc(int64)            {}
func (nopMetric) Update(float64)       {}
func (nopMetric) Record(time.Duration) {}
