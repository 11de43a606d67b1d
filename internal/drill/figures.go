package drill

import (
	"maps"
	"math"
	"slices"
	"sort"
	"time"
)

// Figures are the drill's numbers over time, for the report and for CI. Times are
// seconds from the start of the load.
type Figures struct {
	// Seconds is how long the drill watched: the load and the settling after it.
	Seconds     float64 `json:"seconds"`
	LoadSeconds float64 `json:"load_seconds"`
	// PerSecond holds one entry per second.
	PerSecond []Second `json:"per_second"`
	// Latency is over every answered turn: from its webhook's first attempt to its
	// reply reaching a vendor.
	Latency Percentiles `json:"latency_ms"`
	// Breakers are each provider's breaker states, as the apis reported them.
	Breakers []ProviderTimeline `json:"breakers"`
	// Served counts, per bucket of BucketSeconds (by when the turn was sent), the
	// provider that understood each answered turn and the one that delivered it.
	BucketSeconds float64  `json:"bucket_seconds"`
	Served        []Bucket `json:"served"`
	// ServedTotal is the same over the whole drill.
	ServedTotal Served      `json:"served_total"`
	Faults      []FaultSpan `json:"faults"`
	// AcceptedPerSecond is the mean over the load, and its peak second.
	AcceptedPerSecond     float64 `json:"accepted_per_second"`
	PeakAcceptedPerSecond int     `json:"peak_accepted_per_second"`
	// LastReply is when the last reply reached a vendor.
	LastReply float64 `json:"last_reply"`
}

// Second is one second of the drill.
type Second struct {
	T        int `json:"t"`
	Sent     int `json:"sent"`     // turns whose first webhook attempt began then
	Accepted int `json:"accepted"` // 2xx answers
	Failed   int `json:"failed"`   // attempts answered otherwise, or cut off
	Answered int `json:"answered"` // first replies reaching a vendor
	// P50 and P99 are the latencies (ms) of the turns sent in this second that
	// were answered; absent when none was.
	P50 *float64 `json:"p50_ms,omitempty"`
	P99 *float64 `json:"p99_ms,omitempty"`
}

// Percentiles of a latency, in milliseconds.
type Percentiles struct {
	Count int     `json:"count"`
	P50   float64 `json:"p50"`
	P90   float64 `json:"p90"`
	P99   float64 `json:"p99"`
	Max   float64 `json:"max"`
}

// ProviderTimeline is one provider's breaker over time.
type ProviderTimeline struct {
	Provider string    `json:"provider"`
	Segments []Segment `json:"segments"`
	// Open is how long the breaker was out of rotation (open or half-open).
	OpenSeconds float64 `json:"open_seconds"`
}

// Segment is a stretch of one breaker state.
type Segment struct {
	From  float64 `json:"from"`
	To    float64 `json:"to"`
	State string  `json:"state"`
}

// Bucket counts the providers that served the turns sent within it.
type Bucket struct {
	From   float64 `json:"from"`
	Served Served  `json:"served"`
}

// Served counts turns by provider.
type Served struct {
	NLU   map[string]int `json:"nlu"`
	CPaaS map[string]int `json:"cpaas"`
}

// FaultSpan is a fault of the timeline as it happened.
type FaultSpan struct {
	From  float64 `json:"from"`
	To    float64 `json:"to"`
	Kind  string  `json:"kind"`
	Label string  `json:"label"`
	Error string  `json:"error,omitempty"`
}

