package health

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/failsafe-go/failsafe-go/circuitbreaker"

	"github.com/switchboard-cc/switchboard/providers"
)

// outcome is how one attempt counts for the breaker.
type outcome int

const (
	// ignored: the attempt says nothing about the provider (the caller gave up, or the
	// error was never classified). Neither the breaker nor the window sees it.
	ignored outcome = iota
	success
	failure
)

// ErrHedgedOver is what Record is given for an attempt cancelled because another
// provider answered first while this one had not answered within its hedge
// delay: it counts as a slow call.
var ErrHedgedOver = errors.New("hedged over: no answer within its hedge delay")

// result is one classified attempt.
type result struct {
	outcome outcome
	failed  bool   // failed for a reason that counts against the provider
	slow    bool   // answered, but slower than SlowCall
	cause   string // why it failed, for the breaker's reason
}

// classify decides what an attempt says about the provider. Only failures that are
// the provider's count: unavailable, timed out (including an attempt whose deadline
// ran out), rate limited. A rejection is an answer: the provider is up and the
// request was bad, so it counts as a success (as a 4xx resets Envoy's consecutive-5xx
// counter), unless it was slow.
func classify(s BreakerSettings, latency time.Duration, err error) result {
	if err != nil {
		switch {
		case errors.Is(err, providers.ErrUnavailable):
			return result{outcome: failure, failed: true, cause: providers.ErrUnavailable.Error()}
		case errors.Is(err, providers.ErrTimeout):
			return result{outcome: failure, failed: true, cause: providers.ErrTimeout.Error()}
		case errors.Is(err, providers.ErrRateLimited):
			return result{outcome: failure, failed: true, cause: providers.ErrRateLimited.Error()}
		case errors.Is(err, providers.ErrRejected):
			// An answer: judged on its latency below.
		case errors.Is(err, context.DeadlineExceeded):
			return result{outcome: failure, failed: true, cause: providers.ErrTimeout.Error()}
		case errors.Is(err, ErrHedgedOver):
			return result{outcome: failure, slow: true, cause: ErrHedgedOver.Error()}
		default:
			return result{outcome: ignored}
		}
	}
	if s.SlowCall > 0 && latency > s.SlowCall {
		return result{outcome: failure, slow: true, cause: fmt.Sprintf("slow calls (over %v)", s.SlowCall)}
	}
	return result{outcome: success}
}

// newBreaker builds the breaker that decides a provider's state: it opens after
// ConsecutiveFailures failures in a row (a count-based threshold over the last N
// results is exactly "N in a row"), stays open for OpenFor, then admits
// HalfOpenSuccesses trial calls, which close it if they all succeed.
func newBreaker(s BreakerSettings) circuitbreaker.CircuitBreaker[any] {
	return circuitbreaker.NewBuilder[any]().
		WithFailureThreshold(uint(s.ConsecutiveFailures)).
		WithSuccessThreshold(uint(s.HalfOpenSuccesses)).
		WithDelay(s.OpenFor).
		Build()
}

// newRateDetector builds a time-based failsafe breaker used only as a detector while
// the main breaker is closed: it "opens" when the failure rate within Window reaches
// FailureRate over at least MinCalls calls, and the main breaker is then opened.
// failsafe-go thresholds a breaker either by count or by rate, not both; two breakers
// give both without re-implementing either.
func newRateDetector(s BreakerSettings) circuitbreaker.CircuitBreaker[any] {
	return circuitbreaker.NewBuilder[any]().
		WithFailureRateThreshold(s.FailureRate, uint(s.MinCalls), s.Window).
		WithDelay(s.OpenFor).
		Build()
}

func stateOf(s circuitbreaker.State) State {
	switch s {
	case circuitbreaker.OpenState:
		return StateOpen
	case circuitbreaker.HalfOpenState:
		return StateHalfOpen
	default:
		return StateClosed
	}
}

// provider is one provider's breaker and the state around it. Every field is guarded
// by mu, and the failsafe breakers are only touched under it, so a state read before
// and after an operation tells whether that operation made a transition.
type provider struct {
	name string

	mu       sync.Mutex
	settings BreakerSettings
	cb       circuitbreaker.CircuitBreaker[any]
	rate     circuitbreaker.CircuitBreaker[any]

	// The breaker's state as last reported, and the transition that led to it.
	// changed is since, but zero until the first transition: a transition read from
	// the bucket is taken over only if it is newer than the last one here.
	state   State
	reason  string
	since   time.Time
	origin  string
	changed time.Time

	override      Mode
	overrideSince time.Time
	overrideBy    string

	// tripReason is why the breaker last opened from closed, kept while it stays
	// out of rotation (failed probes and trial calls do not replace it); "" while
	// closed.
	tripReason string

	lastCause  string    // why the last counted failure failed
	lastResult time.Time // last result the breaker saw (calls and probes)
	refreshed  time.Time // last time a stalled half-open breaker got fresh permits

	// Probes of this instance: the last one's time and outcome ("ok" or "failed:
	// <cause>"), how many failed in a row, and whether one is out now.
	lastProbe       time.Time
	lastProbeResult string
	probeFailures   int
	probing         bool

	window window
	// latency is the window's p95 of successful calls as of latencyAt.
	latency   time.Duration
	latencyAt time.Time
}

func newProvider(name string, s BreakerSettings, now time.Time, instance string) *provider {
	return &provider{
		name: name, settings: s, cb: newBreaker(s), rate: newRateDetector(s),
		state: StateClosed, since: now, origin: instance, override: ModeAuto,
	}
}

