package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"runtime/pprof"
	"time"

	"github.com/switchboard-cc/switchboard/deploy"
	"github.com/switchboard-cc/switchboard/internal/devstack"
	"github.com/switchboard-cc/switchboard/internal/testmsg"
	"github.com/switchboard-cc/switchboard/providers/routing"
)

// Options are what Run needs besides the Config.
type Options struct {
	// Out receives the report; Progress receives progress lines and the stack's logs.
	Out, Progress io.Writer
	// CPUProfile, when set, is the file a CPU profile of the measured phases is
	// written to.
	CPUProfile string
	// MemProfile, when set, is the file a heap profile is written to at the end of
	// the memory phase, with every idle conversation open.
	MemProfile string
}

// Run starts the embedded dev stack in this process, runs the phases of cfg, prints
// the report to o.Out and stops the stack. A cancelled ctx stops everything; the
// report then holds the phases that finished.
func Run(ctx context.Context, cfg Config, o Options) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	if o.Out == nil {
		o.Out = os.Stdout
	}
	if o.Progress == nil {
		o.Progress = os.Stderr
	}
	progress := func(format string, args ...any) {
		fmt.Fprintf(o.Progress, "bench: "+format+"\n", args...)
	}
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.LogLevel))
	log := slog.New(slog.NewTextHandler(o.Progress, &slog.HandlerOptions{Level: level}))

	rep := &Report{Started: time.Now(), Config: cfg, LoadStart: loadAverage()}
	dc := devstack.Config{
		HTTPAddr: "127.0.0.1:0", TemporalPort: -1, NATSPort: -1, DisableUI: true, InMemory: cfg.InMemory,
	}
	switch {
	case cfg.InMemory:
		rep.Storage = "in memory (NATS memory storage, in-memory SQLite)"
	default:
		dir, err := os.MkdirTemp("", "switchboard-bench-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		dc.DataDir = dir
		rep.Storage = "fresh temp data dir (SQLite in WAL mode, JetStream file storage)"
	}

	progress("starting the embedded stack (%s)", rep.Storage)
	stackCtx, stopStack := context.WithCancel(ctx)
	ready := make(chan devstack.Ready, 1)
	done := make(chan error, 1)
	go func() {
		done <- devstack.Run(stackCtx, dc, log, func(r devstack.Ready) { ready <- r })
	}()
	stop := func() error {
		stopStack()
		select {
		case err := <-done:
			return err
		case <-time.After(60 * time.Second):
			return errors.New("the dev stack did not stop within 60s")
		}
	}
	var dev devstack.Ready
	select {
	case dev = <-ready:
	case err := <-done:
		return fmt.Errorf("dev stack did not start: %w", err)
	case <-time.After(3 * time.Minute):
		_ = stop()
		return errors.New("dev stack did not start within 3 minutes")
	case <-ctx.Done():
		_ = stop()
		return ctx.Err()
	}
	progress("stack ready: api %s, temporal %s", dev.API, dev.Temporal)

	err := runPhases(ctx, cfg, o, dev, rep, progress, log)
	rep.LoadEnd = loadAverage()
	rep.Write(o.Out)
	if serr := stop(); serr != nil && err == nil {
		err = fmt.Errorf("stopping the dev stack: %w", serr)
	}
	return err
}

