// Package app wires Switchboard's pieces into a running service: the HTTP API, the
// JetStream bridge and the Temporal worker, against a NATS server and a Temporal
// frontend given by address. A process runs the API role, the worker role or both
// (Config.Roles): `switchboard api` and `switchboard worker` run one each against
// external clusters, `switchboard serve` runs both, and `switchboard dev` runs both on
// an embedded stack (see dev.go).
//
// It is the composition root: it may import every package of the project but cmd;
// nothing but cmd/switchboard, internal/bench and the end-to-end tests imports it.
package app

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"slices"
	"sync"
	"time"

	enumspb "go.temporal.io/api/enums/v1"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
	"golang.org/x/time/rate"

	"github.com/switchboard-cc/switchboard/api"
	"github.com/switchboard-cc/switchboard/internal/metrics"
	"github.com/switchboard-cc/switchboard/internal/streams"
	"github.com/switchboard-cc/switchboard/internal/turn"
	"github.com/switchboard-cc/switchboard/providers/health"
	"github.com/switchboard-cc/switchboard/providers/routing"
	"github.com/switchboard-cc/switchboard/providers/vonage"
	"github.com/switchboard-cc/switchboard/workers"
	"github.com/switchboard-cc/switchboard/workers/bridge"
	"github.com/switchboard-cc/switchboard/workers/stuck"
	"github.com/switchboard-cc/switchboard/workflows"
)

// Roles say which parts of the service a process runs.
type Roles uint8

const (
	// RoleAPI serves the HTTP API: vendor webhooks, turns, conversations, the agent
	// desk, providers, policy, metrics and health.
	RoleAPI Roles = 1 << iota
	// RoleWorker runs the Temporal worker, the JetStream bridge, the provider clients
	// and their health probes, with an HTTP listener for /healthz, /readyz and
	// /metrics only.
	RoleWorker
	// RolesAll runs both in one process. It is what a zero Roles means.
	RolesAll = RoleAPI | RoleWorker
)

// Has reports whether r includes role.
func (r Roles) Has(role Roles) bool { return r&role == role }

func (r Roles) String() string {
	switch r {
	case RoleAPI:
		return "api"
	case RoleWorker:
		return "worker"
	case RolesAll:
		return "api+worker"
	}
	return fmt.Sprintf("Roles(%d)", uint8(r))
}

// Config is everything the service needs.
type Config struct {
	// Roles this process runs; zero means RolesAll.
	Roles Roles

	HTTPAddr  string // where the API (the worker role alone: health and metrics) listens
	PublicURL string // the base URL vendors call; webhook signatures are computed over it

	NATSURL string
	// NATSCredsFile is a NATS credentials file (JWT and NKey seed); NATSCAFile a CA
	// bundle that makes the connection require TLS.
	NATSCredsFile string
	NATSCAFile    string

	TemporalAddr string
	Namespace    string
	TaskQueue    string
	// TemporalTLS dials Temporal over TLS (TemporalCAFile adds a CA bundle);
	// TemporalAPIKey authenticates, as Temporal Cloud wants.
	TemporalTLS    bool
	TemporalCAFile string
	TemporalAPIKey string
	// TemporalCompression is the gRPC compression of requests to Temporal: "gzip"
	// (the default: it saves bandwidth across a network) or "none" (cheaper in CPU
	// on loopback, as in dev).
	TemporalCompression string

	// PolicyFile is the routing policy, reloaded when it changes.
	PolicyFile string
	// Connections say how to reach the providers the policy names.
	Connections Connections
	// VonageSignatureSecret verifies Vonage inbound webhooks.
	VonageSignatureSecret string
	// Instance names this process in shared breaker state (default: host-random).
	Instance string
	// ReplayRate bounds the turns re-driven and replies re-sent per second by the
	// replays of stuck conversations this process runs (default 5).
	ReplayRate float64
	// RedriveInterval is how often the worker role re-sends the replies no CPaaS
	// provider could send, once a provider is in rotation again (stuck.Conversations
	// Redrive; default 5s, negative: never).
	RedriveInterval time.Duration
	// SendClaimGrace is how long past its attempt's deadline a reply's send-ledger
	// claim still holds (workers.SendLedger.Grace; zero keeps its default).
	SendClaimGrace time.Duration

	Streams  streams.Config
	Bridge   bridge.Config
	Worker   workers.WorkerConfig
	Workflow workflows.Options
	// API configures the API role. Its Tokens also guard the worker role's /metrics.
	API api.Config

	// Dev is mounted under /dev/ when set.
	Dev http.Handler
}

