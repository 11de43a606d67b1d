package drill

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/switchboard-cc/switchboard/internal/turn"
	"github.com/switchboard-cc/switchboard/providers/fake"
	"github.com/switchboard-cc/switchboard/providers/routing"
)

// Options say where and how a drill runs.
type Options struct {
	// Binary is the switchboard binary the drill's own topology runs.
	Binary string
	// Dir receives the topology's data and logs (Dir/stack) and the reports.
	Dir string
	// Target is an existing stack to drill; nil starts the drill's own topology.
	Target *Target
	// Policy is the routing policy the stack runs, and PolicyData its file's
	// contents (for the drill's own topology; nil: the dev policy).
	Policy     *routing.Policy
	PolicyData []byte
	// Progress receives the progress line; Terminal redraws it in place every
	// second, else a line is written every ProgressEvery (default 10 s).
	Progress      io.Writer
	Terminal      bool
	ProgressEvery time.Duration
}

// Run runs the scenario: it starts the topology (or reaches the target), sets the
// vendors' baselines, plays the load and the fault timeline, waits for the stack to
// settle, collects what the stack did, checks it, and writes the reports into
// opt.Dir. An error means the drill itself could not run; a failed verdict is a
// Report whose Verdict.Pass is false.
func Run(ctx context.Context, sc *Scenario, opt Options) (*Report, error) {
	if err := os.MkdirAll(opt.Dir, 0o700); err != nil {
		return nil, err
	}
	target := opt.Target
	var topo *Topology
	p := newProgress(opt)
	if target == nil {
		p.say("starting the topology: NATS, Temporal, the fakes, %d worker(s), %d api(s) (logs in %s)",
			sc.Topology.Workers, sc.Topology.APIs, filepath.Join(opt.Dir, "stack", "logs"))
		var err error
		topo, err = StartTopology(ctx, opt.Binary, filepath.Join(opt.Dir, "stack"), opt.PolicyData, sc.Topology.Workers, sc.Topology.APIs)
		if err != nil {
			return nil, err
		}
		defer func() {
			p.say("stopping the topology")
			topo.Stop()
		}()
		target = &topo.Target
	}
	d := &drill{sc: sc, pol: opt.Policy, target: target, topo: topo, obs: newObserver(target), rec: &recorder{}, p: p}
	defer d.obs.close()
	return d.run(ctx, opt)
}

type drill struct {
	sc     *Scenario
	pol    *routing.Policy
	target *Target
	topo   *Topology
	obs    *observer
	rec    *recorder
	p      *progress
}

func (d *drill) run(ctx context.Context, opt Options) (*Report, error) {
	sc, rec := d.sc, d.rec
	rec.h.Scenario, rec.h.Agents = sc.Name, sc.Agents.Count
	if d.pol.Canary != nil {
		rec.h.CanaryCustomers = []string{d.pol.Canary.Customer}
	}
	faults := newFaulter(sc, d.pol, d.target, d.topo, rec)
	if err := faults.setBaselines(ctx); err != nil {
		return nil, fmt.Errorf("setting the vendors' baselines: %w", err)
	}
	load, err := newCustomers(sc, d.pol, d.target, rec, runNumber())
	if err != nil {
		return nil, err
	}
	rec.h.Conversations = load.conversations()

	// The watchers run until everything is collected: the desk's agents answer
	// escalations opened while the stack settles too.
	watch, stopWatching := context.WithCancel(ctx)
	var watchers sync.WaitGroup
	defer func() { stopWatching(); watchers.Wait() }()
	watchers.Go(func() { d.obs.pollBreakers(watch, rec) })
	if sc.Agents.Count > 0 && d.pol.Escalation != nil {
		a := &agents{cfg: sc.Agents, target: d.target, rec: rec, hc: d.obs.hc, api: d.obs.api}
		for _, q := range d.pol.Escalation.Queues {
			a.queues = append(a.queues, q.Name)
		}
		watchers.Go(func() { a.run(watch) })
	}

	start := time.Now()
	rec.h.Start = start
	d.p.start(start, sc, rec, d.obs)
	watchers.Go(func() { d.p.run(watch) })
	var timeline sync.WaitGroup
	timeline.Go(func() { faults.run(ctx, start) })
	load.run(ctx, start)
	rec.h.LoadEnd = minTime(start.Add(sc.Duration), time.Now())
	timeline.Wait()
	faults.heal(context.WithoutCancel(ctx), d.topo == nil)

	d.p.phase("settling")
	settled := d.settle(ctx, rec.h.LoadEnd.Add(sc.Settle))
	rec.h.Settled, rec.h.SettledAt = settled, time.Now()
	d.p.phase("collecting")
	d.collect(context.WithoutCancel(ctx))
	stopWatching()
	watchers.Wait()
	d.p.done()

	h := &rec.h
	v := Check(h)
	r := &Report{Scenario: sc.Name, Description: sc.Description, File: sc.File, Started: start,
		Target: d.describeTarget(), Verdict: v, Figures: figures(h, v), Settled: settled, Notes: h.Notes}
	if err := r.write(opt.Dir, h); err != nil {
		return r, err
	}
	return r, nil
}

