package workflows

import (
	"fmt"
	"slices"
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/switchboard-cc/switchboard/internal/turn"
)

// A conversation is stuck when work it owes a customer made no progress and only an
// operator can move it on: a turn whose reply no CPaaS provider could send, an
// escalation no queue acknowledged before the last SLA ran out, or a turn waiting in
// JetStream that the workflow never got (the stuck sweeper finds those and tells the
// workflow with SignalHeld). A stuck conversation shows SwitchboardStatus="stuck"
// and does not close when idle. UpdateReplay moves it on.
const (
	// UpdateReplay sends the unanswered replies again (same idempotency keys, so a
	// reply that did leave is not sent twice) and re-opens a flagged escalation on
	// its first queue.
	UpdateReplay = "replay"
	// SignalHeld tells the workflow which of its turns wait in JetStream.
	SignalHeld = "stuck.held"
	// maxUnanswered bounds the replies a stuck conversation keeps for a replay.
	maxUnanswered = 100
)

// StatusStuck is the SwitchboardStatus of a stuck conversation.
const StatusStuck = "stuck"

// HeldTurn is a turn of the conversation that waits in JetStream.
type HeldTurn struct {
	TurnID   string    `json:"turn_id"`
	Since    time.Time `json:"since"`    // when it was published
	Sequence uint64    `json:"sequence"` // its stream sequence
	Detail   string    `json:"detail"`   // why the bridge could not deliver it
}

// ReplayRequest is the body of UpdateReplay.
type ReplayRequest struct {
	By string `json:"by"` // who asked, for the log
	// SendUnknown sends replies of unknown delivery that the vendor cannot settle.
	SendUnknown bool `json:"send_unknown,omitempty"`
}

// ReplayResult says what a replay did in the workflow.
type ReplayResult struct {
	// Resent are the outcomes of the replies sent again, in turn order.
	Resent []turn.Outcome `json:"resent,omitempty"`
	// Reopened is the escalation put back on its first queue, if any.
	Reopened string `json:"reopened,omitempty"`
}

func (c *conversation) setStuckHandlers(ctx workflow.Context) error {
	workflow.Go(ctx, func(ctx workflow.Context) {
		ch := workflow.GetSignalChannel(ctx, SignalHeld)
		for {
			var held []HeldTurn
			ch.Receive(ctx, &held)
			c.hold(ctx, held)
		}
	})
	return workflow.SetUpdateHandlerWithOptions(ctx, UpdateReplay, c.replay,
		workflow.UpdateHandlerOptions{Validator: c.validateReplay})
}

// stuck describes what the conversation is stuck on, or nil.
func (c *conversation) stuck() *turn.Stuck {
	if c.Conversation.Canary {
		return nil
	}
	s := turn.Stuck{ConversationID: c.Conversation.ID}
	for _, src := range []string{turn.StuckUnanswered, turn.StuckDeliveryUnknown} {
		var items []turn.Outcome
		for _, o := range c.Unanswered {
			if o.DeliveryUnknown == (src == turn.StuckDeliveryUnknown) {
				items = append(items, o)
			}
		}
		if len(items) == 0 {
			continue
		}
		what := "unanswered"
		if src == turn.StuckDeliveryUnknown {
			what = "of unknown delivery (a replay asks the vendor; --send-unknown sends anyway)"
		}
		r := turn.StuckReason{Source: src, Since: items[0].ReceivedAt,
			Detail: fmt.Sprintf("%d turn(s) %s; the last: %s", len(items), what, items[len(items)-1].Reason)}
		for _, o := range items {
			r.Turns = append(r.Turns, o.TurnID)
		}
		s.Add(r)
	}
	if len(c.Held) > 0 {
		r := turn.StuckReason{Source: turn.StuckJetStream, Since: c.Held[0].Since, Detail: c.Held[len(c.Held)-1].Detail}
		for _, h := range c.Held {
			r.Turns, r.Sequences = append(r.Turns, h.TurnID), append(r.Sequences, h.Sequence)
		}
		s.Add(r)
	}
	if e := c.Escalation; e != nil && e.State == turn.EscalationFlagged {
		s.Add(turn.StuckReason{Source: turn.StuckEscalation, Since: e.Since,
			Detail: fmt.Sprintf("escalation %s acknowledged by no queue (%s)", e.ID, e.Reason)})
	}
	if len(s.Reasons) == 0 {
		return nil
	}
	return &s
}

// baseStatus is the status the conversation would show if it were not stuck.
func (c *conversation) baseStatus() string {
	if c.Escalation != nil {
		return StatusWaitingHuman
	}
	return StatusActive
}

// statusFor is status, unless the conversation is stuck.
func (c *conversation) statusFor(status string) string {
	if c.stuckAware && c.stuck() != nil {
		return StatusStuck
	}
	return status
}

// refreshStatus updates SwitchboardStatus if being stuck changed it.
func (c *conversation) refreshStatus(ctx workflow.Context) {
	if want := c.statusFor(c.baseStatus()); want != c.status {
		c.setStatus(ctx, want, c.queue)
	}
}