// figures computes the Figures of a checked History.
func figures(h *History, v Verdict) Figures {
	at := func(t time.Time) float64 { return t.Sub(h.Start).Seconds() }
	end := h.SettledAt
	if end.IsZero() {
		end = time.Now()
	}
	f := Figures{Seconds: at(end), LoadSeconds: at(h.LoadEnd)}
	n := int(math.Ceil(f.Seconds)) + 1
	secs := make([]Second, n)
	lat := make([][]float64, n)
	slot := func(t time.Time) int { return min(max(int(at(t)), 0), n-1) }
	for i := range secs {
		secs[i].T = i
	}
	for _, t := range h.Turns {
		if len(t.Attempts) == 0 {
			continue
		}
		secs[slot(t.Sent())].Sent++
		for _, a := range t.Attempts {
			if a.Status/100 == 2 {
				secs[slot(a.End)].Accepted++
			} else {
				secs[slot(a.End)].Failed++
			}
		}
	}
	var all []float64
	f.BucketSeconds = max(5, math.Round(f.Seconds/60))
	buckets := map[int]*Bucket{}
	f.ServedTotal = Served{NLU: map[string]int{}, CPaaS: map[string]int{}}
	for _, a := range v.Answers {
		ms := float64(a.ReplyAt.Sub(a.Turn.Sent())) / float64(time.Millisecond)
		s := slot(a.Turn.Sent())
		lat[s] = append(lat[s], ms)
		all = append(all, ms)
		secs[slot(a.ReplyAt)].Answered++
		f.LastReply = max(f.LastReply, at(a.ReplyAt))
		b := int(at(a.Turn.Sent()) / f.BucketSeconds)
		if buckets[b] == nil {
			buckets[b] = &Bucket{From: float64(b) * f.BucketSeconds, Served: Served{NLU: map[string]int{}, CPaaS: map[string]int{}}}
		}
		buckets[b].Served.NLU[a.NLU]++
		buckets[b].Served.CPaaS[a.CPaaS]++
		f.ServedTotal.NLU[a.NLU]++
		f.ServedTotal.CPaaS[a.CPaaS]++
	}
	for i := range secs {
		if len(lat[i]) > 0 {
			p50, p99 := percentile(lat[i], 50), percentile(lat[i], 99)
			secs[i].P50, secs[i].P99 = &p50, &p99
		}
	}
	f.PerSecond = secs
	if len(all) > 0 {
		f.Latency = Percentiles{Count: len(all), P50: percentile(all, 50), P90: percentile(all, 90), P99: percentile(all, 99), Max: slices.Max(all)}
	}
	for _, k := range slices.Sorted(maps.Keys(buckets)) {
		f.Served = append(f.Served, *buckets[k])
	}
	accepted := 0
	for _, s := range secs {
		if float64(s.T) < f.LoadSeconds {
			accepted += s.Accepted
		}
		f.PeakAcceptedPerSecond = max(f.PeakAcceptedPerSecond, s.Accepted)
	}
	if f.LoadSeconds > 0 {
		f.AcceptedPerSecond = float64(accepted) / f.LoadSeconds
	}
	f.Breakers = breakerTimelines(h, at, f.Seconds)
	for _, e := range h.Faults {
		to := end
		if !e.End.IsZero() {
			to = e.End
		}
		f.Faults = append(f.Faults, FaultSpan{From: at(e.Start), To: at(to), Kind: e.Kind, Label: e.Label, Error: e.Error})
	}
	return f
}

// breakerTimelines merges the samples of each provider into segments of one state;
// a segment lasts until the next sample.
func breakerTimelines(h *History, at func(time.Time) float64, end float64) []ProviderTimeline {
	byProvider := map[string][]BreakerSample{}
	for _, s := range h.Breakers {
		byProvider[s.Provider] = append(byProvider[s.Provider], s)
	}
	var out []ProviderTimeline
	for _, name := range sortedKeys(byProvider) {
		samples := byProvider[name]
		sort.SliceStable(samples, func(i, j int) bool { return samples[i].At.Before(samples[j].At) })
		tl := ProviderTimeline{Provider: name}
		for i, s := range samples {
			to := end
			if i+1 < len(samples) {
				to = at(samples[i+1].At)
			}
			if k := len(tl.Segments) - 1; k >= 0 && tl.Segments[k].State == s.State {
				tl.Segments[k].To = to
			} else {
				tl.Segments = append(tl.Segments, Segment{From: at(s.At), To: to, State: s.State})
			}
		}
		for _, seg := range tl.Segments {
			if seg.State != "closed" {
				tl.OpenSeconds += seg.To - seg.From
			}
		}
		out = append(out, tl)
	}
	return out
}

// percentile is the nearest-rank percentile p of xs (which it sorts).
func percentile(xs []float64, p float64) float64 {
	slices.Sort(xs)
	i := int(math.Ceil(p/100*float64(len(xs)))) - 1
	return xs[min(max(i, 0), len(xs)-1)]
}
