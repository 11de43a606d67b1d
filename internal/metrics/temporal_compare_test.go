package metrics

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/uber-go/tally/v4"
	tallyprom "github.com/uber-go/tally/v4/prometheus"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.temporal.io/sdk/client"
	contribotel "go.temporal.io/sdk/contrib/opentelemetry"
	contribtally "go.temporal.io/sdk/contrib/tally"
)

// The maintained alternatives to TemporalHandler, set up as their docs advise for
// Prometheus, with the same histogram buckets: the SDK's tally contrib over tally's
// Prometheus reporter, and the SDK's OpenTelemetry contrib over the OTel Prometheus
// exporter. The benchmarks below measure each beside ours, so the choice of
// handler recorded in the package doc can be re-checked after an upgrade.

// candidate is one SDK metrics handler serving a registry.
type candidate struct {
	name    string
	handler client.MetricsHandler
	reg     *prometheus.Registry
	flush   func() // makes recorded values visible on the registry; tally's is once only
}

func candidates(tb testing.TB) []candidate {
	tb.Helper()
	ours := New()

	tallyReg := prometheus.NewRegistry()
	reporter := tallyprom.NewReporter(tallyprom.Options{
		Registerer:              tallyReg,
		DefaultTimerType:        tallyprom.HistogramTimerType,
		DefaultHistogramBuckets: temporalBuckets,
		OnRegisterError:         func(err error) { tb.Errorf("tally: %v", err) },
	})
	scope, closer := tally.NewRootScope(tally.ScopeOptions{
		CachedReporter:  reporter,
		Separator:       tallyprom.DefaultSeparator,
		SanitizeOptions: &contribtally.PrometheusSanitizeOptions,
	}, time.Hour) // reported on Close (flush), not by the ticker
	tb.Cleanup(func() { _ = closer.Close() })

	otelReg := prometheus.NewRegistry()
	exporter, err := otelprom.New(otelprom.WithRegisterer(otelReg), otelprom.WithoutScopeInfo(), otelprom.WithoutTargetInfo())
	if err != nil {
		tb.Fatal(err)
	}
	provider := sdkmetric.NewMeterProvider(sdkmetric.WithReader(exporter), sdkmetric.WithView(sdkmetric.NewView(
		sdkmetric.Instrument{Kind: sdkmetric.InstrumentKindHistogram},
		sdkmetric.Stream{Aggregation: sdkmetric.AggregationExplicitBucketHistogram{Boundaries: temporalBuckets}},
	)))
	tb.Cleanup(func() { _ = provider.Shutdown(tb.Context()) })

	return []candidate{
		{name: "ours", handler: ours.TemporalHandler(), reg: ours.reg, flush: func() {}},
		{
			name:    "tally",
			handler: contribtally.NewMetricsHandler(contribtally.NewPrometheusNamingScope(scope)),
			reg:     tallyReg,
			flush:   func() { _ = closer.Close() },
		},
		{
			name: "otel",
			handler: contribotel.NewMetricsHandler(contribotel.MetricsHandlerOptions{
				Meter:                provider.Meter("temporal-sdk-go"),
				UseMonotonicCounters: true,
				OnError:              func(err error) { tb.Errorf("otel: %v", err) },
			}),
			reg:   otelReg,
			flush: func() {},
		},
	}
}

// scrapeHandler fetches an exposition from h over HTTP and parses it.
func scrapeHandler(t *testing.T, h http.Handler) map[string]*dto.MetricFamily {
	t.Helper()
	srv := httptest.NewServer(h)
	defer srv.Close()
	resp, err := srv.Client().Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("scrape: %s", resp.Status)
	}
	var p expfmt.TextParser
	mfs, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse exposition: %v", err)
	}
	return mfs
}

// Every candidate the benchmarks measure must record what they record: a
// benchmark of a handler that silently records nowhere would flatter it.
func TestTemporalCandidatesRecord(t *testing.T) {
	for _, c := range candidates(t) {
		t.Run(c.name, func(t *testing.T) {
			h := c.handler.WithTags(rootTags).WithTags(benchTags)
			h.Counter("temporal_activity_execution_failed").Inc(2)
			h.Gauge("temporal_sticky_cache_size").Update(3)
			h.Timer("temporal_activity_execution_latency").Record(25 * time.Millisecond)
			c.flush()
			mfs := scrapeHandler(t, promhttp.HandlerFor(c.reg, promhttp.HandlerOpts{}))
			labels := with(rootTags, "workflow_type", "Conversation", "activity_type", "ClassifyIntent", "task_queue", "turns")
			if v := counterValue(t, mfs, "temporal_activity_execution_failed_total", labels); v != 2 {
				t.Errorf("counter = %v, want 2", v)
			}
			if v := gaugeValue(t, mfs, "temporal_sticky_cache_size", labels); v != 3 {
				t.Errorf("gauge = %v, want 3", v)
			}
			hist := series(t, mfs, "temporal_activity_execution_latency_seconds", dto.MetricType_HISTOGRAM, labels).GetHistogram()
			if hist.GetSampleCount() != 1 || hist.GetSampleSum() != 0.025 {
				t.Errorf("timer count %d sum %v, want 1 and 0.025", hist.GetSampleCount(), hist.GetSampleSum())
			}
		})
	}
}

// benchTags are the tags the SDK adds to an activity's metrics, over rootTags.
var benchTags = map[string]string{"workflow_type": "Conversation", "activity_type": "ClassifyIntent", "task_queue": "turns"}

// BenchmarkTemporalHandlers is the per-call cost of each candidate in the shapes
// the SDK uses: a metric looked up on a tagged handler and recorded, and a handler
// derived per task (WithTags) before the lookup.
func BenchmarkTemporalHandlers(b *testing.B) {
	for _, c := range candidates(b) {
		h := c.handler.WithTags(rootTags).WithTags(benchTags)
		root := c.handler.WithTags(rootTags)
		b.Run(c.name+"/counter", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				h.Counter("temporal_activity_execution_failed").Inc(1)
			}
		})
		b.Run(c.name+"/counter-with-tags", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				root.WithTags(benchTags).Counter("temporal_activity_execution_failed").Inc(1)
			}
		})
		b.Run(c.name+"/counter-parallel", func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					h.Counter("temporal_activity_execution_failed").Inc(1)
				}
			})
		})
		b.Run(c.name+"/gauge", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				h.Gauge("temporal_sticky_cache_size").Update(3)
			}
		})
		b.Run(c.name+"/timer", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				h.Timer("temporal_activity_execution_latency").Record(25 * time.Millisecond)
			}
		})
	}
}

// For scale: a plain CounterVec looked up by the same 13 label values.
func BenchmarkTemporalBaselineCounterVec(b *testing.B) {
	vec := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "x_total", Help: "x"}, sdkTagKeys[:])
	vals := make([]string, len(sdkTagKeys))
	for i, k := range sdkTagKeys {
		vals[i] = with(rootTags, "workflow_type", "Conversation", "activity_type", "ClassifyIntent", "task_queue", "turns")[k]
	}
	b.ReportAllocs()
	for b.Loop() {
		vec.WithLabelValues(vals...).Inc()
	}
}
