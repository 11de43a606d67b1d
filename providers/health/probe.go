package health

import (
	"context"
	"sync"
	"time"
)

// maintain runs until ctx is done: every provider's ProbeInterval (its own, or
// Options.ProbeInterval) it moves that provider's breaker along in time and, when
// it is out of rotation, probes it. A policy reload (Configure) that changes a
// provider's interval takes effect at once: the next check is due no later than
// one new interval from the reload.
func (r *registry) maintain(ctx context.Context) {
	var probes sync.WaitGroup
	defer probes.Wait()
	type schedule struct {
		every time.Duration
		next  time.Time
	}
	due := map[string]schedule{}
	timer := time.NewTimer(r.probeInterval)
	defer timer.Stop()
	for {
		now := time.Now()
		var run []*provider
		wake := now.Add(r.probeInterval)
		seen := map[string]bool{}
		for _, p := range r.list() {
			every := r.intervalOf(p)
			seen[p.name] = true
			d, ok := due[p.name]
			switch {
			case !ok:
				d = schedule{every: every, next: now.Add(every)}
			case d.every != every:
				d = schedule{every: every, next: latest(now, minTime(d.next, now.Add(every)))}
			}
			if !d.next.After(now) {
				run = append(run, p)
				d.next = now.Add(every)
			}
			due[p.name] = d
			wake = minTime(wake, d.next)
		}
		for name := range due {
			if !seen[name] {
				delete(due, name)
			}
		}
		r.tick(ctx, run, &probes)
		timer.Reset(max(time.Until(wake), time.Millisecond))
		select {
		case <-ctx.Done():
			return
		case <-r.reschedule:
			timer.Stop()
		case <-timer.C:
		}
	}
}

// intervalOf is p's probe interval.
func (r *registry) intervalOf(p *provider) time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.settings.ProbeInterval > 0 {
		return p.settings.ProbeInterval
	}
	return r.probeInterval
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

// tick does one round of maintenance for the providers due. Providers are probed
// concurrently, each in its own goroutine: a hanging vendor delays nobody else's
// recovery. A provider whose last probe is still out is not probed again, so the
// probes of one provider never overlap.
//
// Probes run while a breaker is open or half-open, from the moment it opens rather
// than once OpenFor has elapsed: a provider that comes back is half-open (back in
// rotation for trial calls) within one ProbeInterval of its recovery, and a failed
// probe restarts OpenFor, so trial calls are not spent on a provider that a probe has
// just seen failing. Closed providers are not probed: live traffic is their health
// check, and a probe costs vendor quota. Every instance probes on its own (with N
// workers, N probes per interval per tripped provider); the transitions they cause
// are shared, so the first instance to see a recovery brings the others along.
func (r *registry) tick(ctx context.Context, due []*provider, probes *sync.WaitGroup) {
	now := r.now()
	for _, p := range due {
		// A probe ends within half its interval, so that one that hangs is over
		// before the next is due: a vendor that recovers while its probe hangs is
		// probed again within one interval, not two.
		timeout := min(r.probeTimeout, r.intervalOf(p)/2)
		p.mu.Lock()
		auto := p.override == ModeAuto
		if auto {
			r.advance(p, now)
		}
		prober, ok := r.probers[p.name]
		probe := auto && ok && p.state != StateClosed && !p.probing
		if probe {
			p.probing = true
		}
		p.mu.Unlock()
		if probe {
			probes.Go(func() { r.probe(ctx, p, prober, timeout) })
		}
	}
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

// probe runs one probe, bounded by timeout, and feeds its result to the breaker:
//
//   - success while open: half-open, and the probe counts as the first trial success;
//   - success while half-open: one more trial success (HalfOpenSuccesses close it);
//   - failure while open: stays open, with OpenFor restarted, and keeps the reason it
//     tripped for;
//   - failure while half-open: open again.
//
// Every probe's time and outcome, and the count of failed probes in a row, are kept
// for Status.
func (r *registry) probe(ctx context.Context, p *provider, prober Prober, timeout time.Duration) {
	pctx, cancel := context.WithTimeout(ctx, timeout)
	start := time.Now()
	err := prober.Probe(pctx)
	latency := time.Since(start)
	cancel()
	p.mu.Lock()
	defer p.mu.Unlock()
	p.probing = false
	if ctx.Err() != nil {
		return // shutting down: the probe was cut short by us
	}
	if p.override != ModeAuto {
		return
	}
	res := classify(p.settings, latency, err)
	if res.outcome == ignored { // a probe has no caller to give up: any error is a failure
		res = result{outcome: failure, failed: true, cause: err.Error()}
	}
	now := r.now()
	p.lastResult = now
	p.lastProbe = now
	switch res.outcome {
	case success:
		p.lastProbeResult, p.probeFailures = "ok", 0
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
		p.lastProbeResult = "failed: " + res.cause
		p.probeFailures++
		switch p.state {
		case StateOpen:
			// failsafe-go restarts the delay only on a transition to open; a failed
			// trial in half-open makes one without a visible change of state. The
			// reason stays the trip's: the probe's outcome is reported on its own.
			p.cb.HalfOpen()
			p.cb.RecordFailure()
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
