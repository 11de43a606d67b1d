package app

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.temporal.io/sdk/client"
	"golang.org/x/time/rate"

	"github.com/switchboard-cc/switchboard/api"
	"github.com/switchboard-cc/switchboard/internal/conversations"
	"github.com/switchboard-cc/switchboard/internal/metrics"
	"github.com/switchboard-cc/switchboard/internal/streams"
	"github.com/switchboard-cc/switchboard/internal/turn"
	"github.com/switchboard-cc/switchboard/providers/health"
	"github.com/switchboard-cc/switchboard/providers/routing"
	"github.com/switchboard-cc/switchboard/workers"
	"github.com/switchboard-cc/switchboard/workers/bridge"
	"github.com/switchboard-cc/switchboard/workers/stuck"
)

// Run runs the roles of cfg until ctx is cancelled, then shuts them down: the API
// stops taking turns first, the bridge finishes the turns in hand, the worker drains.
// onReady is called once the process serves: turns are accepted (API role), the
// worker and the bridge are started (worker role).
func Run(ctx context.Context, cfg Config, log *slog.Logger, onReady func(Ready)) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	p := &process{cfg: cfg, log: log, m: metrics.New()}
	p.cfg.Bridge.Metrics, p.cfg.API.Metrics = p.m, p.m
	defer p.close()
	steps := []func(context.Context) error{p.watchPolicy, p.connectNATS, p.connectTemporal, p.buildConversations}
	if cfg.Roles.Has(RoleWorker) {
		steps = append(steps, p.buildProviders)
	}
	steps = append(steps, p.startHealth)
	if cfg.Roles.Has(RoleWorker) {
		steps = append(steps, p.startWorker, p.startBridge)
	}
	for _, step := range steps {
		if err := step(ctx); err != nil {
			return err
		}
	}
	return p.serve(ctx, onReady)
}

// process is one running service: what Run builds, step by step, and takes down in
// the reverse order when it returns.
type process struct {
	cfg Config
	log *slog.Logger
	m   *metrics.Metrics

	policy  *routing.Watcher
	reloads reloads
	nc      *nats.Conn
	js      jetstream.JetStream
	tc      client.Client

	store  conversations.Store
	bridge *bridge.Bridge // the worker role runs it; replays, in either role, hand turns over through it
	stuck  *stuck.Conversations
	canary *workers.CanaryActivity
	// canaryRun runs the stack canary on demand (GET /v1/health/stack).
	canaryRun func(context.Context) (turn.CanaryReport, error)

	providers *ProviderSet // the worker role's provider clients; nil in the API role
	health    health.Registry
	acts      *workers.Activities

	// identity is the worker's, whose polling /readyz checks; bridgeFault reports
	// the bridge's configuration fault. Both are unset without the worker role.
	identity    string
	bridgeFault func() error

	undo []func()
}

// onClose has f run when Run returns, before what was set up earlier is undone.
func (p *process) onClose(f func()) { p.undo = append(p.undo, f) }

func (p *process) close() {
	for i := len(p.undo) - 1; i >= 0; i-- {
		p.undo[i]()
	}
}

// watchPolicy loads the routing policy and follows its file.
func (p *process) watchPolicy(ctx context.Context) error {
	file, m, log := p.cfg.PolicyFile, p.m, p.log
	policy, err := routing.Watch(ctx, file, func(pol *routing.Policy) {
		m.PolicyReloads.WithLabelValues("ok").Inc()
		m.PolicyValid.Set(1)
		p.reloads.changed(pol, file, log)
	}, func(err error) {
		m.PolicyReloads.WithLabelValues("refused").Inc()
		m.PolicyValid.Set(0)
		log.Error("routing policy refused; the last good policy stays in force", "file", file, "error", err)
	})
	if err != nil {
		return fmt.Errorf("routing policy: %w", err)
	}
	p.policy = policy
	p.onClose(func() { policy.Close() })
	return nil
}

// connectNATS connects to NATS and makes sure of the streams and buckets every
// process shares.
func (p *process) connectNATS(ctx context.Context) error {
	opts := []nats.Option{nats.Name("switchboard"), nats.MaxReconnects(-1), nats.ReconnectWait(time.Second)}
	if p.cfg.NATSCredsFile != "" {
		opts = append(opts, nats.UserCredentials(p.cfg.NATSCredsFile))
	}
	if p.cfg.NATSCAFile != "" {
		opts = append(opts, nats.RootCAs(p.cfg.NATSCAFile))
	}
	nc, err := nats.Connect(p.cfg.NATSURL, opts...)
	if err != nil {
		return fmt.Errorf("connect to NATS at %s: %w", p.cfg.NATSURL, err)
	}
	p.nc = nc
	p.onClose(nc.Close)
	if p.js, err = jetstream.New(nc); err != nil {
		return err
	}
	if err := streams.Ensure(ctx, p.js, p.cfg.Streams); err != nil {
		return fmt.Errorf("set up JetStream: %w", err)
	}
	return nil
}

