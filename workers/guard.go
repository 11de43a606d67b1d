package workers

import (
	"context"
	"errors"
	"time"

	"github.com/switchboard-cc/switchboard/internal/metrics"
	"github.com/switchboard-cc/switchboard/providers"
	"github.com/switchboard-cc/switchboard/providers/health"
	"github.com/switchboard-cc/switchboard/providers/routing"
)

// Guard is the one place a provider attempt passes through: it is refused without a
// call while the provider's breaker refuses (unless the attempt is forced), and
// otherwise timed, reclassified with the policy's per-provider status overrides and
// recorded, so that breakers and metrics see what the workflow sees.
type Guard struct {
	Health health.Registry
	// Policy returns the policy in force (its classify overrides). Optional.
	Policy  func() *routing.Policy
	Metrics *metrics.Metrics
}

// guarded makes one attempt on provider name for the activity of ctx. force skips
// the breaker check: the router routed the attempt although the breaker is open
// (every CPaaS breaker of the turn is open, and a prediction must not leave a
// customer in silence).
//
// An attempt whose activity was cancelled (the workflow took another attempt's
// answer) says nothing about the provider, and is not recorded, unless it had
// waited slowAfter (its hedge delay, when positive) for the provider: then it is
// recorded as hedged over, a slow call.
func guarded[T any](ctx context.Context, g *Guard, name string, force bool, slowAfter time.Duration, call func() (T, error)) (T, error) {
	if g == nil {
		return call()
	}
	m := g.metrics()
	if g.Health != nil && !force && !g.Health.Allow(name) {
		m.Attempt(name, "breaker_open", 0)
		var zero T
		return zero, errBreakerOpen(name)
	}
	start := time.Now()
	r, err := call()
	err = g.reclassify(name, err)
	d := time.Since(start)
	recorded, outcome := err, attemptOutcome(err)
	if errors.Is(ctx.Err(), context.Canceled) {
		recorded, outcome = nil, "cancelled"
		if slowAfter > 0 && d >= slowAfter {
			recorded, outcome = health.ErrHedgedOver, "hedged_over"
		}
	}
	if g.Health != nil && (recorded != nil || outcome != "cancelled") {
		g.Health.Record(name, d, recorded)
	}
	m.Attempt(name, outcome, d)
	return r, err
}

func (g *Guard) metrics() *metrics.Metrics {
	if g.Metrics == nil {
		return metrics.Discard()
	}
	return g.Metrics
}

// reclassify applies the policy's per-provider status overrides (classify) to a
// classified failure. Errors are still classified once, at the provider boundary;
// the policy only re-maps the kind of an HTTP status.
func (g *Guard) reclassify(provider string, err error) error {
	var pe *providers.Error
	if err == nil || g.Policy == nil || !errors.As(err, &pe) || pe.Status < 100 || pe.Status > 599 {
		return err
	}
	pol := g.Policy()
	if pol == nil {
		return err
	}
	p := pol.Provider(provider)
	if p == nil || (p.Kind != routing.KindTwilio && p.Kind != routing.KindVonage && p.Kind != routing.KindOpenAI) {
		return err
	}
	if kind := p.ErrorKind(pe.Status); kind != pe.Kind {
		c := *pe
		c.Kind = kind
		return &c
	}
	return err
}

func attemptOutcome(err error) string {
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, providers.ErrRejected):
		return "rejected"
	case errors.Is(err, providers.ErrRateLimited):
		return "rate_limited"
	case errors.Is(err, providers.ErrTimeout):
		return "timeout"
	case providers.DeliveryUnknown(err):
		return "delivery_unknown"
	default:
		return "unavailable"
	}
}

// errBreakerOpen fails an attempt that the breaker refused (open, or half-open with
// every trial call out) without calling the vendor. It is not recorded as a failure
// of the provider, and the workflow fails over as from any unavailable provider.
func errBreakerOpen(name string) error {
	return providers.Classify(name, providers.ErrUnavailable, 0, errors.New("circuit breaker open: not called"))
}