func (d *drill) describeTarget() string {
	if d.topo != nil {
		return fmt.Sprintf("the drill's own topology: NATS, Temporal, the fakes, %d worker(s), %d api(s), each its own process", len(d.topo.Workers), len(d.topo.APIs))
	}
	return "an existing stack: api " + strings.Join(d.target.APIs, ", ") + ", fakes " + d.target.Dev
}

// settle waits until every turn owed an answer has one and nothing is in flight in
// the stack (for 3 s in a row, so that a late duplicate would be seen), or until
// deadline. It reports whether the stack settled.
func (d *drill) settle(ctx context.Context, deadline time.Time) bool {
	byConv := map[string][]TurnRecord{}
	var order []string
	for _, t := range d.rec.turns() {
		if _, ok := byConv[t.ConversationID]; !ok {
			order = append(order, t.ConversationID)
		}
		byConv[t.ConversationID] = append(byConv[t.ConversationID], t)
	}
	var quiet time.Time
	for {
		if d.answeredAll(ctx, byConv, &order) {
			busy, err := d.obs.inFlight(ctx)
			switch {
			case err != nil || busy:
				quiet = time.Time{}
			case quiet.IsZero():
				quiet = time.Now()
			case time.Since(quiet) >= 3*time.Second:
				return true
			}
		}
		if time.Now().After(deadline) || !sleepUntil(ctx, time.Now().Add(time.Second)) {
			return false
		}
	}
}

// answeredAll checks the conversations in order, dropping those whose every owed
// turn is answered, and stops at the first that is not.
func (d *drill) answeredAll(ctx context.Context, byConv map[string][]TurnRecord, order *[]string) bool {
	if len(*order) == 0 {
		return true
	}
	sends, err := d.obs.outbox(ctx)
	if err != nil {
		return false
	}
	d.p.answered.Store(int64(len(sends)))
	for len(*order) > 0 {
		id := (*order)[0]
		tr, err := d.obs.transcript(ctx, id)
		if err != nil {
			return false
		}
		var mine []fake.Sent
		for _, s := range sends {
			if strings.HasPrefix(s.IdempotencyKey, id+"/") {
				mine = append(mine, s)
			}
		}
		sub := &History{Turns: byConv[id], Sends: mine, Agents: d.rec.h.Agents, Desk: d.rec.deskEvents(),
			Transcripts: map[string]turn.Transcript{id: tr}, Conversations: []Conversation{{ID: id}}}
		if Check(sub).Counts.Unanswered > 0 {
			return false
		}
		*order = (*order)[1:]
	}
	return true
}

