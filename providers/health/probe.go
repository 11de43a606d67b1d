package health

import (
	"context"
	"sync"
	"time"
)

// maintain runs every ProbeInterval until ctx is done: it moves breakers along in
// time and probes the providers that are out of rotation.
func (r *registry) maintain(ctx context.Context) {
	t := time.NewTicker(r.probeInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			r.tick(ctx)
		}
	}
}

// tick does one round of maintenance and waits for its probes, so probes of one
// provider never overlap. Providers are probed concurrently: a hanging vendor delays
// nobody else's recovery.
//
// Probes run while a breaker is open or half-open, from the moment it opens rather
// than once OpenFor has elapsed: a provider that comes back is half-open (back in
// rotation for trial calls) within one ProbeInterval of its recovery, and a failed
// probe restarts OpenFor, so trial calls are not spent on a provider that a probe has
// just seen failing. Closed providers are not probed: live traffic is their health
// check, and a probe costs vendor quota. Every instance probes on its own (with N
// workers, N probes per interval per tripped provider); the transitions they cause
// are shared, so the first instance to see a recovery brings the others along.
func (r *registry) tick(ctx context.Context) {
	now := r.now()
	var wg sync.WaitGroup
	for _, p := range r.list() {
		p.mu.Lock()
		auto := p.override == ModeAuto
		if auto {
			r.advance(p, now)
		}
		prober, ok := r.probers[p.name]
		probe := auto && ok && p.state != StateClosed
		p.mu.Unlock()
		if probe {
			wg.Go(func() { r.probe(ctx, p, prober) })
		}
	}
	wg.Wait()
}

// advance moves a breaker along in time. Requires p.mu.
//
//   - An open breaker whose OpenFor elapsed turns half-open now, so that Snapshot and
//     the other instances see it, rather than at the next Allow.
//   - A half-open breaker that saw no result for OpenFor gets fresh trial permits.
//     Allow and Record are separate calls, often on different workers, so a permit
//     taken by an Allow whose attempt never reported back would otherwise be lost,
//     and with all of them lost the breaker would refuse every call for good.
func (r *registry) advance(p *provider, now time.Time) {
	switch p.state {
	case StateOpen:
		if p.cb.RemainingDelay() == 0 {
			p.cb.HalfOpen()
			r.local(p, "")
		}
	case StateHalfOpen:
		last := latest(p.since, p.lastResult, p.refreshed, p.overrideSince)
		if now.Sub(last) >= p.settings.OpenFor {
			p.cb.Open()
			p.cb.HalfOpen()
			p.refreshed = now
		}
	}
}

// probe runs one probe, bounded by ProbeTimeout, and feeds its result to the breaker:
//
//   - success while open: half-open, and the probe counts as the first trial success;
//   - success while half-open: one more trial success (HalfOpenSuccesses close it);
//   - failure while open: stays open, with OpenFor restarted;
//   - failure while half-open: open again.
func (r *registry) probe(ctx context.Context, p *provider, prober Prober) {
	pctx, cancel := context.WithTimeout(ctx, r.probeTimeout)
	start := time.Now()
	err := prober.Probe(pctx)
	latency := time.Since(start)
	cancel()
	if ctx.Err() != nil {
		return // shutting down: the probe was cut short by us
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.override != ModeAuto {
		return
	}
	res := classify(p.settings, latency, err)
	if res.outcome == ignored { // a probe has no caller to give up: any error is a failure
		res = result{outcome: failure, failed: true, cause: err.Error()}
	}
	p.lastResult = r.now()
	switch res.outcome {
	case success:
		if p.state == StateOpen {
			p.cb.HalfOpen()
			r.local(p, "probe succeeded: trial calls allowed")
		}
		if p.state == StateHalfOpen {
			p.cb.RecordSuccess()
			r.local(p, "")
		}
	case failure:
		p.lastCause = "probe: " + res.cause
		switch p.state {
		case StateOpen:
			// failsafe-go restarts the delay only on a transition to open; a failed
			// trial in half-open makes one without a visible change of state.
			p.cb.HalfOpen()
			p.cb.RecordFailure()
			p.reason = "probe failed: " + res.cause
		case StateHalfOpen:
			p.cb.RecordFailure()
			r.local(p, "probe failed: "+res.cause)
		}
	}
}

func latest(ts ...time.Time) time.Time {
	var l time.Time
	for _, t := range ts {
		if t.After(l) {
			l = t
		}
	}
	return l
}
