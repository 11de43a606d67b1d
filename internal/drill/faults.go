package drill

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/switchboard-cc/switchboard/providers/fake"
	"github.com/switchboard-cc/switchboard/providers/routing"
)

// faulter plays the fault timeline. Vendor faults go through the fakes' fault
// switches (POST /dev/faults); faults that overlap on one provider stack up, the
// latest in force until it ends, then the one before it, then the provider's
// baseline (its healthy latency). Process faults go to the topology.
type faulter struct {
	sc   *Scenario
	pol  *routing.Policy
	dev  string
	topo *Topology // nil against an existing stack
	rec  *recorder
	hc   *http.Client

	mu       sync.Mutex
	active   map[string][]*fake.Fault // by provider, in the order they began
	baseline map[string]fake.Fault
	touched  map[string]bool
}

func newFaulter(sc *Scenario, pol *routing.Policy, target *Target, topo *Topology, rec *recorder) *faulter {
	f := &faulter{sc: sc, pol: pol, dev: strings.TrimRight(target.Dev, "/"), topo: topo, rec: rec,
		hc: &http.Client{Timeout: 10 * time.Second}, active: map[string][]*fake.Fault{}, baseline: map[string]fake.Fault{}, touched: map[string]bool{}}
	if lat := sc.Topology.NLULatency; lat > 0 {
		for _, name := range pol.ProviderNames() {
			if k := pol.Provider(name).Kind; k == routing.KindDialogflowCX || k == routing.KindOpenAI {
				f.baseline[name] = fake.Fault{Provider: name, Mode: fake.ModeSlow, LatencyMS: millis(lat)}
			}
		}
	}
	return f
}

func millis(d time.Duration) int { return max(1, int(d/time.Millisecond)) }

// setBaselines puts every provider in its healthy state, before the load starts.
func (f *faulter) setBaselines(ctx context.Context) error {
	for _, name := range sortedKeys(f.baseline) {
		if err := f.apply(ctx, name); err != nil {
			return err
		}
	}
	return nil
}

// fakeFault is how a vendor fault is set on a fake.
func (f *faulter) fakeFault(v Fault) fake.Fault {
	out := fake.Fault{Provider: v.Provider}
	switch v.Kind {
	case FaultOutage, FaultFlapping:
		switch v.How {
		case How5xx:
			out.Mode, out.Rate, out.Status = fake.ModeErrors, 1, v.Status
		case HowHang:
			out.Mode, out.LatencyMS = fake.ModeSlow, millis(maxFakeLatency)
		default:
			out.Mode = fake.ModeDown
		}
	case FaultSlow:
		out.Mode, out.LatencyMS = fake.ModeSlow, millis(v.Latency)
	case FaultInferenceSpike:
		out.Mode, out.LatencyMS = fake.ModeSlow, millis(time.Duration(v.Factor*float64(f.sc.Topology.NLULatency)))
	case FaultRateLimit:
		out.Mode, out.Rate, out.Status = fake.ModeErrors, v.Rate, http.StatusTooManyRequests
	case FaultAcceptThenHang:
		out.Mode, out.LatencyMS = fake.ModeAcceptThenHang, int(v.AnswerAfter/time.Millisecond)
	}
	return out
}

// push puts a fault in force on its provider; pop takes it out.
func (f *faulter) push(ctx context.Context, ff *fake.Fault) error {
	f.mu.Lock()
	f.active[ff.Provider] = append(f.active[ff.Provider], ff)
	f.touched[ff.Provider] = true
	f.mu.Unlock()
	return f.apply(ctx, ff.Provider)
}

func (f *faulter) pop(ctx context.Context, ff *fake.Fault) error {
	f.mu.Lock()
	f.active[ff.Provider] = slices.DeleteFunc(f.active[ff.Provider], func(x *fake.Fault) bool { return x == ff })
	f.mu.Unlock()
	return f.apply(ctx, ff.Provider)
}

// apply sets the provider's fake to what is in force now. It holds no lock over
// the call, so two applies may cross: each sends the state of its own moment, and
// the last one sent is the last state.
func (f *faulter) apply(ctx context.Context, provider string) error {
	f.mu.Lock()
	cur, ok := f.baseline[provider]
	if !ok {
		cur = fake.Fault{Provider: provider, Mode: fake.ModeOK}
	}
	if s := f.active[provider]; len(s) > 0 {
		cur = *s[len(s)-1]
	}
	f.mu.Unlock()
	b, err := json.Marshal(cur)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	var last error
	for range 3 {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, f.dev+"/dev/faults", bytes.NewReader(b))
		if err != nil {
			return err
		}
		resp, err := f.hc.Do(req)
		if err == nil {
			msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			return fmt.Errorf("POST /dev/faults %s: %s: %s", cur.Provider, resp.Status, strings.TrimSpace(string(msg)))
		}
		last = err
		time.Sleep(200 * time.Millisecond)
	}
	return fmt.Errorf("POST /dev/faults %s: %w", cur.Provider, last)
}

