package metrics

import (
	"context"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"math"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"
)

// rootTags are the tags the SDK's client puts on every metric (metrics.RootTags).
var rootTags = map[string]string{
	"namespace": "default", "client_name": "temporal_go", "worker_type": "none",
	"workflow_type": "none", "activity_type": "none", "task_queue": "none",
}

// scrape fetches m's /metrics over HTTP and parses the exposition.
func scrape(t *testing.T, m *Metrics) map[string]*dto.MetricFamily {
	t.Helper()
	return scrapeHandler(t, m.Handler())
}

// series returns the metric of family name whose labels are exactly labels, with
// every label not named there empty.
func series(t *testing.T, mfs map[string]*dto.MetricFamily, name string, typ dto.MetricType, labels map[string]string) *dto.Metric {
	t.Helper()
	mf := mfs[name]
	if mf == nil {
		t.Fatalf("no family %s in the exposition", name)
	}
	if mf.GetType() != typ {
		t.Fatalf("%s is a %s, want %s", name, mf.GetType(), typ)
	}
	for _, m := range mf.GetMetric() {
		matched := 0
		ok := true
		for _, lp := range m.GetLabel() {
			want, named := labels[lp.GetName()]
			if named {
				matched++
			}
			if lp.GetValue() != want {
				ok = false
				break
			}
		}
		if ok && matched == len(labels) {
			return m
		}
	}
	t.Fatalf("no series %s%v; have %v", name, labels, mf.GetMetric())
	return nil
}

func counterValue(t *testing.T, mfs map[string]*dto.MetricFamily, name string, labels map[string]string) float64 {
	t.Helper()
	return series(t, mfs, name, dto.MetricType_COUNTER, labels).GetCounter().GetValue()
}

func gaugeValue(t *testing.T, mfs map[string]*dto.MetricFamily, name string, labels map[string]string) float64 {
	t.Helper()
	return series(t, mfs, name, dto.MetricType_GAUGE, labels).GetGauge().GetValue()
}

func with(base map[string]string, kv ...string) map[string]string {
	m := make(map[string]string, len(base)+len(kv)/2)
	for k, v := range base {
		m[k] = v
	}
	for i := 0; i < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return m
}