func runPhases(ctx context.Context, cfg Config, o Options, dev devstack.Ready, rep *Report, progress func(string, ...any), log *slog.Logger) error {
	if o.CPUProfile != "" {
		f, err := os.Create(o.CPUProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	runID := randomID()
	conns := 2 * max(cfg.Concurrency, 64)
	w := &webhooks{
		api:     dev.API,
		signer:  testmsg.DevSigner(dev.PublicURL),
		hc:      newHTTPClient(conns),
		timeout: cfg.TurnTimeout,
	}
	defer w.hc.CloseIdleConnections()

	outs, err := collectOutcomes(dev.NATS)
	if err != nil {
		return fmt.Errorf("subscribe to the turn outcomes: %w", err)
	}
	defer outs.close()
	pol, err := routing.Parse(deploy.DevPolicy)
	if err != nil {
		return err
	}

	tr := newTracker(dev.Outbox)
	trCtx, stopTracker := context.WithCancel(ctx)
	trDone := make(chan struct{})
	go func() { defer close(trDone); tr.run(trCtx) }()
	defer func() { stopTracker(); <-trDone }()

	if cfg.runs(PhaseThroughput) {
		progress("throughput: %d turns over %d conversations, %d conversations in flight", cfg.Turns, cfg.Conversations, cfg.Concurrency)
		from := time.Now()
		t, err := throughput(ctx, cfg, w, tr)
		if err != nil {
			return err
		}
		t.Hedging = hedging(outs.between(from, time.Now()))
		rep.Throughput = &t
		progress("throughput: %.1f turns/s", t.All.Rate())
	}
	if cfg.runs(PhaseHalfLoad) {
		rate := rep.Throughput.All.Rate() / 2
		if rate <= 0 {
			return errors.New("half load: the throughput phase measured no rate")
		}
		progress("half load: %.1f turns/s for %s, open loop", rate, cfg.HalfLoadDuration)
		s, err := halfLoad(ctx, cfg, w, tr, rep.Throughput.customers, rate)
		if err != nil {
			return err
		}
		rep.HalfLoad = &s
	}
	if cfg.runs(PhaseFailover) {
		timeout := pol.Provider("twilio").AttemptTimeout
		progress("failover: %d conversations in flight; twilio hangs after %s for %s, then recovers", cfg.Concurrency, cfg.FailoverPhase, 2*cfg.FailoverPhase)
		f, err := failover(ctx, cfg, w, tr, dev.Faults, timeout)
		if err != nil {
			return err
		}
		rep.Failover = &f
	}
	if cfg.runs(PhaseHang) {
		progress("hang: %.0f turns/s over %d conversations; the primary NLU hangs after %s for %s, then recovers", HangRate, HangConversations, cfg.HangPhase, 2*cfg.HangPhase)
		h, err := hang(ctx, cfg, w, tr, dev.Faults, outs, pol)
		if err != nil {
			return err
		}
		rep.Hang = &h
	}
	stopTracker()
	<-trDone
	rep.Unexpected = tr.unexpectedReplies()

	if cfg.runs(PhaseBaseline) {
		progress("baseline: %d workflows, %d at a time, on task queue %s", cfg.Turns, cfg.Concurrency, BaselineTaskQueue)
		b, err := startBaseline(ctx, dev.Temporal, log)
		if err != nil {
			return err
		}
		s, err := b.run(ctx, cfg, runID)
		sent := len(b.outbox.List())
		b.close()
		if err != nil {
			return err
		}
		if sent < s.Turns {
			return fmt.Errorf("baseline: %d workflows completed but the fake Twilio holds only %d replies", s.Turns, sent)
		}
		rep.Baseline = &s
		progress("baseline: %.1f turns/s", s.Rate())
	}
	if cfg.runs(PhaseMemory) {
		progress("memory: opening %d idle conversations, %d webhooks in flight", cfg.IdleConversations, cfg.Concurrency)
		m, err := memory(ctx, cfg, w, dev.Outbox)
		if err != nil {
			return err
		}
		rep.Memory = &m
		if o.MemProfile != "" {
			if err := writeHeapProfile(o.MemProfile); err != nil {
				return err
			}
		}
	}
	return nil
}

func randomID() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// environment describes the machine for the report.
func environment() string {
	return fmt.Sprintf("%s %s/%s, %d CPUs (GOMAXPROCS %d)", runtime.Version(), runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), runtime.GOMAXPROCS(0))
}

// writeHeapProfile writes the heap profile as of the last GC.
func writeHeapProfile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