// heal takes every fault out, leaving each provider at its baseline, or, with
// clear, with no fault at all (an existing stack is left as it was found).
func (f *faulter) heal(ctx context.Context, clear bool) {
	f.mu.Lock()
	f.active = map[string][]*fake.Fault{}
	if clear {
		for name := range f.baseline {
			f.touched[name] = true
		}
		f.baseline = map[string]fake.Fault{}
	}
	names := sortedKeys(f.touched)
	f.mu.Unlock()
	for _, name := range names {
		if err := f.apply(ctx, name); err != nil {
			f.rec.note("could not heal %s: %v", name, err)
		}
	}
}

// run plays the timeline from start, and returns once every fault is over.
func (f *faulter) run(ctx context.Context, start time.Time) {
	var wg sync.WaitGroup
	for _, flt := range f.sc.Faults {
		wg.Go(func() {
			if !sleepUntil(ctx, start.Add(flt.At)) {
				return
			}
			switch {
			case flt.IsVendor():
				f.vendor(ctx, start, flt, flt.Label())
			case flt.Kind == FaultRestart:
				f.restart(ctx, flt.ProcessName(), flt.Signal == "term", flt.DownFor, flt.Label())
			case flt.Kind == FaultMaintenance:
				f.maintenance(ctx, start, flt)
			}
		})
	}
	wg.Wait()
}

// vendor holds a vendor fault from now until its end; a flapping one takes its
// provider down for the first half of every period.
func (f *faulter) vendor(ctx context.Context, start time.Time, v Fault, label string) {
	end := start.Add(v.At + v.For)
	ev := f.rec.fault(FaultEvent{Kind: v.Kind, Label: label, Start: time.Now()})
	ff := f.fakeFault(v)
	if v.Kind != FaultFlapping {
		err := f.push(ctx, &ff)
		sleepUntil(ctx, end)
		f.rec.faultEnd(ev, time.Now(), joinErrors(err, f.pop(ctx, &ff)))
		return
	}
	var errs []error
	for t := time.Now(); t.Before(end); t = t.Add(v.Period) {
		sleepUntil(ctx, t)
		g := ff // a fresh entry per flap
		errs = append(errs, f.push(ctx, &g))
		sleepUntil(ctx, minTime(t.Add(v.Period/2), end))
		errs = append(errs, f.pop(ctx, &g))
		if ctx.Err() != nil {
			break
		}
	}
	sleepUntil(ctx, end)
	f.rec.faultEnd(ev, time.Now(), joinErrors(errs...))
}

// restart kills a process of the topology and starts it again.
func (f *faulter) restart(ctx context.Context, name string, term bool, downFor time.Duration, label string) {
	ev := f.rec.fault(FaultEvent{Kind: FaultRestart, Label: label, Start: time.Now()})
	p := f.topo.Process(name)
	if p == nil {
		f.rec.faultEnd(ev, time.Now(), fmt.Errorf("no process %s", name))
		return
	}
	_, up, exits, err := f.topo.Restart(ctx, p, term, downFor)
	for _, why := range exits {
		f.rec.note("%s exited as it started again (%s), and was started again, as its supervisor would", name, why)
	}
	if up.IsZero() {
		up = time.Now()
	}
	f.rec.faultEnd(ev, up, err)
}

// maintenance restarts every worker in turn, gracefully (SIGTERM, as a deploy
// does), spread over the window, while the degraded vendor faults hold.
func (f *faulter) maintenance(ctx context.Context, start time.Time, m Fault) {
	ev := f.rec.fault(FaultEvent{Kind: FaultMaintenance, Label: m.Label(), Start: time.Now()})
	var degraded []*fake.Fault
	var errs []error
	for _, d := range m.Degraded {
		ff := f.fakeFault(d)
		degraded = append(degraded, &ff)
		errs = append(errs, f.push(ctx, &ff))
	}
	n := len(f.topo.Workers)
	for i, w := range f.topo.Workers {
		sleepUntil(ctx, start.Add(m.At+time.Duration(i)*m.For/time.Duration(n)))
		f.restart(ctx, w.Name, true, 0, "maintenance: SIGTERM "+w.Name+", started again")
	}
	sleepUntil(ctx, start.Add(m.End()))
	for _, ff := range degraded {
		errs = append(errs, f.pop(ctx, ff))
	}
	f.rec.faultEnd(ev, time.Now(), joinErrors(errs...))
}

// sleepUntil waits until t; false if ctx ended first.
func sleepUntil(ctx context.Context, t time.Time) bool {
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err() == nil
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return true
	case <-ctx.Done():
		return false
	}
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// joinErrors joins the errors that are not nil, each once.
func joinErrors(errs ...error) error {
	var msgs []string
	for _, e := range errs {
		if e != nil && !slices.Contains(msgs, e.Error()) {
			msgs = append(msgs, e.Error())
		}
	}
	if len(msgs) == 0 {
		return nil
	}
	return fmt.Errorf("%s", strings.Join(msgs, "; "))
}