// Validate fills defaults and reports the first bad field.
func (c *Config) Validate() error {
	if c.Roles == 0 {
		c.Roles = RolesAll
	}
	if c.Roles&^RolesAll != 0 {
		return fmt.Errorf("unknown roles %s", c.Roles)
	}
	if c.Namespace == "" {
		c.Namespace = "default"
	}
	if c.TaskQueue == "" {
		c.TaskQueue = "switchboard-conversations"
	}
	switch {
	case c.PolicyFile == "":
		return errors.New("PolicyFile (--policy) is required")
	case c.HTTPAddr == "":
		return errors.New("HTTPAddr (--http-addr) is required")
	case c.NATSURL == "":
		return errors.New("NATSURL (--nats-url) is required")
	case c.TemporalAddr == "":
		return errors.New("TemporalAddr (--temporal-address) is required")
	}
	if c.SendClaimGrace < 0 {
		return errors.New("SendClaimGrace (--send-claim-grace) must not be negative")
	}
	switch c.TemporalCompression {
	case "":
		c.TemporalCompression = "gzip"
	case "gzip", "none":
	default:
		return fmt.Errorf("TemporalCompression (--temporal-compression) must be gzip or none, not %q", c.TemporalCompression)
	}
	if c.ReplayRate == 0 {
		c.ReplayRate = DefaultReplayRate
	}
	if c.ReplayRate < 0 {
		return errors.New("ReplayRate (--replay-rate) must not be negative")
	}
	if c.RedriveInterval == 0 {
		c.RedriveInterval = DefaultRedriveInterval
	}
	if c.RedriveInterval > 0 && c.RedriveInterval < 100*time.Millisecond {
		return fmt.Errorf("RedriveInterval (--redrive-interval) must be at least 100ms, or negative to turn it off, not %s", c.RedriveInterval)
	}
	// Both roles hand turns to workflows: the worker's bridge, the API's replays.
	c.Bridge.TaskQueue, c.Worker.TaskQueue = c.TaskQueue, c.TaskQueue
	if c.Workflow.MaxPending < 0 || c.Workflow.MaxPending > 10_000 {
		return fmt.Errorf("Workflow.MaxPending (--max-pending-turns) must be between 1 and 10000, not %d", c.Workflow.MaxPending)
	}
	c.Bridge.Workflow = c.Workflow
	parts := []interface{ Validate() error }{&c.Streams, &c.Bridge}
	if c.Roles.Has(RoleWorker) {
		parts = append(parts, &c.Worker)
	}
	if c.Roles.Has(RoleAPI) {
		if c.PublicURL == "" {
			// Run replaces the placeholder with the bound address once it listens.
			c.PublicURL = "http://" + c.HTTPAddr
		}
		c.API.PublicURL = c.PublicURL
		c.API.TwilioAuthToken = c.Connections.Twilio.AuthToken
		c.API.VonageSignatureSecret = c.VonageSignatureSecret
		c.API.Dev = c.Dev
		parts = append(parts, &c.API)
	} else if err := checkOpsTokens(c.API.Tokens); err != nil {
		return err
	}
	for _, v := range parts {
		if err := v.Validate(); err != nil {
			return err
		}
	}
	if c.Roles.Has(RoleAPI) {
		// Remember accepted webhook tokens as long as the API would accept them.
		c.Streams.WebhookTokenTTL = vonage.ReplayWindow(c.API.VonageMaxTokenAge)
	}
	return nil
}

// Ready describes a started service.
type Ready struct {
	Roles     Roles
	HTTPAddr  string // the bound address of the API, or of the worker role's health listener
	PublicURL string // the base URL webhook signatures are computed over (API role)
}

