// Package canary runs the stack canary: one synthetic customer turn sent through the
// real stack (JetStream, the bridge, the conversation workflow, the NLU and CPaaS
// providers), reported hop by hop. GET /v1/health/stack runs it on demand; the
// Temporal Schedule "switchboard-canary" (kept by every worker,
// workers.KeepCanarySchedule) runs it every minute (workers.CanaryActivity).
//
// The canary turn is an ordinary turn marked Canary: it is routed by the same policy
// and served through the same breaker-guarded provider attempts as customer turns, so
// its failures count in the providers' circuit breakers exactly as a customer's
// would. Its conversation never escalates to a human and is never reported stuck; the
// canary reports what went wrong instead.
//
// It reads conversations through the function it is given (app hands it
// conversations.Store.Transcript); it must not import workflows, workers, api or
// app.
package canary

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/switchboard-cc/switchboard/internal/streams"
	"github.com/switchboard-cc/switchboard/internal/turn"
	"github.com/switchboard-cc/switchboard/providers/routing"
)

// ErrNotConfigured is returned when the routing policy in force has no canary
// section.
var ErrNotConfigured = errors.New("no canary configured in the policy")

// Defaults for Config.
const (
	DefaultTimeout        = 30 * time.Second
	DefaultPublishTimeout = 5 * time.Second
	diagnoseTimeout       = 5 * time.Second
)

// Config is what the canary needs: the policy, and NATS to publish its turn and hear
// the outcome.
type Config struct {
	// Policy returns the routing policy in force; its Canary section says who the
	// canary talks as, to whom, on which channel.
	Policy func() *routing.Policy
	NC     *nats.Conn
	JS     jetstream.JetStream
	// Timeout bounds a run, from the publish to the outcome (default 30 s).
	Timeout time.Duration
	// PublishTimeout bounds the JetStream publish (default 5 s).
	PublishTimeout time.Duration
	// Transcript, optional, reads a conversation from its workflow. When no outcome
	// arrives in time it tells whether the workflow accepted the turn at all.
	Transcript func(ctx context.Context, conversationID string) (turn.Transcript, error)
}

// Runner runs canary turns. It is safe for concurrent use: each run has its own turn.
type Runner struct{ cfg Config }

// New builds a Runner; zero durations take the defaults.
func New(cfg Config) *Runner {
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.PublishTimeout <= 0 {
		cfg.PublishTimeout = DefaultPublishTimeout
	}
	return &Runner{cfg: cfg}
}

// Target is the canary conversation the policy describes.
type Target struct {
	Business       string // the business's name
	To             string // the business address the canary writes to
	Channel        string
	Customer       string
	Text           string
	ConversationID string
}

// TargetOf resolves the policy's canary section. The business address written to is
// the business's address on the first CPaaS provider of the channel that has one.
// The conversation id is fixed per target, so the canary is one long-lived
// conversation workflow; it changes with the business address or the customer,
// because a conversation keeps the addresses it started with.
func TargetOf(p *routing.Policy) (Target, error) {
	if p == nil || p.Canary == nil {
		return Target{}, ErrNotConfigured
	}
	c := p.Canary
	b := p.Business(c.Business)
	if b == nil {
		return Target{}, fmt.Errorf("canary: business %q is not in the policy", c.Business)
	}
	var to string
	if ch := p.Channel(c.Channel); ch != nil {
		for _, name := range ch.CPaaS {
			if a := b.Addresses[name]; a != "" {
				to = a
				break
			}
		}
	}
	if to == "" {
		names := make([]string, 0, len(b.Addresses))
		for name := range b.Addresses {
			names = append(names, name)
		}
		slices.Sort(names)
		for _, name := range names {
			if a := b.Addresses[name]; a != "" {
				to = a
				break
			}
		}
	}
	if to == "" {
		return Target{}, fmt.Errorf("canary: business %q has no address", c.Business)
	}
	return Target{
		Business: c.Business, To: to, Channel: c.Channel, Customer: c.Customer, Text: c.Text,
		ConversationID: turn.CanaryConversationID(c.Channel, to, c.Customer),
	}, nil
}

