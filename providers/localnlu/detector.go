package localnlu

import (
	"context"
	"errors"

	"github.com/switchboard-cc/switchboard/internal/turn"
	"github.com/switchboard-cc/switchboard/providers"
	"github.com/switchboard-cc/switchboard/providers/nlu"
)

// DefaultName is the provider name a Detector reports when its Name is empty.
const DefaultName = "localnlu"

// Detector is the last-resort NLU: it matches queries against an Agent in process,
// with no vendor behind it. Safe for concurrent use.
type Detector struct {
	// Agent holds the cached flows (LoadAgent of the local file). Required.
	Agent *Agent
	// Name is the provider name in errors (default "localnlu").
	Name string
}

var (
	_ nlu.Detector                              = (*Detector)(nil)
	_ interface{ Probe(context.Context) error } = (*Detector)(nil)
)

// ProviderName is the provider name the detector reports.
func (d *Detector) ProviderName() string {
	if d.Name == "" {
		return DefaultName
	}
	return d.Name
}

// Probe reports the local NLU healthy: it runs in process, with no vendor to call.
// The one exception is a detector without an agent, whose every Detect fails with
// ErrUnavailable; its probe fails the same way, so that it is not brought back into
// rotation only to fail.
func (d *Detector) Probe(ctx context.Context) error {
	if d.Agent == nil {
		return providers.Classify(d.ProviderName(), providers.ErrUnavailable, 0,
			errors.New("no cached agent loaded"))
	}
	return nil
}

// Detect matches q.Text against the agent's training phrases. A match returns the
// intent, its reply and the match score as confidence. Without a match it returns
// turn.NoMatch with an empty Reply and zero confidence: the local NLU has no business
// improvising, so the workflow answers with its canned reply and escalates.
//
// Detect fails only when ctx is already done (ErrTimeout, like a vendor whose
// attempt ran out of time) or when the detector has no agent (ErrUnavailable, so
// failover carries on). It needs no session id.
func (d *Detector) Detect(ctx context.Context, q nlu.Query) (nlu.Result, error) {
	if err := ctx.Err(); err != nil {
		return nlu.Result{}, providers.Classify(d.ProviderName(), providers.ErrTimeout, 0, err)
	}
	if d.Agent == nil {
		return nlu.Result{}, providers.Classify(d.ProviderName(), providers.ErrUnavailable, 0,
			errors.New("no cached agent loaded"))
	}
	intent, reply, confidence, matched := d.Agent.Match(q.Text)
	if !matched {
		return nlu.Result{Intent: turn.NoMatch}, nil
	}
	return nlu.Result{Intent: intent, Reply: reply, Confidence: confidence}, nil
}