// Run runs the roles of cfg until ctx is cancelled, then shuts them down: the API
// stops taking turns first, the bridge finishes the turns in hand, the worker drains.
// onReady is called once the process serves: turns are accepted (API role), the
// worker and the bridge are started (worker role).
func Run(ctx context.Context, cfg Config, log *slog.Logger, onReady func(Ready)) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	runAPI, runWorker := cfg.Roles.Has(RoleAPI), cfg.Roles.Has(RoleWorker)
	m := metrics.New()
	cfg.Bridge.Metrics, cfg.API.Metrics = m, m
	var rl reloads
	policy, err := routing.Watch(ctx, cfg.PolicyFile, func(p *routing.Policy) {
		m.PolicyReloads.WithLabelValues("ok").Inc()
		m.PolicyValid.Set(1)
		rl.changed(p, cfg.PolicyFile, log)
	}, func(err error) {
		m.PolicyReloads.WithLabelValues("refused").Inc()
		m.PolicyValid.Set(0)
		log.Error("routing policy refused; the last good policy stays in force", "file", cfg.PolicyFile, "error", err)
	})
	if err != nil {
		return fmt.Errorf("routing policy: %w", err)
	}
	defer policy.Close()

	natsOpts := []nats.Option{nats.Name("switchboard"), nats.MaxReconnects(-1), nats.ReconnectWait(time.Second)}
	if cfg.NATSCredsFile != "" {
		natsOpts = append(natsOpts, nats.UserCredentials(cfg.NATSCredsFile))
	}
	if cfg.NATSCAFile != "" {
		natsOpts = append(natsOpts, nats.RootCAs(cfg.NATSCAFile))
	}
	nc, err := nats.Connect(cfg.NATSURL, natsOpts...)
	if err != nil {
		return fmt.Errorf("connect to NATS at %s: %w", cfg.NATSURL, err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	if err := streams.Ensure(ctx, js, cfg.Streams); err != nil {
		return fmt.Errorf("set up JetStream: %w", err)
	}
	held, err := bridge.NewHeldTurns(ctx, js)
	if err != nil {
		return err
	}
	cfg.Bridge.Held = held
	cfg.Bridge.StuckAfter = func() time.Duration { return policy.Current().StuckAfter }
	healthKV, err := health.EnsureBucket(ctx, js, health.BucketConfig{Replicas: cfg.Streams.Replicas, MemoryStorage: cfg.Streams.MemoryStorage})
	if err != nil {
		return fmt.Errorf("set up provider health bucket: %w", err)
	}

	topts := client.Options{
		HostPort:  cfg.TemporalAddr,
		Namespace: cfg.Namespace,
		Logger:    sdklog.NewStructuredLogger(log.With("component", "temporal-sdk")),
	}
	topts.MetricsHandler = m.TemporalHandler() // the SDK's own metrics, on /metrics
	if err := temporalConnection(&topts, cfg); err != nil {
		return err
	}
	tc, err := client.DialContext(ctx, topts)
	if err != nil {
		return fmt.Errorf("connect to Temporal at %s: %w", cfg.TemporalAddr, err)
	}
	defer tc.Close()

	// The bridge is run by the worker role; replays of stuck conversations, in either
	// role, hand turns over through it too.
	br, err := bridge.New(js, tc, cfg.Bridge, log.With("component", "bridge"))
	if err != nil {
		return err
	}
	conversations := api.TemporalConversations{Client: tc, Namespace: cfg.Namespace}
	stuckConvs := &stuck.Conversations{
		JS: js, Held: held, Temporal: tc, Namespace: cfg.Namespace, StuckAfter: cfg.Bridge.StuckAfter,
		Deliver: br.Deliver, Transcript: conversations.Transcript, Pace: rate.NewLimiter(rate.Limit(cfg.ReplayRate), 1),
		Metrics: m, Log: log.With("component", "stuck"),
	}

	// The provider clients, and so the probes, belong to the worker role. The API
	// role's registry follows the shared breaker state for /v1/providers.
	var set *ProviderSet
	var probers map[string]health.Prober
	if runWorker {
		if set, err = BuildProviders(ctx, policy.Current(), cfg.Connections); err != nil {
			return err
		}
		defer set.Close()
		cfg.Connections.LogEndpoints(log, policy.Current())
		probers = set.probers
	}
	reg, err := health.NewRegistry(healthKV, health.Options{
		Instance: cfg.Instance, Probers: probers, Settings: breakerSettings(policy.Current()),
		ProbeInterval: policy.Current().Defaults.ProbeInterval, Logger: log.With("component", "health"),
	})
	if err != nil {
		return err
	}
	hctx, stopHealth := context.WithCancel(context.WithoutCancel(ctx))
	defer stopHealth()
	go func() {
		if err := reg.Run(hctx); err != nil && hctx.Err() == nil {
			log.Error("provider health stopped", "error", err)
		}
	}()
	rl.set(reg, set)
	m.Register(metrics.NewGaugeFunc("switchboard_breaker_open", "1 while the provider's circuit breaker is open or half-open, by provider and state.", []string{"provider", "state"},
		func(emit func(float64, ...string)) {
			for _, st := range reg.Snapshot() {
				v := 0.0
				if st.State != health.StateClosed {
					v = 1
				}
				emit(v, st.Name, string(st.State))
			}
		}))

	canaryActivity, canaryRun := canaryParts(policy.Current, nc, js, conversations, m, log)
	identity := "" // the worker's, checked by /readyz
	var bridgeFault func() error
	if runWorker {
		ledgerKV, err := js.KeyValue(ctx, turn.SendsBucket)
		if err != nil {
			return err
		}
		ledger := workers.NewSendLedger(ledgerKV)
		if cfg.SendClaimGrace > 0 {
			ledger.Grace = cfg.SendClaimGrace
		}
		acts := &workers.Activities{
			Router:    workers.PolicyRouter{Policy: policy.Current, Available: reg.Available, Has: set.Has, OperatorOpen: operatorOpen(reg)},
			Providers: set,
			Guard:     &workers.Guard{Health: reg, Policy: policy.Current, Metrics: m},
			Ledger:    ledger, Events: js, Metrics: m, Logger: log.With("component", "activities"),
			Canary: canaryActivity,
		}
		m.Register(metrics.NewGaugeFunc("switchboard_bridge_lag", "Turns in JetStream not yet handed to Temporal (pending) or handed but not acked (ack_pending).", []string{"kind"},
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

		if cfg.Worker.Identity == "" {
			host, _ := os.Hostname()
			cfg.Worker.Identity = fmt.Sprintf("switchboard@%s/%d", host, os.Getpid())
			if cfg.Instance != "" {
				cfg.Worker.Identity += "/" + cfg.Instance
			}
		}
		w, err := workers.NewWorker(tc, cfg.Worker, acts)
		if err != nil {
			return err
		}
		if err := w.Start(); err != nil {
			return fmt.Errorf("start Temporal worker: %w", err)
		}
		defer w.Stop()
		keepCanarySchedule(ctx, tc, cfg.TaskQueue, log)

		router := acts.Router
		stuckConvs.Deliverable = func(ctx context.Context, tr turn.Transcript) bool {
			route, err := router.Route(ctx, turn.RouteInput{Vendor: tr.Vendor, Channel: tr.Channel, From: tr.Business})
			return err == nil && slices.ContainsFunc(route.CPaaS, func(c turn.CPaaSCandidate) bool { return !c.Forced })
		}
		bctx, stopBridge := context.WithCancel(context.WithoutCancel(ctx))
		var wg sync.WaitGroup
		if cfg.RedriveInterval > 0 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				stuckConvs.Redrive(bctx, cfg.RedriveInterval)
			}()
		}
		wg.Add(2)
		go func() {
			defer wg.Done()
			if err := br.Run(bctx); err != nil {
				log.Error("bridge stopped", "error", err)
			}
		}()
		go func() {
			defer wg.Done()
			stuckConvs.Sweep(bctx, sweepInterval(policy.Current().StuckAfter))
		}()
		defer func() { stopBridge(); wg.Wait() }()
		identity = cfg.Worker.Identity
		bridgeFault = br.Fault
		m.Register(metrics.NewGaugeFunc("switchboard_bridge_config_fault", "1 while Temporal refuses turns as misconfigured (InvalidArgument, PermissionDenied, unknown namespace): they wait in JetStream.", nil,
			func(emit func(float64, ...string)) {
				v := 0.0
				if br.Fault() != nil {
					v = 1
				}
				emit(v)
			}))
	}

	publicURLDefaulted := cfg.PublicURL == "http://"+cfg.HTTPAddr
	lis, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.HTTPAddr, err)
	}
	defer lis.Close()
	ready := readiness(nc, tc, cfg.TaskQueue, identity, bridgeFault)
	handler := probeHandler(ready, cfg.API.Tokens, m) // the worker role's listener
	if runAPI {
		if publicURLDefaulted {
			cfg.API.PublicURL = "http://" + lis.Addr().String() // a :0 port is known only now
		}
		cfg.API.Providers = api.ProvidersHandler(reg)
		cfg.API.Ready = ready
		cfg.API.Policy = policy
		cfg.API.Stuck = stuckConvs
		cfg.API.Canary = canaryRun
		srv, err := api.New(cfg.API, nc, js, conversations, log.With("component", "api"))
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
		log.Warn("HTTP shutdown", "error", err)
	}
	return nil
}