func TestTemporalHandlerExposition(t *testing.T) {
	m := New()
	root := m.TemporalHandler().WithTags(rootTags)

	// temporal_request under three tag sets: the client's, a worker's (more tags)
	// and the bare handler's (none).
	start := root.WithTags(map[string]string{"operation": "StartWorkflowExecution"})
	start.Counter("temporal_request").Inc(1)
	start.Counter("temporal_request").Inc(2)
	poll := root.WithTags(map[string]string{"task_queue": "turns", "worker_type": "WorkflowWorker"}).
		WithTags(map[string]string{"operation": "PollWorkflowTaskQueue"})
	poll.Counter("temporal_request").Inc(1)
	m.TemporalHandler().Counter("temporal_request").Inc(5)
	start.WithTags(map[string]string{"status_code": "UNAVAILABLE"}).Counter("temporal_request_failure").Inc(1)

	pollers := root.WithTags(map[string]string{"poller_type": "workflow_task"}).Gauge("temporal_num_pollers")
	pollers.Update(2)
	pollers.Update(3)
	root.WithTags(map[string]string{"poller_type": "activity_task"}).Gauge("temporal_num_pollers").Update(1)
	root.Gauge("temporal_sticky_cache_size").Update(42)

	task := root.WithTags(map[string]string{"workflow_type": "Conversation", "task_queue": "turns"}).
		Timer("temporal_workflow_task_execution_latency")
	task.Record(30 * time.Millisecond)
	task.Record(2 * time.Second)

	mfs := scrape(t, m)

	if v := counterValue(t, mfs, "temporal_request_total", with(rootTags, "operation", "StartWorkflowExecution")); v != 3 {
		t.Errorf("client StartWorkflowExecution requests = %v, want 3", v)
	}
	if v := counterValue(t, mfs, "temporal_request_total", with(rootTags, "operation", "PollWorkflowTaskQueue", "task_queue", "turns", "worker_type", "WorkflowWorker")); v != 1 {
		t.Errorf("worker poll requests = %v, want 1", v)
	}
	if v := counterValue(t, mfs, "temporal_request_total", nil); v != 5 {
		t.Errorf("untagged requests = %v, want 5", v)
	}
	if n := len(mfs["temporal_request_total"].GetMetric()); n != 3 {
		t.Errorf("temporal_request_total has %d series, want 3", n)
	}
	if v := counterValue(t, mfs, "temporal_request_failure_total", with(rootTags, "operation", "StartWorkflowExecution", "status_code", "UNAVAILABLE")); v != 1 {
		t.Errorf("request failures = %v, want 1", v)
	}
	// One label set per name: every series carries all the SDK's tag keys.
	for _, name := range []string{"temporal_request_total", "temporal_num_pollers", "temporal_workflow_task_execution_latency_seconds"} {
		for _, s := range mfs[name].GetMetric() {
			var got []string
			for _, lp := range s.GetLabel() {
				got = append(got, lp.GetName())
			}
			if !slices.Equal(got, sdkTagKeys[:]) {
				t.Errorf("%s labels = %v, want %v", name, got, sdkTagKeys)
			}
		}
	}

	if v := gaugeValue(t, mfs, "temporal_num_pollers", with(rootTags, "poller_type", "workflow_task")); v != 3 {
		t.Errorf("workflow task pollers = %v, want 3 (the last update)", v)
	}
	if v := gaugeValue(t, mfs, "temporal_num_pollers", with(rootTags, "poller_type", "activity_task")); v != 1 {
		t.Errorf("activity task pollers = %v, want 1", v)
	}
	if v := gaugeValue(t, mfs, "temporal_sticky_cache_size", rootTags); v != 42 {
		t.Errorf("sticky cache size = %v, want 42", v)
	}

	h := series(t, mfs, "temporal_workflow_task_execution_latency_seconds", dto.MetricType_HISTOGRAM,
		with(rootTags, "workflow_type", "Conversation", "task_queue", "turns")).GetHistogram()
	if h.GetSampleCount() != 2 || math.Abs(h.GetSampleSum()-2.03) > 1e-9 {
		t.Errorf("task latency count %d sum %v, want 2 and 2.03 seconds", h.GetSampleCount(), h.GetSampleSum())
	}
	cum := map[float64]uint64{}
	for _, b := range h.GetBucket() {
		cum[b.GetUpperBound()] = b.GetCumulativeCount()
	}
	if cum[0.025] != 0 || cum[0.05] != 1 || cum[1] != 1 || cum[2.5] != 2 {
		t.Errorf("task latency buckets = %v, want 30ms in le=0.05 and 2s in le=2.5", cum)
	}

	// The switchboard_ metrics are still served beside them.
	if v := gaugeValue(t, mfs, "switchboard_policy_file_valid", nil); v != 1 {
		t.Errorf("switchboard_policy_file_valid = %v, want 1", v)
	}
	if _, ok := mfs["switchboard_temporal_metrics_errors_total"]; ok {
		t.Errorf("errors reported for well-formed SDK metrics: %v", mfs["switchboard_temporal_metrics_errors_total"])
	}
}

func TestTemporalHandlerWithTags(t *testing.T) {
	m := New()
	h := m.TemporalHandler()

	a := h.WithTags(map[string]string{"task_queue": "a", "workflow_type": "W"})
	b := a.WithTags(map[string]string{"task_queue": "b"})
	b.Counter("temporal_x").Inc(10)
	a.Counter("temporal_x").Inc(1) // a keeps its own tags after b was derived from it

	tags := map[string]string{"task_queue": "c"}
	c := h.WithTags(tags)
	tags["task_queue"] = "mutated" // the handler copied the map
	c.Counter("temporal_x").Inc(100)

	if h.WithTags(nil) == nil || h.WithTags(map[string]string{}) == nil {
		t.Fatal("WithTags of no tags returned nil")
	}
	h.WithTags(nil).Counter("temporal_x").Inc(1000)

	mfs := scrape(t, m)
	for _, tc := range []struct {
		labels map[string]string
		want   float64
	}{
		{map[string]string{"task_queue": "a", "workflow_type": "W"}, 1},
		{map[string]string{"task_queue": "b", "workflow_type": "W"}, 10},
		{map[string]string{"task_queue": "c"}, 100},
		{nil, 1000},
	} {
		if v := counterValue(t, mfs, "temporal_x_total", tc.labels); v != tc.want {
			t.Errorf("temporal_x_total%v = %v, want %v", tc.labels, v, tc.want)
		}
	}
	if n := len(mfs["temporal_x_total"].GetMetric()); n != 4 {
		t.Errorf("temporal_x_total has %d series, want 4", n)
	}
}