// unanswered keeps a turn whose reply could not be sent, for a replay.
func (c *conversation) unanswered(ctx workflow.Context, out turn.Outcome) {
	if !c.stuckAware || c.Conversation.Canary {
		return
	}
	c.Unanswered = append(c.Unanswered, out)
	if over := len(c.Unanswered) - maxUnanswered; over > 0 {
		workflow.GetLogger(ctx).Error("unanswered replies over the limit; the oldest are no longer kept for a replay", "dropped", over)
		c.Unanswered = slices.Clone(c.Unanswered[over:])
	}
	if c.bounded {
		var dropped int
		if c.Unanswered, dropped = trimUnanswered(c.Unanswered, maxUnansweredBytes); dropped > 0 {
			workflow.GetLogger(ctx).Error("unanswered replies over the byte limit; the oldest are no longer kept for a replay", "dropped", dropped)
		}
	}
}

// hold records turns the sweeper found waiting in JetStream. Turns the workflow
// already has are ignored: they were delivered since the sweep.
func (c *conversation) hold(ctx workflow.Context, held []HeldTurn) {
	for _, h := range held {
		if c.seen[h.TurnID] || slices.ContainsFunc(c.Held, func(x HeldTurn) bool { return x.TurnID == h.TurnID }) {
			continue
		}
		c.Held = append(c.Held, h)
	}
	if c.bounded {
		c.Held = boundHeld(c.Held)
	}
	if c.stuckAware {
		c.refreshStatus(ctx)
	}
}

// release forgets a held turn once it arrives.
func (c *conversation) release(ctx workflow.Context, turnID string) {
	i := slices.IndexFunc(c.Held, func(h HeldTurn) bool { return h.TurnID == turnID })
	if i < 0 {
		return
	}
	c.Held = slices.Delete(slices.Clone(c.Held), i, i+1)
	if c.stuckAware {
		c.refreshStatus(ctx)
	}
}

func (c *conversation) validateReplay(ctx workflow.Context, r ReplayRequest) error {
	flagged := c.Escalation != nil && c.Escalation.State == turn.EscalationFlagged
	if len(c.Unanswered) == 0 && !flagged {
		return fmt.Errorf("conversation %s has no unanswered reply and no flagged escalation to replay", c.Conversation.ID)
	}
	return nil
}

// replay queues the unanswered replies for the main loop, which sends them in turn
// order between customer turns, and waits for them.
func (c *conversation) replay(ctx workflow.Context, r ReplayRequest) (ReplayResult, error) {
	var res ReplayResult
	workflow.GetLogger(ctx).Info("replay", "conversation", c.Conversation.ID, "by", r.By, "unanswered", len(c.Unanswered))
	if e := c.Escalation; e != nil && e.State == turn.EscalationFlagged {
		c.enqueue(ctx, 0)
		c.watchSLA(ctx, e.ID)
		res.Reopened = e.ID
	}
	items := c.Unanswered
	c.Unanswered = nil
	seqs := map[int]bool{}
	for i := range items {
		o := items[i]
		c.Pending = append(c.Pending, PendingTurn{Seq: o.Seq, Turn: turn.Turn{ID: o.TurnID}, Resend: &o, SendUnknown: r.SendUnknown})
		seqs[o.Seq] = true
	}
	c.refreshStatus(ctx)
	target := c.resent + len(items)
	if err := workflow.Await(ctx, func() bool { return c.resent >= target || c.leaving }); err != nil {
		return res, err
	}
	for _, o := range c.Transcript {
		if o.Replayed && seqs[o.Seq] {
			res.Resent = append(res.Resent, o)
		}
	}
	return res, nil
}

// resend sends a replayed reply again. A reply the vendor did take the first time
// is found in the send ledger under the same key and not sent again.
func (c *conversation) resend(ctx workflow.Context, failed turn.Outcome) turn.Outcome {
	out := failed
	out.Replayed = true
	if e := c.Escalation; e != nil && e.State == turn.EscalationAcknowledged {
		// A person has taken the conversation since: the bot's old answer would
		// only talk over them.
		out.Status, out.Reason = turn.StatusForwarded, "not sent again: "+e.Agent+" has the conversation"
		return out
	}
	route, err := c.route(ctx)
	if err != nil {
		out.Status, out.Reason = turn.StatusFailed, "routing: "+errorText(err)
		c.unanswered(ctx, out)
		return out
	}
	if err := c.reply(ctx, route, &out); err != nil && !isRejected(err) {
		c.unanswered(ctx, out)
	}
	c.closeOutageEscalation(ctx, out)
	return out
}

// closeOutageEscalation closes the escalation a CPaaS outage opened once a replay
// delivered what the outage held back, before any agent took it: the customer has
// their answer, and its SLA running out would only send them an apology after it.
func (c *conversation) closeOutageEscalation(ctx workflow.Context, out turn.Outcome) {
	e := c.Escalation
	if e == nil || e.Reason != escalationNoCPaaS || e.State != turn.EscalationQueued || out.Status != turn.StatusReplied || len(c.Unanswered) > 0 {
		return
	}
	if slices.ContainsFunc(c.Pending, func(p PendingTurn) bool { return p.Resend != nil }) {
		return // the rest of the replay may fail again
	}
	if !c.since(ctx, versionReplayClosesOutage) {
		return
	}
	workflow.GetLogger(ctx).Info("escalation closed: the replies the CPaaS outage held back were delivered", "escalation", e.ID)
	c.Escalation = nil
	c.setStatus(ctx, StatusActive, "")
}
