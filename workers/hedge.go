package workers

import (
	"context"
	"fmt"
	"sync"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/switchboard-cc/switchboard/workflows"
)

// Hedges are the worker's side of hedged NLU attempts (workflows/hedge.go): the
// bound on hedges in flight to each provider, and the gate through which a failing
// attempt lets the hedge waiting beside it call at once instead of after its
// delay. The two attempts of a pair are local activities of one workflow task, so
// they run in this process; a pair that does not (a regular activity) just waits
// the delay. The zero value is ready, without a bound.
type Hedges struct {
	// Max is the number of hedges that may be in flight to a provider
	// (hedge_max_in_flight); 0 or less: unbounded. Optional.
	Max func(provider string) int

	mu       sync.Mutex
	inFlight map[string]int
	gates    map[string]chan struct{}
}

// acquire takes a hedge slot of provider, or fails with ErrTypeHedgeRefused when
// its bound is reached. release gives it back.
func (h *Hedges) acquire(provider string) (release func(), err error) {
	limit := 0
	if h.Max != nil {
		limit = h.Max(provider)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if limit > 0 && h.inFlight[provider] >= limit {
		return nil, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("hedge refused: %s has %d hedges in flight (hedge_max_in_flight)", provider, limit), workflows.ErrTypeHedgeRefused, nil)
	}
	if h.inFlight == nil {
		h.inFlight = map[string]int{}
	}
	h.inFlight[provider]++
	return func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		if h.inFlight[provider]--; h.inFlight[provider] <= 0 {
			delete(h.inFlight, provider)
		}
	}, nil
}

// gateKey names attempt n of turn seq of the workflow run of ctx's activity.
func gateKey(ctx context.Context, seq, n int) string {
	info := activity.GetInfo(ctx)
	return fmt.Sprintf("%s/%s/%d/%d", info.WorkflowExecution.ID, info.WorkflowExecution.RunID, seq, n)
}

// wait holds a hedge for its delay, or until the attempt it runs beside failed
// (open), or until ctx ends: then it returns ctx's error.
func (h *Hedges) wait(ctx context.Context, in workflows.DetectInput) error {
	key := gateKey(ctx, in.Seq, in.HedgeOf)
	gate := make(chan struct{})
	h.mu.Lock()
	if h.gates == nil {
		h.gates = map[string]chan struct{}{}
	}
	h.gates[key] = gate
	h.mu.Unlock()
	defer func() {
		h.mu.Lock()
		if h.gates[key] == gate {
			delete(h.gates, key)
		}
		h.mu.Unlock()
	}()
	t := time.NewTimer(in.Delay)
	defer t.Stop()
	select {
	case <-t.C:
	case <-gate:
	case <-ctx.Done():
		return ctx.Err()
	}
	return nil
}

// open lets the hedge waiting beside the failed attempt in call now.
func (h *Hedges) open(ctx context.Context, in workflows.DetectInput) {
	key := gateKey(ctx, in.Seq, in.Attempt)
	h.mu.Lock()
	defer h.mu.Unlock()
	if gate, ok := h.gates[key]; ok {
		close(gate)
		delete(h.gates, key)
	}
}