// Tags outside the SDK's keys, as workflow code may add through
// workflow.GetMetricsHandler, become labels fixed by the metric's first use.
func TestTemporalHandlerCustomTags(t *testing.T) {
	m := New()
	h := m.TemporalHandler()
	h.WithTags(map[string]string{"provider": "nlu", "workflow_type": "W"}).Counter("conversation_custom").Inc(1)
	h.WithTags(map[string]string{"other": "x"}).Counter("conversation_custom").Inc(2)
	h.Counter("conversation_custom").Inc(4)

	mfs := scrape(t, m)
	if v := counterValue(t, mfs, "conversation_custom_total", map[string]string{"provider": "nlu", "workflow_type": "W"}); v != 1 {
		t.Errorf("provider series = %v, want 1", v)
	}
	// The "other" tag has no label: it is dropped, so that lookup lands in the
	// untagged series, and counted.
	if v := counterValue(t, mfs, "conversation_custom_total", nil); v != 6 {
		t.Errorf("untagged series = %v, want 6", v)
	}
	if v := counterValue(t, mfs, "switchboard_temporal_metrics_errors_total", map[string]string{"metric": "conversation_custom", "reason": "tags_dropped"}); v != 1 {
		t.Errorf("tags_dropped = %v, want 1", v)
	}
	for _, s := range mfs["conversation_custom_total"].GetMetric() {
		if len(s.GetLabel()) != len(sdkTagKeys)+1 {
			t.Errorf("conversation_custom_total has %d labels, want the SDK's %d and provider", len(s.GetLabel()), len(sdkTagKeys))
		}
	}
}

// Names that clash, names in other collectors' namespaces, odd tag keys, invalid
// UTF-8 and negative counts must neither panic nor break the scrape.
func TestTemporalHandlerConflicts(t *testing.T) {
	m := New()
	h := m.TemporalHandler()

	h.Counter("temporal_x").Inc(1)                    // temporal_x_total
	h.Timer("temporal_y").Record(time.Second)         // temporal_y_seconds{,_bucket,_sum,_count}
	h.Gauge("temporal_z_seconds").Update(7)           // temporal_z_seconds
	h.Counter("temporal_request_total").Inc(1)        // temporal_request_total
	h.Counter("temporal_request").Inc(1)              // the same Prometheus counter
	h.Gauge("temporal_odd.name-1").Update(3)          // temporal_odd_name_1
	h.Counter("temporal_neg").Inc(-5)                 // ignored, not a panic
	h.Counter("temporal_neg").Inc(2)                  //
	h.Counter("temporal_local_activity_total").Inc(1) // already suffixed by the SDK
	for range 2 {
		h.Gauge("temporal_x_total").Update(1)          // counter's name
		h.Gauge("temporal_y_seconds_count").Update(1)  // histogram's series
		h.Timer("temporal_z").Record(time.Second)      // gauge's name
		h.Counter("switchboard_turns_received").Inc(1) // switchboard_ is ours
		h.Gauge("go_goroutines").Update(1)             // Go collector's
	}
	h.Counter("go_\xff").Inc(1)            // reserved, and its name labels the errors
	h.Gauge("temporal_bad_\xff").Update(1) // temporal_bad__
	h.WithTags(map[string]string{"le": "1", "__name__": "n", "bad-key": "k", "task_queue": "q\xff\xfe"}).
		Timer("temporal_t").Record(time.Second)

	mfs := scrape(t, m)
	if v := counterValue(t, mfs, "temporal_x_total", nil); v != 1 {
		t.Errorf("temporal_x_total = %v, want 1 (the clashing gauge must not write to it)", v)
	}
	if v := gaugeValue(t, mfs, "temporal_z_seconds", nil); v != 7 {
		t.Errorf("temporal_z_seconds = %v, want 7", v)
	}
	if v := counterValue(t, mfs, "temporal_request_total", nil); v != 2 {
		t.Errorf("temporal_request_total = %v, want 2", v)
	}
	if v := gaugeValue(t, mfs, "temporal_odd_name_1", nil); v != 3 {
		t.Errorf("temporal_odd_name_1 = %v, want 3", v)
	}
	if v := counterValue(t, mfs, "temporal_neg_total", nil); v != 2 {
		t.Errorf("temporal_neg_total = %v, want 2", v)
	}
	if v := counterValue(t, mfs, "temporal_local_activity_total", nil); v != 1 {
		t.Errorf("temporal_local_activity_total = %v, want 1", v)
	}
	if mf := mfs["switchboard_turns_received_total"]; mf != nil {
		t.Errorf("switchboard_turns_received_total written by the SDK handler: %v", mf)
	}
	if v := counterValue(t, mfs, "switchboard_temporal_metrics_errors_total", map[string]string{"metric": "go_\uFFFD", "reason": reasonReservedName}); v != 1 {
		t.Errorf("errors{go_\\uFFFD,reserved_name} = %v, want 1", v)
	}
	if v := gaugeValue(t, mfs, "temporal_bad__", nil); v != 1 {
		t.Errorf("temporal_bad__ = %v, want 1", v)
	}
	if _, ok := mfs["go_goroutines"]; !ok {
		t.Error("go_goroutines is gone")
	}
	hist := series(t, mfs, "temporal_t_seconds", dto.MetricType_HISTOGRAM,
		map[string]string{"tag_le": "1", "tag___name__": "n", "bad_key": "k", "task_queue": "q\uFFFD"}).GetHistogram()
	if hist.GetSampleCount() != 1 {
		t.Errorf("temporal_t_seconds count = %d, want 1", hist.GetSampleCount())
	}
	for metric, reason := range map[string]string{
		"temporal_x_total":           reasonNameConflict,
		"temporal_y_seconds_count":   reasonNameConflict,
		"temporal_z":                 reasonNameConflict,
		"switchboard_turns_received": reasonReservedName,
		"go_goroutines":              reasonReservedName,
	} {
		if v := counterValue(t, mfs, "switchboard_temporal_metrics_errors_total", map[string]string{"metric": metric, "reason": reason}); v != 2 {
			t.Errorf("errors{%s,%s} = %v, want 2", metric, reason, v)
		}
	}
}