// connectTemporal dials Temporal as `switchboard setup` does, with the SDK's own
// metrics on /metrics.
func (p *process) connectTemporal(ctx context.Context) error {
	topts, err := TemporalClientOptions(p.cfg, p.log)
	if err != nil {
		return err
	}
	topts.MetricsHandler = p.m.TemporalHandler()
	tc, err := client.DialContext(ctx, topts)
	if err != nil {
		return fmt.Errorf("connect to Temporal at %s: %w", p.cfg.TemporalAddr, err)
	}
	p.tc = tc
	p.onClose(tc.Close)
	return nil
}

// buildConversations builds what both roles use to hand turns to conversations and
// read them: the bridge, the conversation store, the stuck finder and the canary.
func (p *process) buildConversations(ctx context.Context) error {
	held, err := bridge.NewHeldTurns(ctx, p.js)
	if err != nil {
		return err
	}
	p.cfg.Bridge.Held = held
	p.cfg.Bridge.StuckAfter = func() time.Duration { return p.policy.Current().StuckAfter }
	if p.bridge, err = bridge.New(p.js, p.tc, p.cfg.Bridge, p.log.With("component", "bridge")); err != nil {
		return err
	}
	p.store = conversations.Store{Client: p.tc, Namespace: p.cfg.Namespace}
	p.stuck = &stuck.Conversations{
		JS: p.js, Held: held, Temporal: p.tc, Namespace: p.cfg.Namespace, StuckAfter: p.cfg.Bridge.StuckAfter,
		Deliver: p.bridge.Deliver, Transcript: p.store.Transcript, Pace: rate.NewLimiter(rate.Limit(p.cfg.ReplayRate), 1),
		Metrics: p.m, Log: p.log.With("component", "stuck"),
	}
	p.canary, p.canaryRun = canaryParts(p.policy.Current, p.nc, p.js, p.store, p.m, p.log)
	return nil
}

// buildProviders builds the worker role's provider clients, and so its probes.
func (p *process) buildProviders(ctx context.Context) error {
	set, err := BuildProviders(ctx, p.policy.Current(), p.cfg.Connections)
	if err != nil {
		return err
	}
	p.providers = set
	p.onClose(set.Close)
	p.cfg.Connections.LogEndpoints(p.log, p.policy.Current())
	return nil
}

// startHealth starts the provider health registry: the worker role's probes and
// breakers, shared through NATS; the API role follows the shared state for
// /v1/providers.
func (p *process) startHealth(ctx context.Context) error {
	kv, err := health.EnsureBucket(ctx, p.js, health.BucketConfig{Replicas: p.cfg.Streams.Replicas, MemoryStorage: p.cfg.Streams.MemoryStorage})
	if err != nil {
		return fmt.Errorf("set up provider health bucket: %w", err)
	}
	var probers map[string]health.Prober
	if p.providers != nil {
		probers = p.providers.probers
	}
	pol := p.policy.Current()
	reg, err := health.NewRegistry(kv, health.Options{
		Instance: p.cfg.Instance, Probers: probers, Settings: breakerSettings(pol),
		ProbeInterval: pol.Defaults.ProbeInterval, Logger: p.log.With("component", "health"),
	})
	if err != nil {
		return err
	}
	p.health = reg
	hctx, stop := context.WithCancel(context.WithoutCancel(ctx))
	p.onClose(stop)
	go func() {
		if err := reg.Run(hctx); err != nil && hctx.Err() == nil {
			p.log.Error("provider health stopped", "error", err)
		}
	}()
	p.reloads.set(reg, p.providers)
	p.m.Register(metrics.NewGaugeFunc("switchboard_breaker_open", "1 while the provider's circuit breaker is open or half-open, by provider and state.", []string{"provider", "state"},
		func(emit func(float64, ...string)) {
			for _, st := range reg.Snapshot() {
				v := 0.0
				if st.State != health.StateClosed {
					v = 1
				}
				emit(v, st.Name, string(st.State))
			}
		}))
	return nil
}

// startWorker starts the Temporal worker with the activities, and keeps the
// canary's schedule.
func (p *process) startWorker(ctx context.Context) error {
	ledgerKV, err := p.js.KeyValue(ctx, turn.SendsBucket)
	if err != nil {
		return err
	}
	ledger := workers.NewSendLedger(ledgerKV)
	if p.cfg.SendClaimGrace > 0 {
		ledger.Grace = p.cfg.SendClaimGrace
	}
	p.acts = &workers.Activities{
		Router:    workers.PolicyRouter{Policy: p.policy.Current, Available: p.health.Available, Has: p.providers.Has, OperatorOpen: operatorOpen(p.health), Latency: p.health.Latency},
		Providers: p.providers,
		Guard:     &workers.Guard{Health: p.health, Policy: p.policy.Current, Metrics: p.m},
		Ledger:    ledger, Events: p.js, Metrics: p.m, Logger: p.log.With("component", "activities"),
		Canary: p.canary,
	}
	p.acts.Hedges.Max = func(provider string) int {
		if pr := p.policy.Current().Provider(provider); pr != nil {
			return pr.HedgeMaxInFlight
		}
		return 0
	}
	if p.cfg.Worker.Identity == "" {
		host, _ := os.Hostname()
		p.cfg.Worker.Identity = fmt.Sprintf("switchboard@%s/%d", host, os.Getpid())
		if p.cfg.Instance != "" {
			p.cfg.Worker.Identity += "/" + p.cfg.Instance
		}
	}
	w, err := workers.NewWorker(p.tc, p.cfg.Worker, p.acts)
	if err != nil {
		return err
	}
	if err := w.Start(); err != nil {
		return fmt.Errorf("start Temporal worker: %w", err)
	}
	p.onClose(w.Stop)
	p.identity = p.cfg.Worker.Identity
	workers.KeepCanarySchedule(ctx, p.tc, p.cfg.TaskQueue, p.log)
	return nil
}

