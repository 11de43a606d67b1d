package bench

import (
	"math"
	"slices"
	"time"
)

// Summary is what a phase measured for one kind of turn.
type Summary struct {
	Name     string
	Turns    int           // turns that completed
	Failed   int           // turns that got no reply in time or were refused
	Elapsed  time.Duration // wall time of the phase; 0 when rates make no sense
	P50, P95 time.Duration
	P99, Max time.Duration
	// Usage is the CPU the phase cost; zero for a subset of a phase's turns.
	Usage Usage
}

// CPUPerTurn is this process's CPU time per completed turn, 0 when not measured.
func (s Summary) CPUPerTurn() time.Duration {
	if s.Turns == 0 || s.Usage.CPU <= 0 {
		return 0
	}
	return s.Usage.CPU / time.Duration(s.Turns)
}

// Rate is completed turns per second over Elapsed, 0 when Elapsed is 0.
func (s Summary) Rate() float64 {
	if s.Elapsed <= 0 {
		return 0
	}
	return float64(s.Turns) / s.Elapsed.Seconds()
}

// summarize computes the percentiles of lat (which it sorts).
func summarize(name string, lat []time.Duration, failed int, elapsed time.Duration) Summary {
	slices.Sort(lat)
	s := Summary{Name: name, Turns: len(lat), Failed: failed, Elapsed: elapsed}
	if len(lat) > 0 {
		s.P50, s.P95, s.P99 = percentile(lat, 50), percentile(lat, 95), percentile(lat, 99)
		s.Max = lat[len(lat)-1]
	}
	return s
}

// percentile returns the p-th percentile (0 < p <= 100) of sorted by the nearest-rank
// method: the smallest value such that at least p% of the values are at most it.
// It returns 0 for an empty slice.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(math.Ceil(p / 100 * float64(len(sorted))))
	rank = min(max(rank, 1), len(sorted))
	return sorted[rank-1]
}

// ratio is a/b, or NaN when b is 0.
func ratio(a, b float64) float64 {
	if b == 0 {
		return math.NaN()
	}
	return a / b
}