// DefaultReplayRate is the default of Config.ReplayRate.
const DefaultReplayRate = 5

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

// DefaultRedriveInterval is the default of Config.RedriveInterval.
const DefaultRedriveInterval = 5 * time.Second

// sweepInterval is how often a worker looks for stuck conversations: a quarter of
// stuck_after, between 5s and a minute.
func sweepInterval(stuckAfter time.Duration) time.Duration {
	return min(max(stuckAfter/4, 5*time.Second), time.Minute)
}

// reloads applies a reloaded policy to what the process built from the first one.
type reloads struct {
	mu     sync.Mutex
	health health.Registry
	have   *ProviderSet
}

func (r *reloads) set(reg health.Registry, s *ProviderSet) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.health, r.have = reg, s
}

func (r *reloads) changed(p *routing.Policy, file string, log *slog.Logger) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.health == nil {
		return // still starting: the registry is built from the newest policy
	}
	if err := r.health.Configure(breakerSettings(p)); err != nil {
		log.Error("routing policy reloaded, but its breaker settings were refused", "file", file, "error", err)
	}
	for _, name := range p.ProviderNames() {
		if r.have != nil && !r.have.Has(name) {
			log.Warn("routing policy names a provider this process has no client for; restart to add it", "provider", name)
		}
	}
	for _, w := range p.Warnings() {
		log.Warn("routing policy: "+w.Msg, "field", w.Path, "file", file)
	}
	log.Info("routing policy reloaded", "file", file)
}