func TestTemporalHandlerConcurrent(t *testing.T) {
	m := New()
	root := m.TemporalHandler().WithTags(rootTags)
	const workers, per = 8, 500
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range per {
				h := root.WithTags(map[string]string{"task_queue": strconv.Itoa(i % 4)})
				h.Counter("temporal_c").Inc(1)
				h.Gauge("temporal_g").Update(float64(i))
				h.Timer("temporal_t").Record(time.Millisecond)
				h.Counter(fmt.Sprintf("temporal_c%d", (w+i)%3)).Inc(1) // families created concurrently
			}
		}()
	}
	wg.Wait()

	mfs := scrape(t, m)
	for q := range 4 {
		if v := counterValue(t, mfs, "temporal_c_total", with(rootTags, "task_queue", strconv.Itoa(q))); v != workers*per/4 {
			t.Errorf("temporal_c_total{task_queue=%d} = %v, want %d", q, v, workers*per/4)
		}
	}
	var total float64
	var count uint64
	for n := range 3 {
		for _, s := range mfs[fmt.Sprintf("temporal_c%d_total", n)].GetMetric() {
			total += s.GetCounter().GetValue()
		}
	}
	for _, s := range mfs["temporal_t_seconds"].GetMetric() {
		count += s.GetHistogram().GetSampleCount()
	}
	if total != workers*per || count != workers*per {
		t.Errorf("temporal_cN_total sum %v, temporal_t_seconds count %d; want %d each", total, count, workers*per)
	}
}

// The SDK's test environment emits its local-activity metrics, and hands workflow
// and activity code, through the suite's metrics handler.
func TestTemporalHandlerWorkflowTestSuite(t *testing.T) {
	m := New()
	var s testsuite.WorkflowTestSuite
	s.SetMetricsHandler(m.TemporalHandler())
	env := s.NewTestWorkflowEnvironment()
	env.RegisterWorkflow(metricsWorkflow)
	env.RegisterActivity(metricsOK)
	env.RegisterActivity(metricsFail)
	env.ExecuteWorkflow(metricsWorkflow)
	if !env.IsWorkflowCompleted() {
		t.Fatal("workflow did not complete")
	}
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}

	mfs := scrape(t, m)
	ok := map[string]string{"workflow_type": "metricsWorkflow", "activity_type": "metricsOK"}
	fail := map[string]string{"workflow_type": "metricsWorkflow", "activity_type": "metricsFail"}
	if v := counterValue(t, mfs, "temporal_local_activity_total", ok); v != 1 {
		t.Errorf("temporal_local_activity_total%v = %v, want 1", ok, v)
	}
	if v := counterValue(t, mfs, "temporal_local_activity_total", fail); v != 1 {
		t.Errorf("temporal_local_activity_total%v = %v, want 1", fail, v)
	}
	if v := counterValue(t, mfs, "temporal_local_activity_execution_failed_total", with(fail, "failure_reason", "ActivityError")); v != 1 {
		t.Errorf("temporal_local_activity_execution_failed_total = %v, want 1", v)
	}
	lat := series(t, mfs, "temporal_local_activity_execution_latency_seconds", dto.MetricType_HISTOGRAM, ok).GetHistogram()
	if lat.GetSampleCount() != 1 {
		t.Errorf("local activity latency count = %d, want 1", lat.GetSampleCount())
	}
	if v := counterValue(t, mfs, "conversation_test_turns_total", map[string]string{"provider": "nlu"}); v != 1 {
		t.Errorf("workflow code's own counter = %v, want 1", v)
	}
}

