package workers

import (
	"context"
	"time"

	"github.com/switchboard-cc/switchboard/internal/turn"
	"github.com/switchboard-cc/switchboard/providers/routing"
)

// PolicyRouter routes turns with the current policy (routing.Router), leaving out
// providers whose breaker is open, so a tripped provider costs no turn its timeout,
// and providers this process has no client for (added by a reload; they need a
// restart). When that leaves no CPaaS provider at all, it routes every CPaaS
// provider of the policy anyway, in policy order, marked Forced so that the
// breaker check lets the attempt out: an open breaker is a prediction, a customer
// left in silence is a certainty. A provider an operator forced open stays out:
// that is a decision, not a prediction.
type PolicyRouter struct {
	Policy    func() *routing.Policy
	Available func(provider string) bool // health: the breaker is not open
	Has       func(provider string) bool // a client exists
	// OperatorOpen reports a provider an operator forced open. Optional.
	OperatorOpen func(provider string) bool
	// Latency is the p95 of a provider's successful calls, from which the hedge
	// delay of an NLU provider without hedge_after derives. Optional: without it
	// such a provider hedges after routing.HedgeFloor.
	Latency func(provider string) time.Duration
}

func (r PolicyRouter) Route(ctx context.Context, in turn.RouteInput) (turn.Route, error) {
	healthy := routing.Router{Policy: r.Policy, Latency: r.Latency, Down: func(p string) bool { return !r.Has(p) || !r.Available(p) }}
	route, err := healthy.Route(ctx, in)
	if err != nil || len(route.CPaaS) > 0 {
		return route, err
	}
	every := routing.Router{Policy: r.Policy, Down: func(p string) bool {
		return !r.Has(p) || (r.OperatorOpen != nil && r.OperatorOpen(p))
	}}
	all, err := every.Route(ctx, in)
	for i := range all.CPaaS {
		all.CPaaS[i].Forced = true
	}
	route.CPaaS = all.CPaaS
	return route, err
}