// newTurnID is unique per run: turn.CanaryTurnID with a random nonce.
func newTurnID(now time.Time) string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return turn.CanaryTurnID(now, b)
}

// Run sends one canary turn and reports each hop. Hop failures are in the report
// (OK false), not in the error: the error is ErrNotConfigured, or a canary section
// that cannot be resolved. The report is filled as far as the run got in any case.
func (r *Runner) Run(ctx context.Context) (turn.CanaryReport, error) {
	start := time.Now()
	rep := turn.CanaryReport{StartedAt: start.UTC()}
	rep.Hops = turn.CanaryHops{
		JetStream: turn.CanaryHop{Name: turn.HopJetStream}, Bridge: turn.CanaryHop{Name: turn.HopBridge},
		NLU: turn.CanaryHop{Name: turn.HopNLU}, CPaaS: turn.CanaryHop{Name: turn.HopCPaaS},
	}
	if r.cfg.Policy == nil || r.cfg.NC == nil || r.cfg.JS == nil {
		rep.Error = "canary: Policy, NC and JS are required"
		return rep, errors.New(rep.Error)
	}
	pol := r.cfg.Policy()
	tg, err := TargetOf(pol)
	if err != nil {
		if errors.Is(err, ErrNotConfigured) {
			rep.Skipped = err.Error()
		} else {
			rep.Error = err.Error()
		}
		return rep, err
	}
	rep.Business, rep.To, rep.Channel, rep.Customer, rep.ConversationID = tg.Business, tg.To, tg.Channel, tg.Customer, tg.ConversationID
	t := turn.Turn{
		ID: newTurnID(start), ConversationID: tg.ConversationID, Vendor: turn.VendorAPI, Channel: tg.Channel,
		From: tg.Customer, To: tg.To, Text: tg.Text, ReceivedAt: start.UTC(), Canary: true,
	}
	rep.TurnID = t.ID
	deadline, cancel := context.WithTimeout(ctx, r.cfg.Timeout)
	defer cancel()

	// Subscribe before publishing, so a fast outcome cannot be missed.
	w, err := streams.WaitForOutcome(r.cfg.NC, t.ConversationID, t.ID)
	if err != nil {
		rep.Hops.JetStream.Error = "subscribe to the turn's outcome: " + err.Error()
		return finish(rep, start), nil
	}
	defer w.Close()
	pctx, pcancel := context.WithTimeout(deadline, r.cfg.PublishTimeout)
	_, dup, err := streams.PublishTurn(pctx, r.cfg.JS, t)
	pcancel()
	rep.Hops.JetStream.LatencyMS = ms(time.Since(start))
	switch {
	case err != nil:
		rep.Hops.JetStream.Error = "turn not stored: " + err.Error()
		return finish(rep, start), nil
	case dup:
		rep.Hops.JetStream.Error = "turn id " + t.ID + " was already in the stream: nothing new was stored"
		return finish(rep, start), nil
	}
	rep.Hops.JetStream.OK = true

	out, err := w.Wait(deadline)
	if err != nil {
		r.diagnose(ctx, &rep, pol, t)
		return finish(rep, start), nil
	}
	evaluate(&rep, pol, out)
	return finish(rep, start), nil
}