// startBridge runs the bridge from JetStream to the workflows, the sweep for stuck
// conversations and the redrive of unsent replies, with their gauges.
func (p *process) startBridge(ctx context.Context) error {
	js, br, router := p.js, p.bridge, p.acts.Router
	p.m.Register(metrics.NewGaugeFunc("switchboard_bridge_lag", "Turns in JetStream not yet handed to Temporal (pending) or handed but not acked (ack_pending).", []string{"kind"},
		func(emit func(float64, ...string)) {
			ictx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			pending, ackPending, err := streams.BridgeLag(ictx, js)
			if err != nil {
				return
			}
			emit(float64(pending), "pending")
			emit(float64(ackPending), "ack_pending")
		}))
	p.stuck.Deliverable = func(ctx context.Context, tr turn.Transcript) bool {
		route, err := router.Route(ctx, turn.RouteInput{Vendor: tr.Vendor, Channel: tr.Channel, From: tr.Business})
		return err == nil && slices.ContainsFunc(route.CPaaS, func(c turn.CPaaSCandidate) bool { return !c.Forced })
	}
	bctx, stop := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	if p.cfg.RedriveInterval > 0 {
		wg.Go(func() { p.stuck.Redrive(bctx, p.cfg.RedriveInterval) })
	}
	wg.Go(func() {
		if err := br.Run(bctx); err != nil {
			p.log.Error("bridge stopped", "error", err)
		}
	})
	wg.Go(func() { p.stuck.Sweep(bctx, sweepInterval(p.policy.Current().StuckAfter)) })
	p.onClose(func() { stop(); wg.Wait() })
	p.bridgeFault = br.Fault
	p.m.Register(metrics.NewGaugeFunc("switchboard_bridge_config_fault", "1 while Temporal refuses turns as misconfigured (InvalidArgument, PermissionDenied, unknown namespace): they wait in JetStream.", nil,
		func(emit func(float64, ...string)) {
			v := 0.0
			if br.Fault() != nil {
				v = 1
			}
			emit(v)
		}))
	return nil
}

// serve serves the process's HTTP listener until ctx is cancelled: the whole API
// with the API role, else the worker role's probes and metrics.
func (p *process) serve(ctx context.Context, onReady func(Ready)) error {
	cfg := &p.cfg
	publicURLDefaulted := cfg.PublicURL == "http://"+cfg.HTTPAddr
	lis, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.HTTPAddr, err)
	}
	defer lis.Close()
	ready := readiness(p.nc, p.tc, cfg.TaskQueue, p.identity, p.bridgeFault)
	handler := probeHandler(ready, cfg.API.Tokens, p.m)
	if cfg.Roles.Has(RoleAPI) {
		if publicURLDefaulted {
			cfg.API.PublicURL = "http://" + lis.Addr().String() // a :0 port is known only now
		}
		cfg.API.Providers = api.ProvidersHandler(p.health)
		cfg.API.Ready = ready
		cfg.API.Policy = p.policy
		cfg.API.Stuck = p.stuck
		cfg.API.Canary = p.canaryRun
		srv, err := api.New(cfg.API, p.nc, p.js, p.store, p.log.With("component", "api"))
		if err != nil {
			return err
		}
		handler = srv.Handler()
	}
	hs := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      cfg.API.MaxWait + 15*time.Second,
		IdleTimeout:       2 * time.Minute,
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- hs.Serve(lis) }()
	if onReady != nil {
		onReady(Ready{Roles: cfg.Roles, HTTPAddr: lis.Addr().String(), PublicURL: cfg.API.PublicURL})
	}
	select {
	case <-ctx.Done():
	case err := <-serveErr:
		return fmt.Errorf("HTTP server: %w", err)
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil {
		p.log.Warn("HTTP shutdown", "error", err)
	}
	return nil
}

// operatorOpen reports the providers an operator forced open.
func operatorOpen(reg health.Registry) func(string) bool {
	return func(name string) bool {
		for _, st := range reg.Snapshot() {
			if st.Name == name {
				return st.Override == health.ModeOpen
			}
		}
		return false
	}
}

// sweepInterval is how often a worker looks for stuck conversations: a quarter of
// stuck_after, between 5s and a minute.
func sweepInterval(stuckAfter time.Duration) time.Duration {
	return min(max(stuckAfter/4, 5*time.Second), time.Minute)
}
