package app

import (
	"context"

	"github.com/switchboard-cc/switchboard/providers/routing"
	"github.com/switchboard-cc/switchboard/workflows"
)

// policyRouter routes turns with the current policy (routing.Router), leaving out
// providers whose breaker is open, so a tripped provider costs no turn its timeout,
// and providers this process has no client for (added by a reload; they need a
// restart). When that leaves no CPaaS provider at all, it tries them all anyway:
// an open breaker is a prediction, a customer left in silence is a certainty.
type policyRouter struct {
	policy    func() *routing.Policy
	available func(provider string) bool // health: the breaker is not open
	has       func(provider string) bool // a client exists
}

func (r policyRouter) Route(ctx context.Context, in workflows.RouteInput) (workflows.Route, error) {
	healthy := routing.Router{Policy: r.policy, Down: func(p string) bool { return !r.has(p) || !r.available(p) }}
	route, err := healthy.Route(ctx, in)
	if err != nil || len(route.CPaaS) > 0 {
		return route, err
	}
	every := routing.Router{Policy: r.policy, Down: func(p string) bool { return !r.has(p) }}
	all, err := every.Route(ctx, in)
	route.CPaaS = all.CPaaS
	return route, err
}
