package health

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

/*
Registry keeps one circuit breaker per provider and shares their states, and the
operators' overrides, with every other registry on the same bucket.

The router asks Allow before it spends an attempt's timeout on a provider; the
activities Record the result of every attempt; the API shows Snapshot and takes
Override; a policy reload calls Configure. Run does the background work: it watches
the bucket, publishes local transitions, and probes tripped providers.

Allow and Record work without Run (the breakers are then this instance's alone).
Registry is safe for concurrent use.
*/
type Registry interface {
	// Allow reports whether a call to provider may go out now. It is false while the
	// breaker is open (tripped, or forced open by an operator) and, while half-open,
	// once the permitted trial calls are out: a trial permit is taken by every Allow
	// that returns true in that state and given back by the next Record, so call it
	// just before the attempt it guards. An unknown provider is always allowed.
	Allow(provider string) bool

	// Available reports whether provider is in rotation: its breaker is not open
	// (tripped or forced). Unlike Allow it takes no trial permit, so a router may ask
	// about every candidate of a turn, including those it never tries.
	Available(provider string) bool

	// Record reports the result of one attempt on provider: err is nil or the
	// classified provider error (providers.ErrUnavailable, ErrTimeout, ErrRateLimited
	// count as failures; ErrRejected is an answer, so it counts as a success; a
	// context cancellation or an unclassified error is not counted). A success slower
	// than SlowCall counts as a failure, and so does ErrHedgedOver, as a slow call.
	// Results for unknown providers are dropped.
	Record(provider string, latency time.Duration, err error)

	// Latency is the p95 latency of provider's successful calls within its
	// Window (answers slower than SlowCall, failures and hedged-over calls left
	// out), recomputed at most every LatencyRefresh; 0 before any success. The
	// router derives a provider's default hedge delay from it.
	Latency(provider string) time.Duration

	// Snapshot returns every provider's Status, sorted by name.
	Snapshot() []Status

	// Override forces provider's breaker: mode "open" takes it out of rotation,
	// "closed" keeps it in rotation and stops counting its failures, "auto" hands the
	// decision back to the breaker (half-open after a forced open, closed with fresh
	// counts after a forced closed). The override is stored in the bucket, so every
	// instance honours it, and survives restarts. The error wraps ErrUnknownProvider
	// or ErrInvalidMode when the arguments are wrong.
	Override(ctx context.Context, provider string, mode string) error

	// Configure replaces the set of providers and their settings, as a policy reload
	// does. Providers whose settings did not change keep their breaker as it is;
	// providers whose settings changed keep their state (an open breaker starts a new
	// OpenFor) but restart their counts; new providers start closed, or in the state
	// the bucket holds for them; providers left out are dropped. Nothing changes if
	// any setting is invalid.
	Configure(settings map[string]BreakerSettings) error

	// Run watches the bucket and applies other instances' transitions and overrides,
	// publishes this instance's transitions, moves open breakers whose OpenFor has
	// elapsed to half-open, and probes open and half-open providers, each every
	// probe interval of its own (BreakerSettings.ProbeInterval, or
	// Options.ProbeInterval). It returns nil once ctx is done. Call it once.
	Run(ctx context.Context) error
}

// Prober checks that a provider is back, cheaply and without side effects (e.g. a
// GET of an account or agent resource). A nil error is a success; errors are
// classified like Record's, except that an unclassified error is a failure.
type Prober interface {
	Probe(ctx context.Context) error
}

// ProberFunc adapts a function to Prober.
type ProberFunc func(ctx context.Context) error

// Probe calls f.
func (f ProberFunc) Probe(ctx context.Context) error { return f(ctx) }

// Errors of Override and Configure. Test with errors.Is.
var (
	ErrUnknownProvider = errors.New("unknown provider")
	ErrInvalidMode     = errors.New("invalid override mode")
)

// LatencyRefresh is how long Latency serves the p95 it computed before it sorts
// the window again: it is asked at every turn.
const LatencyRefresh = time.Second

// Defaults for Options.
const (
	DefaultProbeInterval = 5 * time.Second
	DefaultProbeTimeout  = 5 * time.Second
)