// collect reads what the stack did, once it has settled (or the settling ran out).
func (d *drill) collect(ctx context.Context) {
	h := &d.rec.h
	sends, err := d.obs.outbox(ctx)
	if err != nil {
		d.rec.note("the outbox could not be read: %v", err)
	}
	h.Sends = sends
	h.Transcripts, h.Unreadable = map[string]turn.Transcript{}, map[string]string{}
	sentTo := map[string]bool{}
	for _, t := range h.Turns {
		sentTo[t.ConversationID] = true
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	for _, cv := range h.Conversations {
		if !sentTo[cv.ID] {
			continue
		}
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			var tr turn.Transcript
			var err error
			for range 3 {
				if tr, err = d.obs.transcript(ctx, cv.ID); err == nil {
					break
				}
				time.Sleep(time.Second)
			}
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				h.Unreadable[cv.ID] = err.Error()
			} else {
				h.Transcripts[cv.ID] = tr
			}
		})
	}
	wg.Wait()
	stuck, problems, err := d.obs.stuck(ctx)
	if err != nil {
		d.rec.note("the stuck list could not be read: %v", err)
	}
	for _, p := range problems {
		d.rec.note("the stuck list is partial: %s", p)
	}
	h.Stuck = stuck
	// Unknown escalations stay nil: the checker then holds their absence against
	// nobody.
	esc, err := d.obs.escalations(ctx)
	switch {
	case err != nil:
		d.rec.note("escalations could not be read: %v", err)
		esc = nil
	case esc == nil:
		esc = []EscalationEvent{}
	}
	h.Escalations = esc
}

// progress is the line that says how the drill is going.
type progress struct {
	w        io.Writer
	terminal bool
	every    time.Duration

	mu       sync.Mutex
	startAt  time.Time
	sc       *Scenario
	rec      *recorder
	obs      *observer
	phaseNow string
	answered atomic.Int64
	drawn    bool
}

func newProgress(opt Options) *progress {
	every := opt.ProgressEvery
	if every <= 0 {
		every = 10 * time.Second
	}
	w := opt.Progress
	if w == nil {
		w = io.Discard
	}
	return &progress{w: w, terminal: opt.Terminal, every: every, phaseNow: "load"}
}

// say writes a line of its own.
func (p *progress) say(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.drawn {
		fmt.Fprintln(p.w)
		p.drawn = false
	}
	fmt.Fprintf(p.w, "drill: "+format+"\n", args...)
}

func (p *progress) start(at time.Time, sc *Scenario, rec *recorder, obs *observer) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.startAt, p.sc, p.rec, p.obs = at, sc, rec, obs
}

func (p *progress) phase(name string) {
	p.mu.Lock()
	p.phaseNow = name
	p.mu.Unlock()
	p.draw()
}

func (p *progress) run(ctx context.Context) {
	every := p.every
	if p.terminal {
		every = time.Second
	}
	t := time.NewTicker(every)
	defer t.Stop()
	outboxAt := time.Time{}
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if time.Since(outboxAt) >= 5*time.Second {
			if s, err := p.obs.outbox(ctx); err == nil {
				p.answered.Store(int64(len(s)))
			}
			outboxAt = time.Now()
		}
		p.draw()
	}
}

func (p *progress) draw() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.rec == nil {
		return
	}
	sent, accepted, active := p.rec.progress()
	el := time.Since(p.startAt)
	var clock string
	if p.phaseNow == "load" {
		clock = fmt.Sprintf("%s / %s", clockText(el), clockText(p.sc.Duration))
	} else {
		clock = fmt.Sprintf("%s / %s + settle ≤ %s", clockText(el), clockText(p.sc.Duration), clockText(p.sc.Settle))
	}
	fault := "none"
	if len(active) > 0 {
		fault = strings.Join(active, "; ")
	}
	line := fmt.Sprintf("[%s] %s  turns %d sent, %d accepted, %d replies  fault: %s", clock, p.phaseNow, sent, accepted, p.answered.Load(), fault)
	if p.terminal {
		const width = 160
		if len(line) > width {
			line = line[:width-1] + "…"
		}
		fmt.Fprintf(p.w, "\r\033[K%s", line)
		p.drawn = true
		return
	}
	fmt.Fprintln(p.w, "drill: "+line)
}

func (p *progress) done() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.drawn {
		fmt.Fprintln(p.w)
		p.drawn = false
	}
}

func clockText(d time.Duration) string {
	d = d.Round(time.Second)
	return fmt.Sprintf("%d:%02d", int(d.Minutes()), int(d.Seconds())%60)
}
