package bench

import (
	"bytes"
	"math"
	"strings"
	"testing"
	"time"
)

func msList(v ...int) []time.Duration {
	out := make([]time.Duration, len(v))
	for i, x := range v {
		out[i] = time.Duration(x) * time.Millisecond
	}
	return out
}

func TestPercentile_NearestRank(t *testing.T) {
	// 1..100 ms: the p-th percentile is p ms.
	var hundred []time.Duration
	for i := 1; i <= 100; i++ {
		hundred = append(hundred, time.Duration(i)*time.Millisecond)
	}
	for _, c := range []struct {
		in   []time.Duration
		p    float64
		want time.Duration
	}{
		{hundred, 50, 50 * time.Millisecond},
		{hundred, 95, 95 * time.Millisecond},
		{hundred, 99, 99 * time.Millisecond},
		{hundred, 100, 100 * time.Millisecond},
		{msList(7), 50, 7 * time.Millisecond},
		{msList(7), 99, 7 * time.Millisecond},
		{msList(1, 2, 3, 4), 50, 2 * time.Millisecond},    // rank ceil(2) = 2
		{msList(1, 2, 3, 4), 51, 3 * time.Millisecond},    // rank ceil(2.04) = 3
		{msList(1, 2, 3, 4, 5), 1, 1 * time.Millisecond},  // rank at least 1
		{msList(1, 2, 3, 4, 5), 99, 5 * time.Millisecond}, // rank ceil(4.95) = 5
		{nil, 50, 0},
	} {
		if got := percentile(c.in, c.p); got != c.want {
			t.Errorf("percentile(%v, %v) = %v, want %v", c.in, c.p, got, c.want)
		}
	}
}

func TestSummarize_SortsAndComputesRates(t *testing.T) {
	s := summarize("x", msList(30, 10, 20, 40), 1, 2*time.Second)
	if s.P50 != 20*time.Millisecond || s.P99 != 40*time.Millisecond || s.Max != 40*time.Millisecond {
		t.Fatalf("got p50 %v p99 %v max %v", s.P50, s.P99, s.Max)
	}
	if s.Turns != 4 || s.Failed != 1 || s.Rate() != 2 {
		t.Fatalf("got turns %d failed %d rate %v", s.Turns, s.Failed, s.Rate())
	}
	s.Usage.CPU = 100 * time.Millisecond
	if s.CPUPerTurn() != 25*time.Millisecond {
		t.Fatalf("CPU per turn %v", s.CPUPerTurn())
	}
	if (Summary{}).Rate() != 0 || (Summary{}).CPUPerTurn() != 0 {
		t.Fatal("an empty summary must report zero rates")
	}
	if !math.IsNaN(ratio(1, 0)) || ratio(9, 3) != 3 {
		t.Fatal("ratio")
	}
}

func TestReport_RatioTargetsAndMemory(t *testing.T) {
	all := summarize("throughput: all turns", msList(10, 20, 30, 40), 0, time.Second)    // 4/s
	base := summarize("baseline: workflow per turn", msList(100, 200), 0, 2*time.Second) // 1/s
	half := summarize("half load", msList(10, 20, 300), 0, time.Second)
	r := &Report{
		Started:    time.Date(2026, 1, 2, 3, 4, 0, 0, time.UTC),
		Config:     DefaultConfig(),
		Storage:    "test",
		Throughput: &ThroughputResult{All: all, First: summarize("first", msList(40), 0, 0), Later: summarize("later", msList(10, 20, 30), 0, 0)},
		HalfLoad:   &half,
		Baseline:   &base,
		Memory: &MemoryResult{
			Conversations: 1000,
			Before:        MemSample{RSSKB: 100_000},
			After:         MemSample{RSSKB: 125_000},
		},
	}
	var b bytes.Buffer
	r.Write(&b)
	out := b.String()
	for _, want := range []string{
		"2026-01-02 03:04 UTC",
		"ours / baseline turns/s: 4.00× (4.0 / 1.0)",
		"+25.0 KB per idle conversation",
		"met: ours ≥ 4× baseline turns/s",
		"met: half-load p50 ≤ 40.0ms",
		"MISSED: half-load p99 ≤ 250.0ms",
		"met: ≤ 30 KB RSS per idle conversation",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
	if m := r.Memory; m.PerConversationKB() != 25 {
		t.Errorf("per conversation %v KB", m.PerConversationKB())
	}
}

func TestConfigValidate_RejectsAbsurdValues(t *testing.T) {
	for name, mutate := range map[string]func(*Config){
		"turns":         func(c *Config) { c.Turns = MaxTurns + 1 },
		"conversations": func(c *Config) { c.Conversations = c.Turns + 1 },
		"concurrency":   func(c *Config) { c.Concurrency = 0 },
		"over convs":    func(c *Config) { c.Concurrency = c.Conversations + 1 },
		"half load":     func(c *Config) { c.HalfLoadDuration = time.Hour },
		"idle":          func(c *Config) { c.IdleConversations = -1 },
		"idle few":      func(c *Config) { c.IdleConversations = 10 },
		"phase":         func(c *Config) { c.Phases = []string{"nope"} },
		"half alone":    func(c *Config) { c.Phases = []string{PhaseHalfLoad} },
	} {
		c := DefaultConfig()
		mutate(&c)
		if err := c.Validate(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	c := DefaultConfig()
	if err := c.Validate(); err != nil {
		t.Fatalf("defaults rejected: %v", err)
	}
}