func metricsOK(context.Context) error   { return nil }
func metricsFail(context.Context) error { return errors.New("provider down") }

func metricsWorkflow(ctx workflow.Context) error {
	ctx = workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{
		StartToCloseTimeout: time.Minute,
		RetryPolicy:         &temporal.RetryPolicy{MaximumAttempts: 1},
	})
	if err := workflow.ExecuteLocalActivity(ctx, metricsOK).Get(ctx, nil); err != nil {
		return err
	}
	if err := workflow.ExecuteLocalActivity(ctx, metricsFail).Get(ctx, nil); err == nil {
		return errors.New("metricsFail succeeded")
	}
	workflow.GetMetricsHandler(ctx).WithTags(map[string]string{"provider": "nlu"}).Counter("conversation_test_turns").Inc(1)
	return nil
}

// sdkTagKeys must be the SDK's tag keys: after an SDK upgrade adds one, this fails
// until it is listed (until then the new key is an extra label fixed at first use).
func TestTemporalTagKeysMatchSDK(t *testing.T) {
	// go test runs in the package directory, inside the module: go list finds the
	// SDK version go.mod requires, in the module cache.
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "go.temporal.io/sdk").Output()
	dir := strings.TrimSpace(string(out))
	if err != nil || dir == "" {
		t.Skipf("cannot locate the SDK source: %v", err)
	}
	file := filepath.Join(dir, "internal", "common", "metrics", "constants.go")
	f, err := parser.ParseFile(token.NewFileSet(), file, nil, parser.ParseComments)
	if err != nil {
		t.Skipf("SDK source not readable: %v", err)
	}
	var keys []string
	for _, d := range f.Decls {
		g, ok := d.(*ast.GenDecl)
		if !ok || g.Tok != token.CONST || g.Doc == nil || strings.TrimSpace(g.Doc.Text()) != "Metric tag keys" {
			continue
		}
		for _, spec := range g.Specs {
			for _, v := range spec.(*ast.ValueSpec).Values {
				if lit, ok := v.(*ast.BasicLit); ok {
					s, _ := strconv.Unquote(lit.Value)
					keys = append(keys, s)
				}
			}
		}
	}
	if len(keys) == 0 {
		t.Fatalf("no \"Metric tag keys\" constants in %s", file)
	}
	slices.Sort(keys)
	if !slices.Equal(keys, sdkTagKeys[:]) {
		t.Errorf("SDK tag keys (%s) %v, sdkTagKeys %v", dir, keys, sdkTagKeys)
	}
}

var _ client.MetricsHandler = (*temporalHandler)(nil)

func TestTemporalSafeChild(t *testing.T) {
	_, err := safeChild(func([]string) (client.MetricsCounter, error) { panic("\"le\" is not allowed") }, nil)
	if err == nil {
		t.Error("safeChild let a panicking child through without an error")
	}
}

func TestTemporalTagIndex(t *testing.T) {
	if !slices.IsSorted(sdkTagKeys[:]) {
		t.Errorf("sdkTagKeys not sorted: %v", sdkTagKeys)
	}
	for i, k := range sdkTagKeys {
		if got := tagIndex(k); got != i {
			t.Errorf("tagIndex(%q) = %d, want %d", k, got, i)
		}
	}
	for _, k := range []string{"", "provider", "Namespace", "task-queue"} {
		if got := tagIndex(k); got != -1 {
			t.Errorf("tagIndex(%q) = %d, want -1", k, got)
		}
	}
}