// Options configure a Registry.
type Options struct {
	// Instance names this process in the bucket. It must be unique among the
	// processes sharing the bucket; the default is <hostname>-<random>.
	Instance string
	// ProbeInterval is how often open and half-open providers are probed, and how
	// often open breakers are checked for an elapsed OpenFor, for the providers whose
	// BreakerSettings.ProbeInterval is zero. Default 5 s.
	ProbeInterval time.Duration
	// ProbeTimeout bounds one probe. Default 5 s; a probe also ends within half
	// its provider's probe interval, so that one that hangs is over before the next
	// is due.
	ProbeTimeout time.Duration
	// Probers by provider name. A provider without a prober recovers through trial
	// calls after OpenFor only.
	Probers map[string]Prober
	// Settings by provider name: the providers the registry knows. A zero
	// BreakerSettings takes every default.
	Settings map[string]BreakerSettings
	// Logger receives transitions and sync failures. Default slog.Default().
	Logger *slog.Logger
	// Now is the clock of Since and of the call window. Tests only; default
	// time.Now. (The breakers' OpenFor timers use the wall clock.)
	Now func() time.Time
}

// validName keeps provider names usable as key tokens of the bucket.
var validName = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

type registry struct {
	kv            jetstream.KeyValue // nil: this instance's breakers only
	instance      string
	probeInterval time.Duration
	probeTimeout  time.Duration
	probers       map[string]Prober
	log           *slog.Logger
	now           func() time.Time
	running       atomic.Bool

	mu        sync.RWMutex
	providers map[string]*provider

	// reschedule wakes maintain when Configure changed the providers or their
	// probe intervals.
	reschedule chan struct{}

	dirtyMu sync.Mutex
	dirty   map[string]struct{} // providers whose state is to be published
	notify  chan struct{}

	// syncMu serialises writes to the bucket with the application of entries read
	// from it: a write's revision is known before its own echo is read, and an entry
	// is never applied while this instance is writing a newer one for the same key.
	syncMu       sync.Mutex
	lastRev      map[string]uint64 // highest revision written or applied, by key
	seenState    map[string]stateRecord
	seenOverride map[string]overrideRecord
	loaded       bool // the bucket's initial values have been read
}

var _ Registry = &registry{}

// NewRegistry builds a registry sharing state through kv (see EnsureBucket). A nil kv
// keeps every breaker and override local to this process.
func NewRegistry(kv jetstream.KeyValue, opts Options) (Registry, error) {
	if opts.ProbeInterval < 0 || opts.ProbeTimeout < 0 {
		return nil, errors.New("health: Options.ProbeInterval and ProbeTimeout must not be negative")
	}
	if opts.ProbeInterval == 0 {
		opts.ProbeInterval = DefaultProbeInterval
	}
	if opts.ProbeTimeout == 0 {
		opts.ProbeTimeout = DefaultProbeTimeout
	}
	if opts.Instance == "" {
		opts.Instance = defaultInstance()
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	settings, err := validateSettings(opts.Settings)
	if err != nil {
		return nil, err
	}
	for name, p := range opts.Probers {
		if _, ok := settings[name]; !ok {
			return nil, fmt.Errorf("health: Options.Probers names %q, which is not in Options.Settings", name)
		}
		if p == nil {
			return nil, fmt.Errorf("health: Options.Probers[%q] is nil", name)
		}
	}
	r := &registry{
		kv: kv, instance: opts.Instance, probeInterval: opts.ProbeInterval, probeTimeout: opts.ProbeTimeout,
		probers: maps.Clone(opts.Probers), log: opts.Logger.With("instance", opts.Instance), now: opts.Now,
		providers: map[string]*provider{}, dirty: map[string]struct{}{}, notify: make(chan struct{}, 1), reschedule: make(chan struct{}, 1),
		lastRev: map[string]uint64{}, seenState: map[string]stateRecord{}, seenOverride: map[string]overrideRecord{},
	}
	now := r.now()
	for name, s := range settings {
		r.providers[name] = newProvider(name, s, now, r.instance)
	}
	return r, nil
}

func defaultInstance() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "switchboard"
	}
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return host + "-" + hex.EncodeToString(b)
}

func validateSettings(in map[string]BreakerSettings) (map[string]BreakerSettings, error) {
	out := make(map[string]BreakerSettings, len(in))
	for name, s := range in {
		if !validName.MatchString(name) {
			return nil, fmt.Errorf("health: provider name %q must be letters, digits, '-' or '_'", name)
		}
		if err := s.Validate(); err != nil {
			return nil, fmt.Errorf("%w (provider %s)", err, name)
		}
		out[name] = s
	}
	return out, nil
}

func (r *registry) get(name string) *provider {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.providers[name]
}

func (r *registry) list() []*provider {
	r.mu.RLock()
	defer r.mu.RUnlock()
	ps := make([]*provider, 0, len(r.providers))
	for _, p := range r.providers {
		ps = append(ps, p)
	}
	return ps
}

