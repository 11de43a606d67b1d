package routing

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/switchboard-cc/switchboard/internal/turn"
)

// Router routes turns with the current policy. It implements the workers' Router.
type Router struct {
	// Policy returns the policy in force, e.g. (*Watcher).Current.
	Policy func() *Policy
	// Down and ChannelDown report provider health, as in PlanInput. Optional.
	Down        func(provider string) bool
	ChannelDown func(provider, channel string) bool
	// Latency is the p95 latency of a provider's successful calls (health's
	// Registry.Latency), for the hedge delays. Optional.
	Latency func(provider string) time.Duration
}

// Route plans the turn with the current policy.
func (r *Router) Route(_ context.Context, in turn.RouteInput) (turn.Route, error) {
	var p *Policy
	if r.Policy != nil {
		p = r.Policy()
	}
	if p == nil {
		return turn.Route{}, errors.New("routing: no policy loaded")
	}
	if p.Channels[in.Channel] == nil {
		return turn.Route{}, fmt.Errorf("routing: channel %q is not in the routing policy %s", in.Channel, p.Source())
	}
	return p.Plan(PlanInput{Channel: in.Channel, Vendor: in.Vendor, Business: in.From, Down: r.Down, ChannelDown: r.ChannelDown}).Route(r.Latency), nil
}
