package bench

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/switchboard-cc/switchboard/providers/fake"
	"github.com/switchboard-cc/switchboard/providers/routing"
)

// The hang phase's schedule: the one the issue compared failover systems on. An
// open loop of HangRate turns/s over HangConversations conversations, every NLU
// upstream answering in HangUpstream, while the primary NLU provider is healthy,
// then hangs (answers nothing), then recovers.
const (
	HangRate          = 20.0
	HangConversations = 10
	HangUpstream      = 50 * time.Millisecond
	// TargetHangExtra: the p99 during the hang is at most the healthy p99 plus
	// this, and no turn should pay more than this over the healthy p99.
	TargetHangExtra = 250 * time.Millisecond
)

// HangResult is what the hang phase measured.
type HangResult struct {
	Primary, Mode string
	// Healthy, Hang and Recovered are the turns answered before the primary hung,
	// those in flight at some moment while it hung, and those sent after it
	// recovered.
	Healthy, Hang, Recovered Summary
	// PaidOver counts the turns of the hang and recovered parts that took more
	// than TargetHangExtra over the healthy p99.
	PaidOver int
	// Worst is the slowest turn of the hang part, and Bound what hedging promises
	// it: the healthy p50, plus the primary's hedge delay (derived from its healthy
	// p95, as the router derives it), plus the next provider's latency.
	Worst, Bound time.Duration
	// HedgeDelay is the primary's derived hedge delay, from the answering
	// provider's own latency (its p95) in the healthy part.
	HedgeDelay time.Duration
	// HangHedging and HealthyHedging are the hedges of the hang and healthy parts.
	HangHedging, HealthyHedging Hedging
	// BackOnPrimary is from the recovery to the receipt of the first turn that the
	// primary answered again (routing sent it there), and BackReply to that turn's
	// reply; ProbeInterval is the primary's probe interval.
	BackOnPrimary, BackReply, ProbeInterval time.Duration
	// Usage is what the whole phase cost, and how busy other processes were.
	Usage Usage
}

type hangTurn struct {
	start time.Time
	lat   time.Duration
	ok    bool
}

// hang runs the hang phase: part of healthy load, twice as long with the primary
// NLU provider of the dev policy's sms channel hanging, part recovered.
func hang(ctx context.Context, cfg Config, w *webhooks, tr *tracker, faults *fake.Faults, outs *outcomes, pol *routing.Policy) (HangResult, error) {
	nlu := pol.Channel("sms").NLU
	primary := nlu[0]
	r := HangResult{Primary: primary, ProbeInterval: pol.Provider(primary).ProbeInterval}
	upstream := func(p string) fake.Fault {
		return fake.Fault{Provider: p, Mode: fake.ModeSlow, LatencyMS: int(HangUpstream.Milliseconds())}
	}
	for _, p := range nlu {
		if pol.Provider(p).Kind != routing.KindLocal {
			if err := faults.Set(upstream(p)); err != nil {
				return r, err
			}
			defer func() { _ = faults.Set(fake.Fault{Provider: p, Mode: fake.ModeOK}) }()
		}
	}
	part := cfg.HangPhase
	r.Mode = fmt.Sprintf("%s hangs for %s at %.0f turns/s over %d conversations, every NLU upstream answering in %s", primary, 2*part, HangRate, HangConversations, HangUpstream)

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	customers := make([]string, HangConversations)
	for i := range customers {
		customers[i] = customer(6, i)
	}
	var (
		mu    sync.Mutex
		turns []hangTurn
		wg    sync.WaitGroup
	)
	m := startMeter()
	interval := time.Duration(float64(time.Second) / HangRate)
	n := int(4 * part / interval)
	start := time.Now()
	tDown, tUp := start.Add(part), start.Add(3*part)
	down, up := false, false
	timer := time.NewTimer(0)
	defer timer.Stop()
	for i := range n {
		at := start.Add(time.Duration(i) * interval)
		timer.Reset(time.Until(at))
		select {
		case <-timer.C:
		case <-ctx.Done():
			return r, ctx.Err()
		}
		switch now := time.Now(); {
		case !down && !now.Before(tDown):
			if err := faults.Set(fake.Fault{Provider: primary, Mode: fake.ModeHang}); err != nil {
				return r, err
			}
			down, tDown = true, now
		case down && !up && !now.Before(tUp):
			if err := faults.Set(upstream(primary)); err != nil {
				return r, err
			}
			up, tUp = true, now
		}
		wg.Add(1)
		go func(c string, i int) {
			defer wg.Done()
			t0 := time.Now()
			lat, err := w.turn(ctx, tr, c, utterances[i%len(utterances)])
			mu.Lock()
			turns = append(turns, hangTurn{start: t0, lat: lat, ok: err == nil})
			mu.Unlock()
		}(customers[i%len(customers)], i)
	}
	wg.Wait()
	end := time.Now()
	r.Usage = m.stop()

	var healthy, hung, recovered []time.Duration
	failed := [3]int{}
	for _, t := range turns {
		// A turn belongs to the hang if it was in flight at any moment of it: those
		// in flight when the primary stopped answering are the ones it could cost.
		k := 0
		switch {
		case t.start.Add(t.lat).Before(tDown) && t.ok:
		case t.start.Before(tUp):
			k = 1
		default:
			k = 2
		}
		if !t.ok {
			failed[k]++
			continue
		}
		switch k {
		case 0:
			healthy = append(healthy, t.lat)
		case 1:
			hung = append(hung, t.lat)
			r.Worst = max(r.Worst, t.lat)
		default:
			recovered = append(recovered, t.lat)
		}
	}
	r.Healthy = summarize("hang: healthy", healthy, failed[0], tDown.Sub(start))
	r.Hang = summarize(fmt.Sprintf("hang: %s hung", primary), hung, failed[1], tUp.Sub(tDown))
	r.Recovered = summarize("hang: recovered", recovered, failed[2], end.Sub(tUp))
	for _, l := range append(append([]time.Duration(nil), hung...), recovered...) {
		if l > r.Healthy.P99+TargetHangExtra {
			r.PaidOver++
		}
	}
	r.PaidOver += failed[1] + failed[2]

	healthyOuts := outs.between(start, tDown)
	r.HealthyHedging = hedging(healthyOuts)
	r.HangHedging = hedging(outs.between(tDown, tUp))
	var nluLat []time.Duration
	for _, o := range healthyOuts {
		if o.NLUProvider == primary {
			nluLat = append(nluLat, o.NLUDuration)
		}
	}
	r.HedgeDelay = routing.HedgeDelay(pol.Provider(primary).HedgeAfter, summarize("", nluLat, 0, 0).P95)
	r.Bound = r.Healthy.P50 + r.HedgeDelay + HangUpstream
	for _, o := range outs.between(tUp, end) {
		if o.NLUProvider == primary && (r.BackOnPrimary == 0 || o.ReceivedAt.Sub(tUp) < r.BackOnPrimary) {
			r.BackOnPrimary = max(o.ReceivedAt.Sub(tUp), time.Millisecond)
			r.BackReply = o.CompletedAt.Sub(tUp)
		}
	}
	return r, nil
}