// reconfigure replaces the breakers with ones built from s, carrying the state over
// (an open breaker starts a fresh OpenFor). The call window is kept. Requires mu.
func (p *provider) reconfigure(s BreakerSettings) {
	p.settings = s
	p.cb = newBreaker(s)
	p.rate = newRateDetector(s)
	switch p.state {
	case StateOpen:
		p.cb.Open()
	case StateHalfOpen:
		p.cb.HalfOpen()
	}
}

// settle compares the breaker's state with the last reported one and, if it moved,
// records the transition as made at now. It reports whether there was one. Requires
// mu.
func (p *provider) settle(now time.Time, reason, origin string) bool {
	st := stateOf(p.cb.State())
	if st == p.state {
		return false
	}
	if st == StateClosed {
		p.tripReason = ""
	} else if p.state == StateClosed || p.tripReason == "" {
		p.tripReason = reason
	}
	p.state, p.reason, p.since, p.origin, p.changed = st, reason, now, origin, now
	// The rate detector only ever watches a closed breaker, from a clean slate.
	p.rate = newRateDetector(p.settings)
	return true
}

// transitionReason explains a transition the breaker made by itself.
func (p *provider) transitionReason(to State) string {
	switch {
	case p.state == StateClosed && to == StateOpen:
		return fmt.Sprintf("%d consecutive failures: %s", p.settings.ConsecutiveFailures, p.lastCause)
	case p.state == StateHalfOpen && to == StateOpen:
		return "trial call failed: " + p.lastCause
	case to == StateClosed:
		return fmt.Sprintf("%d successful trial calls", p.settings.HalfOpenSuccesses)
	case to == StateHalfOpen:
		return fmt.Sprintf("open for %v: trial calls allowed", p.settings.OpenFor)
	}
	return ""
}

// allow reports whether a call may go out now, taking a trial permit when half-open.
// Requires mu.
func (p *provider) allow() bool {
	switch p.override {
	case ModeOpen:
		return false
	case ModeClosed:
		return true
	}
	return p.cb.TryAcquirePermit()
}

// record feeds one classified result to the breakers. Requires mu.
func (p *provider) record(now time.Time, r result) (reason string) {
	p.lastResult = now
	wasClosed := p.state == StateClosed && p.cb.IsClosed()
	switch r.outcome {
	case success:
		p.cb.RecordSuccess()
		if wasClosed {
			p.rate.RecordSuccess()
		}
	case failure:
		p.lastCause = r.cause
		p.cb.RecordFailure()
		if wasClosed && p.cb.IsClosed() {
			p.rate.RecordFailure()
		}
	}
	if wasClosed && p.cb.IsClosed() && p.rate.IsOpen() {
		m := p.rate.Metrics()
		p.cb.Open()
		return fmt.Sprintf("failure rate %.0f%% over %v (%d calls): %s",
			m.FailureRate()*100, p.settings.Window, m.Executions(), p.lastCause)
	}
	return p.transitionReason(stateOf(p.cb.State()))
}

// sample is one call in the window.
type sample struct {
	at      time.Time
	latency time.Duration
	failed  bool
	slow    bool
}

// maxSamples bounds the memory of a window: past it, the stats describe the most
// recent maxSamples calls of the window.
const maxSamples = 4096

// window holds the recent calls of one provider, oldest first.
type window struct {
	samples []sample
}

func (w *window) add(s sample, span time.Duration) {
	w.trim(s.at, span)
	w.samples = append(w.samples, s)
	if n := len(w.samples); n > maxSamples {
		w.samples = w.samples[n-maxSamples:]
	}
}

func (w *window) trim(now time.Time, span time.Duration) {
	cut := now.Add(-span)
	i := 0
	for i < len(w.samples) && !w.samples[i].at.After(cut) {
		i++
	}
	if i > 0 {
		w.samples = w.samples[i:]
	}
}

// windowStats are the numbers Status reports.
type windowStats struct {
	calls     int
	failed    int
	errorRate float64
	slow      int
	p95       time.Duration
	last      time.Time // the latest call
}

// stats describes the calls within span before now.
func (w *window) stats(now time.Time, span time.Duration) windowStats {
	w.trim(now, span)
	n := len(w.samples)
	if n == 0 {
		return windowStats{}
	}
	var failed, slow int
	lat := make([]time.Duration, n)
	for i, s := range w.samples {
		lat[i] = s.latency
		if s.failed {
			failed++
		}
		if s.slow {
			slow++
		}
	}
	return windowStats{calls: n, failed: failed, errorRate: float64(failed) / float64(n), slow: slow, p95: p95(lat), last: w.samples[n-1].at}
}

// p95 sorts lat and returns its nearest-rank 95th percentile: the smallest latency
// that at least 95% of them did not exceed.
func p95(lat []time.Duration) time.Duration {
	slices.Sort(lat)
	return lat[(95*len(lat)+99)/100-1] // ceil(0.95 n) - 1, in integers
}

// successP95 is the nearest-rank p95 latency of the successful calls (neither
// failed nor slow) within span before now; 0 without any.
func (w *window) successP95(now time.Time, span time.Duration) time.Duration {
	w.trim(now, span)
	lat := make([]time.Duration, 0, len(w.samples))
	for _, s := range w.samples {
		if !s.failed && !s.slow {
			lat = append(lat, s.latency)
		}
	}
	if len(lat) == 0 {
		return 0
	}
	return p95(lat)
}