// readiness checks what a turn needs from this process: NATS connected, Temporal
// answering, and, when the process runs a worker (identity is set), that worker
// among the task queue's pollers and its bridge without a configuration fault
// (bridgeFault, when set).
func readiness(nc *nats.Conn, tc client.Client, taskQueue, identity string, bridgeFault func() error) func(context.Context) error {
	return func(ctx context.Context) error {
		if !nc.IsConnected() {
			return fmt.Errorf("NATS: %s", nc.Status())
		}
		if bridgeFault != nil {
			if err := bridgeFault(); err != nil {
				return fmt.Errorf("bridge: %w", err)
			}
		}
		if _, err := tc.CheckHealth(ctx, &client.CheckHealthRequest{}); err != nil {
			return fmt.Errorf("Temporal: %w", err)
		}
		if identity == "" {
			return nil // the API role: turns go to JetStream, any worker takes them
		}
		resp, err := tc.DescribeTaskQueue(ctx, taskQueue, enumspb.TASK_QUEUE_TYPE_WORKFLOW)
		if err != nil {
			return fmt.Errorf("Temporal task queue %s: %w", taskQueue, err)
		}
		for _, p := range resp.GetPollers() {
			if p.GetIdentity() == identity {
				return nil
			}
		}
		return fmt.Errorf("the worker is not polling task queue %s yet", taskQueue)
	}
}

// temporalConnection applies the TLS, API-key and compression settings to the
// Temporal client.
func temporalConnection(o *client.Options, cfg Config) error {
	if cfg.TemporalTLS || cfg.TemporalCAFile != "" || cfg.TemporalAPIKey != "" {
		tlsCfg := &tls.Config{MinVersion: tls.VersionTLS12}
		if cfg.TemporalCAFile != "" {
			pem, err := os.ReadFile(cfg.TemporalCAFile)
			if err != nil {
				return fmt.Errorf("Temporal CA file: %w", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return fmt.Errorf("Temporal CA file %s holds no PEM certificate", cfg.TemporalCAFile)
			}
			tlsCfg.RootCAs = pool
		}
		o.ConnectionOptions.TLS = tlsCfg
	}
	if cfg.TemporalAPIKey != "" {
		o.Credentials = client.NewAPIKeyStaticCredentials(cfg.TemporalAPIKey)
	}
	if cfg.TemporalCompression == "none" {
		o.ConnectionOptions.GrpcCompression = &client.GrpcCompressionNone{}
	}
	return nil
}