func (r *registry) Allow(name string) bool {
	p := r.get(name)
	if p == nil {
		return true
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	ok := p.allow()
	r.local(p, "") // an open breaker whose OpenFor elapsed turned half-open
	return ok
}

func (r *registry) Available(name string) bool {
	p := r.get(name)
	if p == nil {
		return true
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	switch p.override {
	case ModeOpen:
		return false
	case ModeClosed:
		return true
	}
	return !p.cb.IsOpen()
}

func (r *registry) Record(name string, latency time.Duration, err error) {
	p := r.get(name)
	if p == nil {
		return
	}
	now := r.now()
	p.mu.Lock()
	defer p.mu.Unlock()
	res := classify(p.settings, latency, err)
	if res.outcome == ignored {
		return
	}
	p.window.add(sample{at: now, latency: latency, failed: res.failed, slow: res.slow}, p.settings.Window)
	if p.override != ModeAuto {
		return
	}
	r.local(p, p.record(now, res))
}

func (r *registry) Latency(name string) time.Duration {
	p := r.get(name)
	if p == nil {
		return 0
	}
	now := r.now()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.latencyAt.IsZero() || now.Sub(p.latencyAt) >= LatencyRefresh {
		p.latency, p.latencyAt = p.window.successP95(now, p.settings.Window), now
	}
	return p.latency
}

func (r *registry) Snapshot() []Status {
	now := r.now()
	ps := r.list()
	out := make([]Status, 0, len(ps))
	for _, p := range ps {
		p.mu.Lock()
		w := p.window.stats(now, p.settings.Window)
		s := Status{
			Name: p.name, State: p.state, Reason: p.reason, TripReason: p.tripReason, Since: p.since, Origin: p.origin,
			Override:  p.override,
			LastProbe: p.lastProbe, LastProbeResult: p.lastProbeResult, ProbeFailures: p.probeFailures,
			Window: p.settings.Window, Calls: w.calls, FailedCalls: w.failed, ErrorRate: w.errorRate, SlowCalls: w.slow, P95: w.p95,
			LastCall: w.last,
		}
		if p.override != ModeAuto {
			s.State, s.Reason, s.Since, s.Origin = State(p.override), "operator override", p.overrideSince, p.overrideBy
			s.TripReason = ""
			if p.override == ModeOpen {
				s.TripReason = "operator override"
			}
		}
		p.mu.Unlock()
		out = append(out, s)
	}
	slices.SortFunc(out, func(a, b Status) int { return strings.Compare(a.Name, b.Name) })
	return out
}

func (r *registry) Override(ctx context.Context, name string, mode string) error {
	m, err := ParseMode(mode)
	if err != nil {
		return fmt.Errorf("health: %w", err)
	}
	p := r.get(name)
	if p == nil {
		return fmt.Errorf("health: %w %q", ErrUnknownProvider, name)
	}
	rec := overrideRecord{Mode: m, Since: r.now(), Origin: r.instance}
	r.syncMu.Lock()
	defer r.syncMu.Unlock()
	if r.kv != nil {
		data, err := json.Marshal(rec)
		if err != nil {
			return err
		}
		rev, err := r.kv.Put(ctx, overrideKey(name), data)
		if err != nil {
			return fmt.Errorf("health: storing the override of %s: %w", name, err)
		}
		r.lastRev[overrideKey(name)] = max(r.lastRev[overrideKey(name)], rev)
	}
	r.seenOverride[name] = rec
	r.applyOverride(p, rec, true)
	return nil
}

func (r *registry) Configure(settings map[string]BreakerSettings) error {
	valid, err := validateSettings(settings)
	if err != nil {
		return err
	}
	now := r.now()
	var added []*provider
	r.mu.Lock()
	next := make(map[string]*provider, len(valid))
	for name, s := range valid {
		p, ok := r.providers[name]
		if !ok {
			p = newProvider(name, s, now, r.instance)
			added = append(added, p)
		} else {
			p.mu.Lock()
			switch {
			case p.settings.breaker() != s.breaker():
				p.reconfigure(s)
			case p.settings != s:
				p.settings = s // only the probe interval: the breaker stays as it is
			}
			p.mu.Unlock()
		}
		next[name] = p
	}
	r.providers = next
	r.mu.Unlock()
	select {
	case r.reschedule <- struct{}{}:
	default:
	}

	// A provider new to this instance takes what the bucket already says about it.
	r.syncMu.Lock()
	defer r.syncMu.Unlock()
	for _, p := range added {
		if rec, ok := r.seenState[p.name]; ok {
			r.applyState(p, rec)
		}
		if rec, ok := r.seenOverride[p.name]; ok {
			r.applyOverride(p, rec, false)
		}
	}
	return nil
}

func (r *registry) Run(ctx context.Context) error {
	if !r.running.CompareAndSwap(false, true) {
		return errors.New("health: Registry.Run called twice")
	}
	var wg sync.WaitGroup
	if r.kv != nil {
		wg.Go(func() { r.watch(ctx) })
		wg.Go(func() { r.publish(ctx) })
	}
	wg.Go(func() { r.maintain(ctx) })
	wg.Wait()
	return nil
}

// local settles a transition this instance made: it is logged and published. An
// empty reason is the breaker's own explanation. Requires p.mu.
func (r *registry) local(p *provider, reason string) {
	from := p.state
	if reason == "" {
		reason = p.transitionReason(stateOf(p.cb.State()))
	}
	if !p.settle(r.now(), reason, r.instance) {
		return
	}
	r.logTransition(p, from, "local")
	r.markDirty(p.name)
}

// remote settles a transition taken over from another instance: it is logged, not
// published again. Requires p.mu.
func (r *registry) remote(p *provider, since time.Time, reason, origin string) {
	from := p.state
	if p.settle(since, reason, origin) {
		r.logTransition(p, from, "remote")
	}
}

func (r *registry) logTransition(p *provider, from State, source string) {
	level := slog.LevelInfo
	if p.state == StateOpen {
		level = slog.LevelWarn
	}
	r.log.Log(context.Background(), level, "provider breaker "+string(p.state),
		"provider", p.name, "from", string(from), "reason", p.reason, "origin", p.origin, "source", source)
}

// applyOverride puts an override into force, from this instance (local) or from the
// bucket. Requires syncMu.
func (r *registry) applyOverride(p *provider, rec overrideRecord, local bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	prev := p.override
	if prev == rec.Mode {
		return
	}
	p.override, p.overrideSince, p.overrideBy = rec.Mode, rec.Since, rec.Origin
	reason := "operator override: " + string(rec.Mode)
	switch rec.Mode {
	case ModeOpen:
		p.cb.Open()
	case ModeClosed:
		p.cb.Close()
	case ModeAuto:
		reason = "operator override lifted"
		if prev == ModeOpen {
			p.cb.HalfOpen() // let trial calls decide
		} else {
			p.cb, p.rate = newBreaker(p.settings), newRateDetector(p.settings) // closed, fresh counts
		}
	}
	r.log.Info("provider override", "provider", p.name, "mode", string(rec.Mode), "origin", rec.Origin)
	if local {
		r.local(p, reason)
	} else {
		r.remote(p, rec.Since, reason, rec.Origin)
	}
}

// applyState takes over another instance's transition, unless this breaker made a
// later one: a write can reach the bucket well after the transition it reports (a
// "closed" published just as another instance tripped), and the latest transition,
// not the latest write, is the truth. The later state is then published again so
// that the bucket, and every instance, converge on it. Transitions are ordered by
// their Since, then by origin; the instances' clocks are assumed to agree to well
// under a second.
//
// An open state read among the initial values whose OpenFor has already elapsed (a
// trip long before this process started) is taken as half-open. Requires syncMu.
func (r *registry) applyState(p *provider, rec stateRecord) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.override != ModeAuto {
		return // the override rules; lifting it decides the state
	}
	if !rec.Since.After(p.changed) && !(rec.Since.Equal(p.changed) && rec.Origin > p.origin) {
		if rec.State != p.state {
			r.markDirty(p.name)
		}
		return
	}
	target, since, reason := rec.State, rec.Since, rec.Reason
	now := r.now()
	if target == StateOpen && !r.loaded && now.Sub(rec.Since) >= p.settings.OpenFor {
		target, since, reason = StateHalfOpen, now, fmt.Sprintf("%s; open for %v: trial calls allowed", rec.Reason, p.settings.OpenFor)
	}
	if stateOf(p.cb.State()) == target {
		return
	}
	switch target {
	case StateOpen:
		p.cb.Open()
	case StateHalfOpen:
		p.cb.HalfOpen()
	case StateClosed:
		p.cb.Close()
	default:
		return
	}
	r.remote(p, since, reason, rec.Origin)
	if rec.TripReason != "" && p.state != StateClosed {
		p.tripReason = rec.TripReason
	}
}