// evaluate fills the bridge, NLU and CPaaS hops from the turn's outcome.
func evaluate(rep *turn.CanaryReport, pol *routing.Policy, out turn.Outcome) {
	rep.Intent, rep.Status, rep.Reason = out.Intent, out.Status, out.Reason
	ch := pol.Channel(rep.Channel)

	b := &rep.Hops.Bridge
	b.OK = true
	if out.AcceptedAt.IsZero() {
		b.Note = "the workflow did not record when it accepted the turn"
	} else {
		// Two clocks: the canary's and the worker's. Skew is clamped, not reported.
		b.LatencyMS = ms(max(out.AcceptedAt.Sub(out.ReceivedAt), 0))
	}

	n := &rep.Hops.NLU
	n.Provider, n.LatencyMS = out.NLUProvider, ms(out.NLUDuration)
	p := pol.Provider(out.NLUProvider)
	switch {
	case out.NLUProvider == "":
		n.Error = "no NLU provider was asked: " + orElse(out.Reason, out.Status)
	case out.NLUProvider == "fallback":
		n.Error = "no NLU provider answered; the customer would get the fallback reply"
	case p != nil && p.Kind == routing.KindLocal:
		n.Error = "every remote NLU provider failed; the local NLU (" + out.NLUProvider + ") answered"
	default:
		n.OK = true
		if ch != nil && len(ch.NLU) > 0 && ch.NLU[0] != out.NLUProvider {
			n.Degraded = true
			n.Note = "answered by " + out.NLUProvider + ", not by the channel's first provider " + ch.NLU[0]
		}
	}

	c := &rep.Hops.CPaaS
	c.Provider, c.LatencyMS = out.CPaaSProvider, ms(out.CPaaSDuration)
	if out.Status == turn.StatusReplied {
		c.OK = true
		if ch != nil && len(ch.CPaaS) > 0 && ch.CPaaS[0] != out.CPaaSProvider {
			c.Degraded = true
			c.Note = "sent by " + out.CPaaSProvider + ", not by the channel's first provider " + ch.CPaaS[0]
		}
	} else {
		c.Error = "reply not sent: the turn is " + out.Status
		if out.Reason != "" {
			c.Error += ": " + out.Reason
		}
	}
}

// diagnose explains a run whose outcome did not arrive in time: it reads the
// conversation, when it can, to tell a turn the workflow never got from one it got
// but did not finish.
func (r *Runner) diagnose(ctx context.Context, rep *turn.CanaryReport, pol *routing.Policy, t turn.Turn) {
	waited := fmt.Sprintf("no outcome within %s", r.cfg.Timeout)
	rep.Hops.NLU.Error, rep.Hops.CPaaS.Error = "not reached: "+waited, "not reached: "+waited
	rep.Hops.NLU.NotReached, rep.Hops.CPaaS.NotReached = true, true
	if r.cfg.Transcript == nil {
		rep.Hops.Bridge.Error = waited
		return
	}
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), diagnoseTimeout)
	defer cancel()
	tr, err := r.cfg.Transcript(dctx, t.ConversationID)
	if err != nil {
		rep.Hops.Bridge.Error = waited + "; the conversation could not be read: " + err.Error()
		return
	}
	for _, o := range tr.Turns {
		if o.TurnID == t.ID {
			rep.Hops.NLU = turn.CanaryHop{Name: turn.HopNLU}
			rep.Hops.CPaaS = turn.CanaryHop{Name: turn.HopCPaaS}
			evaluate(rep, pol, o)
			rep.Error = "the turn was processed, but its outcome event did not arrive within " + r.cfg.Timeout.String()
			return
		}
	}
	if tr.Pending > 0 {
		rep.Hops.Bridge.OK = true
		rep.Hops.Bridge.Note = fmt.Sprintf("the conversation holds %d turn(s) not processed yet; latency unknown", tr.Pending)
		stuck := fmt.Sprintf("the workflow did not process the turn within %s", r.cfg.Timeout)
		rep.Hops.NLU.Error, rep.Hops.NLU.NotReached = stuck, false
		rep.Hops.CPaaS.Error = "not reached: " + stuck
		return
	}
	rep.Hops.Bridge.Error = waited + ": the conversation workflow has not accepted the turn (bridge, Temporal or the worker?)"
}

// finish sets the total and the overall verdict.
func finish(rep turn.CanaryReport, start time.Time) turn.CanaryReport {
	rep.TotalMS = ms(time.Since(start))
	var failed []string
	for _, h := range []*turn.CanaryHop{&rep.Hops.JetStream, &rep.Hops.Bridge, &rep.Hops.NLU, &rep.Hops.CPaaS} {
		if !h.OK {
			if h.Error == "" {
				h.Error, h.NotReached = "not reached", true
			}
			failed = append(failed, h.Name+": "+h.Error)
		}
	}
	if len(failed) > 0 {
		msg := strings.Join(failed, "; ")
		if rep.Error != "" {
			msg = rep.Error + "; " + msg
		}
		rep.Error = msg
	}
	rep.OK = len(failed) == 0 && rep.Error == ""
	return rep
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func orElse(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
