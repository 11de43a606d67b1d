package bench

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/switchboard-cc/switchboard/providers/fake"
)

// FailoverResult is what the failover phase measured: steady closed-loop load while
// the primary CPaaS provider (twilio in the dev policy) hangs, then recovers.
type FailoverResult struct {
	Mode              string        // how the provider failed
	HealthyRate       float64       // turns/s before the outage
	OutageRate        float64       // turns/s during the outage
	Sent, Answered    int           // turns started during the outage, and answered
	PaidTimeout       int           // turns of the outage slower than one attempt timeout
	AllOnNext         time.Duration // from the outage to the last reply of a turn that paid the timeout
	BackInRotation    time.Duration // from recovery to the first reply through the provider again
	OutagePercentiles Summary
	AttemptTimeout    time.Duration
}

type failoverTurn struct {
	start   time.Time
	lat     time.Duration
	vendor  string
	ok      bool
	replied time.Time
}

// failover runs the failover phase: Healthy of normal load, Outage with provider
// hanging past its attempt timeout, then Recovery with it healthy again.
func failover(ctx context.Context, cfg Config, w *webhooks, tr *tracker, faults *fake.Faults, attemptTimeout time.Duration) (FailoverResult, error) {
	const provider = "twilio"
	healthy, outage, recovery := cfg.FailoverPhase, 2*cfg.FailoverPhase, cfg.FailoverPhase
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		mu    sync.Mutex
		turns []failoverTurn
		wg    sync.WaitGroup
	)
	start := time.Now()
	for i := range cfg.Concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cust := customer(5, i)
			for k := 0; ctx.Err() == nil; k++ {
				t0 := time.Now()
				lat, sent, err := w.turnReply(ctx, tr, cust, utterances[(i+k)%len(utterances)])
				if ctx.Err() != nil {
					return
				}
				mu.Lock()
				turns = append(turns, failoverTurn{start: t0, lat: lat, vendor: sent.Vendor, ok: err == nil, replied: sent.At})
				mu.Unlock()
			}
		}()
	}
	sleepFor := func(d time.Duration) bool {
		select {
		case <-time.After(d):
			return true
		case <-ctx.Done():
			return false
		}
	}
	if !sleepFor(healthy) {
		return FailoverResult{}, ctx.Err()
	}
	down := fake.Fault{Provider: provider, Mode: fake.ModeSlow, LatencyMS: int((10 * attemptTimeout).Milliseconds())}
	if err := faults.Set(down); err != nil {
		return FailoverResult{}, err
	}
	tDown := time.Now()
	if !sleepFor(outage) {
		return FailoverResult{}, ctx.Err()
	}
	if err := faults.Set(fake.Fault{Provider: provider, Mode: fake.ModeOK}); err != nil {
		return FailoverResult{}, err
	}
	tUp := time.Now()
	sleepFor(recovery)
	cancel()
	wg.Wait()

	r := FailoverResult{AttemptTimeout: attemptTimeout}
	r.Mode = fmt.Sprintf("%s hangs (answers after %s, its attempt timeout is %s) for %s", provider, time.Duration(down.LatencyMS)*time.Millisecond, attemptTimeout, outage)
	sort.Slice(turns, func(i, j int) bool { return turns[i].start.Before(turns[j].start) })
	var healthyDone int
	var outageLat []time.Duration
	failed := 0
	for _, t := range turns {
		switch {
		case t.start.Before(tDown):
			if t.ok && t.replied.Before(tDown) {
				healthyDone++
			}
		case t.start.Before(tUp):
			r.Sent++
			if !t.ok {
				failed++
				continue
			}
			r.Answered++
			outageLat = append(outageLat, t.lat)
			if t.lat >= attemptTimeout {
				r.PaidTimeout++
				if d := t.replied.Sub(tDown); d > r.AllOnNext {
					r.AllOnNext = d
				}
			}
		default:
			if t.ok && t.vendor == provider && r.BackInRotation == 0 {
				r.BackInRotation = max(t.replied.Sub(tUp), time.Millisecond)
			}
		}
	}
	// Turns in flight when the outage began paid it too, though they started before.
	for _, t := range turns {
		if t.start.Before(tDown) && t.ok && t.replied.After(tDown) && t.lat >= attemptTimeout {
			r.PaidTimeout++
			if d := t.replied.Sub(tDown); d > r.AllOnNext {
				r.AllOnNext = d
			}
		}
	}
	r.HealthyRate = float64(healthyDone) / tDown.Sub(start).Seconds()
	r.OutageRate = float64(r.Answered) / outage.Seconds()
	r.OutagePercentiles = summarize("failover: turns during the outage", outageLat, failed, outage)
	return r, nil
}
