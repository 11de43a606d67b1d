package workflows

import (
	"errors"
	"fmt"
	"maps"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/switchboard-cc/switchboard/internal/turn"
)

// Names under which the conversation workflow's handlers are registered.
const (
	WorkflowName     = "ConversationWorkflow"
	UpdateTurn       = "turn"
	QueryTranscript  = "transcript"
	fallbackProvider = "fallback"
)

// Options tune a conversation workflow. Zero fields take the defaults below.
type Options struct {
	// IdleTimeout closes a conversation that received no turn for this long. A later
	// turn starts a new workflow for the same conversation.
	IdleTimeout time.Duration
	// MaxTurnsPerRun bounds history: after this many turns the workflow continues as
	// new, carrying its state.
	MaxTurnsPerRun int
	// TranscriptTurns is how many recent turn outcomes the transcript keeps.
	TranscriptTurns int
	// DedupeTurns is how many recent turn ids are remembered to drop duplicates.
	DedupeTurns int
	// MaxPending bounds the turns accepted and not yet processed. The turn update
	// of a conversation that has this many (or MaxPendingBytes of them) is rejected
	// with an ErrTypeBusy application error: the turn stays where it was, in
	// JetStream, and is to be delivered again later (see bounds.go).
	MaxPending int `json:",omitempty"`
}

// Defaults for Options.
const (
	DefaultIdleTimeout     = 24 * time.Hour
	DefaultMaxTurnsPerRun  = 200
	DefaultTranscriptTurns = 100
	DefaultDedupeTurns     = 1000
	DefaultMaxPending      = 100
)

func (o Options) withDefaults() Options {
	if o.IdleTimeout <= 0 {
		o.IdleTimeout = DefaultIdleTimeout
	}
	if o.MaxTurnsPerRun <= 0 {
		o.MaxTurnsPerRun = DefaultMaxTurnsPerRun
	}
	if o.TranscriptTurns <= 0 {
		o.TranscriptTurns = DefaultTranscriptTurns
	}
	if o.DedupeTurns <= 0 {
		o.DedupeTurns = DefaultDedupeTurns
	}
	if o.MaxPending <= 0 {
		o.MaxPending = DefaultMaxPending
	}
	return o
}

// Conversation identifies who talks to whom, over which vendor and channel.
type Conversation struct {
	ID       string
	Vendor   string
	Channel  string
	Customer string
	Business string
	// Canary marks the stack canary's conversation: it never escalates and is
	// never reported stuck; the canary reports its failures itself.
	Canary bool `json:",omitempty"`
}

// State is the workflow's input and what continue-as-new carries to the next run.
type State struct {
	Conversation Conversation
	Options      Options
	// Seq counts the turns accepted in this conversation's lifetime.
	Seq int
	// Recent holds the ids of the most recent accepted turns, oldest first.
	Recent []string
	// Pending holds accepted turns not yet processed, in arrival order.
	Pending []PendingTurn
	// Transcript holds the most recent outcomes, oldest first.
	Transcript []turn.Outcome
	// NoMatchStreak counts consecutive turns no NLU understood.
	NoMatchStreak int
	// Escalation is the open escalation, if any; Escalations counts them all.
	Escalation  *turn.Escalation
	Escalations int
	// AgentReplies counts agent messages, for their idempotency keys.
	AgentReplies int
	// Unanswered holds the outcomes of turns whose reply no CPaaS provider could
	// send, oldest first, for a replay to send them (see stuck.go).
	Unanswered []turn.Outcome `json:",omitempty"`
	// Held lists turns the stuck sweeper found waiting in JetStream.
	Held []HeldTurn `json:",omitempty"`
}

// PendingTurn is an accepted turn waiting to be processed.
type PendingTurn struct {
	Turn       turn.Turn
	Seq        int
	AcceptedAt time.Time
	// Resend, set by a replay, is the failed outcome whose reply to send again.
	Resend *turn.Outcome `json:",omitempty"`
	// SendUnknown: the replay's operator decided to send a reply of unknown
	// delivery that the vendor cannot settle (ReplayRequest.SendUnknown).
	SendUnknown bool `json:",omitempty"`
}

// Accepted is the turn update's result.
type Accepted struct {
	Seq       int  `json:"seq"`
	Duplicate bool `json:"duplicate"`
}

// NewState is the initial state of a conversation started by its first turn.
func NewState(t turn.Turn, o Options) State {
	return State{
		Conversation: Conversation{ID: t.ConversationID, Vendor: t.Vendor, Channel: t.Channel, Customer: t.From, Business: t.To, Canary: t.Canary},
		Options:      o,
	}
}

// ConversationWorkflow runs one conversation for as long as it is active.
func ConversationWorkflow(ctx workflow.Context, s State) error {
	c := &conversation{State: s}
	c.Options = c.Options.withDefaults()
	c.seen = make(map[string]bool, len(c.Recent))
	for _, id := range c.Recent {
		c.seen[id] = true
	}
	c.epoch = workflow.GetInfo(ctx).FirstRunID
	for _, p := range c.Pending {
		c.pendingBytes += pendingSize(p)
	}
	if err := workflow.SetQueryHandler(ctx, QueryTranscript, c.transcript); err != nil {
		return err
	}
	if err := workflow.SetUpdateHandlerWithOptions(ctx, UpdateTurn, c.accept,
		workflow.UpdateHandlerOptions{Validator: c.validate}); err != nil {
		return err
	}
	if err := c.setDeskHandlers(ctx); err != nil {
		return err
	}
	if err := c.setStuckHandlers(ctx); err != nil {
		return err
	}
	return c.run(ctx)
}

type conversation struct {
	State
	seen      map[string]bool
	epoch     string
	processed int // turns processed in this run
	status    string
	queue     string // the human queue shown in SwitchboardQueue
	// stuckAware is false when replaying histories recorded before conversations
	// could report themselves stuck: their status never becomes stuck.
	stuckAware bool
	// deliveryAware is false when replaying histories recorded before a send of
	// unknown delivery stopped failover and an in-flight claim was waited out.
	deliveryAware bool
	// sendUnknown is set while a replay whose operator decided so resends: a reply
	// of unknown delivery that the vendor cannot settle is sent anyway.
	sendUnknown bool
	resent      int  // replayed resends processed in this run
	leaving     bool // the run is continuing as new: waiting handlers return now
	// bounded is false when replaying histories recorded before the carried state
	// was bounded in bytes (bounds.go).
	bounded      bool
	pendingBytes int // the encoded size of Pending, while bounded
	// version is the run's versionConversation (versions.go).
	version workflow.Version
	// coalesced is false when replaying histories recorded before search
	// attributes and the memo were written only when they changed (visibility.go).
	coalesced bool
	vis       visibility
	// hedged is false when replaying histories recorded before NLU attempts were
	// hedged and attempts ran as regular activities when they did not fit in the
	// workflow task (hedge.go, attempt.go).
	hedged bool
	// oneIdleTimer is false when replaying histories recorded before one timer
	// waited out the idle time (awaitTurn); idle is that timer, and lastTurn when
	// the last turn was processed.
	oneIdleTimer bool
	idle         workflow.Future
	lastTurn     time.Time
	// The current workflow task, by its history length, and when it started
	// (taskElapsed).
	taskLength int
	taskStart  time.Time
}

func (c *conversation) validate(ctx workflow.Context, t turn.Turn) error {
	if err := t.Validate(); err != nil {
		return err
	}
	if t.ConversationID != c.Conversation.ID {
		return fmt.Errorf("turn %s belongs to conversation %s, not %s", t.ID, t.ConversationID, c.Conversation.ID)
	}
	return c.admit(t)
}

// accept enqueues a turn. It never blocks, so the update completes in the workflow
// task that delivered it, and the bridge can ack the JetStream message at once.
func (c *conversation) accept(ctx workflow.Context, t turn.Turn) (Accepted, error) {
	if c.seen[t.ID] {
		for _, p := range c.Pending {
			if p.Turn.ID == t.ID {
				return Accepted{Seq: p.Seq, Duplicate: true}, nil
			}
		}
		for _, o := range c.Transcript {
			if o.TurnID == t.ID {
				return Accepted{Seq: o.Seq, Duplicate: true}, nil
			}
		}
		return Accepted{Duplicate: true}, nil
	}
	c.Seq++
	c.Pending = append(c.Pending, PendingTurn{Turn: t, Seq: c.Seq, AcceptedAt: workflow.Now(ctx)})
	c.pendingBytes += pendingSize(c.Pending[len(c.Pending)-1])
	c.release(ctx, t.ID)
	c.seen[t.ID] = true
	c.Recent = append(c.Recent, t.ID)
	if over := len(c.Recent) - c.Options.DedupeTurns; over > 0 {
		for _, id := range c.Recent[:over] {
			delete(c.seen, id)
		}
		c.Recent = append([]string(nil), c.Recent[over:]...)
	}
	if c.bounded {
		c.trimRecent(maxRecentBytes)
	}
	return Accepted{Seq: c.Seq}, nil
}

func (c *conversation) transcript() (turn.Transcript, error) {
	return turn.Transcript{
		ConversationID: c.Conversation.ID,
		Vendor:         c.Conversation.Vendor,
		Channel:        c.Conversation.Channel,
		Customer:       c.Conversation.Customer,
		Business:       c.Conversation.Business,
		Status:         c.status,
		Turns:          c.Transcript,
		Pending:        len(c.Pending),
		Escalation:     c.Escalation,
		Stuck:          c.stuck(),
	}, nil
}

func (c *conversation) run(ctx workflow.Context) error {
	c.version = workflow.GetVersion(ctx, versionConversation, workflow.DefaultVersion, conversationVersion)
	c.stuckAware = c.since(ctx, versionStuckStatus)
	c.bounded = c.since(ctx, versionBoundedState)
	c.deliveryAware = c.since(ctx, versionDeliveryUnknown)
	c.coalesced = c.version >= 1
	c.hedged = c.version >= 1
	c.oneIdleTimer = c.version >= 1
	c.lastTurn = workflow.Now(ctx)
	c.status = StatusActive
	status, queue := SAStatus.ValueSet(StatusActive), SAQueue.ValueUnset()
	if c.Escalation != nil && c.since(ctx, versionStatusOnStart) {
		// Carried over by continue-as-new: the desk lists it by status and queue.
		c.status, c.queue = c.statusFor(StatusWaitingHuman), c.Escalation.Queue
		status, queue = SAStatus.ValueSet(c.status), SAQueue.ValueSet(c.queue)
	}
	if c.coalesced {
		// The bridge started the workflow with them, and continue-as-new carries
		// them: only what differs is written.
		attrs := statusAttrs(c.status, c.queue)
		attrs[SAChannel], attrs[SACustomer] = c.Conversation.Channel, c.Conversation.Customer
		c.show(ctx, attrs, nil)
	} else {
		updates := []temporal.SearchAttributeUpdate{SAChannel.ValueSet(c.Conversation.Channel), SACustomer.ValueSet(c.Conversation.Customer), status}
		if c.queue != "" {
			updates = append(updates, queue)
		}
		if err := workflow.UpsertTypedSearchAttributes(ctx, updates...); err != nil {
			return err
		}
	}
	if c.Escalation != nil {
		// Carried over by continue-as-new: keep tracking its SLA.
		if c.queue == "" {
			c.status = StatusWaitingHuman
		}
		c.watchSLA(ctx, c.Escalation.ID)
	}
	if c.stuckAware {
		c.refreshStatus(ctx)
	}
	for {
		blocked := len(c.Pending) == 0
		got, err := c.awaitTurn(ctx)
		if err != nil {
			return err
		}
		if blocked {
			c.taskStart = workflow.Now(ctx) // woken by a new workflow task
		}
		if !got {
			if c.Escalation != nil && c.Escalation.State != turn.EscalationFlagged {
				continue // a human still owes this customer an answer
			}
			if c.stuckAware && c.stuck() != nil {
				continue // closing would hide it from the stuck list: ops replay it
			}
			return c.close(ctx)
		}
		next := c.Pending[0]
		c.Pending = c.Pending[1:]
		c.pendingBytes -= pendingSize(next)
		if next.Resend != nil {
			c.sendUnknown = next.SendUnknown
			c.record(ctx, c.resend(ctx, *next.Resend))
			c.sendUnknown = false
			c.resent++
		} else {
			c.record(ctx, c.process(ctx, next))
		}
		c.processed++
		c.lastTurn = workflow.Now(ctx)
		if len(c.Pending) == 0 && (c.processed >= c.Options.MaxTurnsPerRun || workflow.GetInfo(ctx).GetContinueAsNewSuggested()) {
			return c.continueAsNew(ctx)
		}
		if c.processed >= 2*c.Options.MaxTurnsPerRun {
			// A conversation that never drains its queue must still bound its history.
			return c.continueAsNew(ctx)
		}
	}
}

// awaitTurn waits for a pending turn, or for IdleTimeout to pass since the last
// turn was processed, and reports whether a turn is pending. Since versionIdleTimer
// one timer waits out the idle time across turns, and is started again only when
// it fires early (a turn came meanwhile): before, each wait started a timer and
// each turn cancelled it, two commands and a timer task per turn.
func (c *conversation) awaitTurn(ctx workflow.Context) (bool, error) {
	if !c.oneIdleTimer {
		return workflow.AwaitWithTimeout(ctx, c.Options.IdleTimeout, func() bool { return len(c.Pending) > 0 })
	}
	for {
		if c.idle == nil {
			c.idle = workflow.NewTimer(ctx, c.lastTurn.Add(c.Options.IdleTimeout).Sub(workflow.Now(ctx)))
		}
		if err := workflow.Await(ctx, func() bool { return len(c.Pending) > 0 || c.idle.IsReady() }); err != nil {
			return false, err
		}
		if len(c.Pending) > 0 {
			return true, nil
		}
		if err := c.idle.Get(ctx, nil); err != nil {
			return false, err
		}
		c.idle = nil
		if !workflow.Now(ctx).Before(c.lastTurn.Add(c.Options.IdleTimeout)) {
			c.lastTurn = workflow.Now(ctx) // a conversation kept open waits another IdleTimeout
			return false, nil
		}
	}
}

func (c *conversation) continueAsNew(ctx workflow.Context) error {
	// Handlers only enqueue, but one may have been admitted in this very task; a
	// replay waiting for its resends returns what it has (they travel in Pending).
	c.leaving = true
	if err := workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) }); err != nil {
		return err
	}
	if c.coalesced {
		c.flush(ctx) // the next run starts with what this one showed
	}
	return workflow.NewContinueAsNewError(ctx, ConversationWorkflow, c.State)
}

func (c *conversation) close(ctx workflow.Context) error {
	if err := workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) }); err != nil {
		return err
	}
	if len(c.Pending) > 0 {
		// A turn arrived as the idle timer fired: keep going in a fresh run.
		return workflow.NewContinueAsNewError(ctx, ConversationWorkflow, c.State)
	}
	c.status = StatusClosed
	if c.coalesced {
		c.show(ctx, map[temporal.SearchAttributeKey]any{SAStatus: StatusClosed}, nil)
		return nil
	}
	return workflow.UpsertTypedSearchAttributes(ctx, SAStatus.ValueSet(StatusClosed))
}

// process handles one turn: route, understand, decide, reply. It always returns an
// outcome; failures are recorded in it rather than failing the workflow.
func (c *conversation) process(ctx workflow.Context, p PendingTurn) turn.Outcome {
	t := p.Turn
	out := turn.Outcome{TurnID: t.ID, ConversationID: c.Conversation.ID, Seq: p.Seq, Text: t.Text, ReceivedAt: t.ReceivedAt, AcceptedAt: p.AcceptedAt}
	if c.Escalation != nil {
		// A human owns the conversation: the turn is theirs to answer.
		out.Status, out.Reason = turn.StatusForwarded, "escalation "+c.Escalation.ID+" is open"
		return out
	}
	route, err := c.route(ctx)
	if err != nil {
		out.Status, out.Reason = turn.StatusFailed, "routing: "+errorText(err)
		return out
	}
	if c.voice(ctx) {
		return c.processCall(ctx, route, t, out)
	}

	escalation := c.understand(ctx, route, t, &out)
	if escalation != "" {
		out.Escalation = escalation
		if out.Reply == "" {
			out.Reply = route.Escalation.EscalatingReply
		}
	}
	if out.Reply == "" {
		out.Reply = route.FallbackReply
	}

	sendErr := c.reply(ctx, route, &out)
	// A reply whose delivery is unknown may have reached the customer: a human told
	// "every provider failed" would be told wrong. Ops settle it with a replay.
	undecided := c.stuckAware && isInFlight(sendErr) || c.deliveryAware && isDeliveryUnknown(sendErr)
	if sendErr != nil && !isRejected(sendErr) && escalation == "" && !undecided {
		// Every CPaaS provider is down: only a human can reach the customer now.
		escalation = escalationNoCPaaS
		out.Escalation = escalation
	}
	if escalation != "" && c.Conversation.Canary {
		// The canary reports what went wrong; a human queue must not hear of it.
		workflow.GetLogger(ctx).Warn("canary turn would have escalated", "reason", escalation)
		escalation = ""
	}
	if escalation != "" {
		c.escalate(ctx, route.Escalation, escalation, t.Text)
		if out.Status == turn.StatusReplied {
			out.Status = turn.StatusEscalated
		}
	}
	if sendErr != nil && !isRejected(sendErr) {
		c.unanswered(ctx, out)
	}
	return out
}

// understand asks the NLU candidates in order; the first that answers wins. It
// fills the outcome's intent, reply and provider, and returns why the turn must
// escalate, if it must.
func (c *conversation) understand(ctx workflow.Context, route turn.Route, t turn.Turn, out *turn.Outcome) (escalation string) {
	var answered *turn.NLUCandidate
	if c.hedged {
		answered = c.askHedged(ctx, route, t, out)
	} else {
		answered = c.askInOrder(ctx, route, t, out)
	}
	switch {
	case answered == nil:
		out.NLUProvider, out.Reply = fallbackProvider, route.FallbackReply
		return "no NLU provider answered"
	case out.Intent == turn.NoMatch && answered.Local:
		out.Reply = route.FallbackReply // the local NLU has nothing better
		return "remote NLU unavailable and the local NLU found no match"
	case out.Intent == turn.NoMatch && c.Conversation.Canary:
		// The canary's text need not mean anything to the agent: an answer is enough.
	case out.Intent == turn.NoMatch:
		c.NoMatchStreak++
		if m := route.Escalation.MaxNoMatch; m > 0 && c.NoMatchStreak >= m {
			return fmt.Sprintf("%d no-match turns in a row", c.NoMatchStreak)
		}
	default:
		c.NoMatchStreak = 0
		for _, h := range route.Escalation.HandoffIntents {
			if out.Intent == h {
				return "customer asked for a human (" + h + ")"
			}
		}
	}
	return ""
}

// askInOrder asks the NLU candidates one after the other, each as one local
// activity, as runs recorded before versionHedgedNLU did; it returns the one that
// answered, if any.
func (c *conversation) askInOrder(ctx workflow.Context, route turn.Route, t turn.Turn, out *turn.Outcome) *turn.NLUCandidate {
	for i, cand := range route.NLU {
		var d DetectOutput
		opts := localOptions(cand.Attempt)
		opts.Summary = attemptSummary("Detect", cand.Provider, i+1)
		actx := workflow.WithLocalActivityOptions(ctx, opts)
		err := workflow.ExecuteLocalActivity(actx, ActivityDetect, DetectInput{Provider: cand.Provider, ConversationID: c.Conversation.ID, Text: t.Text, LanguageCode: route.LanguageCode}).Get(ctx, &d)
		if err == nil {
			out.Intent, out.Reply, out.NLUProvider, out.NLUDuration = d.Intent, d.Reply, cand.Provider, d.Elapsed
			return &route.NLU[i]
		}
		workflow.GetLogger(ctx).Warn("NLU attempt failed", "provider", cand.Provider, "error", err)
		out.Failover = append(out.Failover, turn.FailedAttempt{Step: "nlu", Provider: cand.Provider, Error: errorText(err)})
		if isRejected(err) {
			// The query itself is refused; its twins would refuse it too.
			break
		}
	}
	return nil
}

// route asks for the providers to try, filtered by their health.
func (c *conversation) route(ctx workflow.Context) (turn.Route, error) {
	var route turn.Route
	rctx := workflow.WithLocalActivityOptions(ctx, localOptions(turn.Attempt{Timeout: 5 * time.Second, MaxAttempts: 3}))
	err := workflow.ExecuteLocalActivity(rctx, ActivityRoute, turn.RouteInput{Vendor: c.Conversation.Vendor, Channel: c.Conversation.Channel, From: c.Conversation.Business}).Get(ctx, &route)
	return route, err
}

// reply sends out.Reply for the turn out.Seq and records how it went in out. Every
// attempt for the turn, a replay's included, carries the same idempotency key. A
// reply to a turn older than the policy's stale_reply.after is prefixed with the
// apology, or not sent at all.
func (c *conversation) reply(ctx workflow.Context, route turn.Route, out *turn.Outcome) error {
	if sr := route.StaleReply; sr.After > 0 && !out.ReceivedAt.IsZero() {
		if waited := workflow.Now(ctx).Sub(out.ReceivedAt); waited > sr.After {
			if sr.Suppress {
				out.Status = turn.StatusSuppressed
				out.Reason = fmt.Sprintf("reply not sent: the turn waited %s, longer than stale_reply.after (%s)", waited.Round(time.Second), sr.After)
				return nil
			}
			if !strings.HasPrefix(out.Reply, sr.Apology) { // a replay resends an apology already made
				out.Reply = sr.Apology + out.Reply
			}
		}
	}
	key, answers := out.IdempotencyKey, ""
	if key == "" {
		key, answers = turn.IdempotencyKey(c.Conversation.ID, c.epoch, out.Seq), out.TurnID
	}
	provider, r, err := c.send(ctx, route, out.Reply, key, answers, &out.Failover)
	if err != nil {
		out.Status, out.Reason = turn.StatusFailed, "reply not sent: "+errorText(err)
		out.DeliveryUnknown = c.deliveryAware && isDeliveryUnknown(err)
		if out.DeliveryUnknown {
			out.Reason = "reply may or may not have reached the customer: " + errorText(err)
		}
		return err
	}
	out.CPaaSProvider, out.MessageID, out.CPaaSDuration, out.Status, out.Reason = provider, r.MessageID, r.Elapsed, turn.StatusReplied, ""
	out.DeliveryUnknown = false
	return nil
}

// send delivers body to the customer through the first CPaaS candidate that takes
// it. A rejection (an invalid number, say) stops the failover: no other provider
// would accept it either.
//
// turnID is the customer turn the message answers, "" for an agent's message or an
// escalation's final message. Each failed attempt is appended to failed, when given.
func (c *conversation) send(ctx workflow.Context, route turn.Route, body, key, turnID string, failed *[]turn.FailedAttempt) (provider string, receipt SendOutput, err error) {
	err = errNoCPaaS
	waits := 0
	for i, attempt := 0, 1; i < len(route.CPaaS); i, attempt = i+1, attempt+1 {
		cand := route.CPaaS[i]
		var r SendOutput
		msg := turn.Message{Channel: cand.Channel, From: cand.From, To: c.Conversation.Customer, Body: body, IdempotencyKey: key,
			ConversationID: c.Conversation.ID, TurnID: turnID}
		in := SendInput{Provider: cand.Provider, Message: msg, Forced: cand.Forced, SendUnknown: c.sendUnknown}
		summary := attemptSummary("Send", cand.Provider, attempt)
		if c.hedged {
			err = c.start(ctx, attemptCall{activity: ActivitySend, summary: summary, attempt: cand.Attempt, nonRetryable: sendNonRetryable, input: in}).Get(ctx, &r)
		} else {
			opts := localOptions(cand.Attempt)
			opts.Summary = summary
			err = workflow.ExecuteLocalActivity(workflow.WithLocalActivityOptions(ctx, opts), ActivitySend, in).Get(ctx, &r)
		}
		if err == nil {
			return cand.Provider, r, nil
		}
		workflow.GetLogger(ctx).Warn("CPaaS attempt failed", "provider", cand.Provider, "error", err)
		if failed != nil {
			*failed = append(*failed, turn.FailedAttempt{Step: "cpaas", Provider: cand.Provider, Error: errorText(err)})
		}
		if c.deliveryAware {
			if isDeliveryUnknown(err) {
				// Every provider shares the key: another one would only send the
				// reply a second time.
				break
			}
			if isInFlight(err) && waits < maxClaimWaits {
				// Another attempt (of a worker that died mid-send, say) holds the
				// key. Wait its claim out, then try again: the ledger then says
				// whether that attempt's send reached the vendor.
				waits++
				if serr := workflow.Sleep(ctx, claimWait(ctx, err)); serr != nil {
					return "", SendOutput{}, serr
				}
				i--
				continue
			}
		}
		if isRejected(err) || (c.stuckAware && isInFlight(err)) {
			// Rejected: the next provider would refuse it too. In flight: every
			// provider shares the key, and its claim.
			break
		}
	}
	return "", SendOutput{}, err
}

var errNoCPaaS = errors.New("no CPaaS provider routed for this channel")

// escalationNoCPaaS is the reason of an escalation opened because no CPaaS provider
// could send a reply: a replay that sends it closes the escalation (stuck.go).
const escalationNoCPaaS = "all CPaaS providers failed"

// maxClaimWaits bounds how often one send waits out another attempt's claim.
const maxClaimWaits = 3

// claimWait is how long to wait for the claim of an in-flight error to lapse.
func claimWait(ctx workflow.Context, err error) time.Duration {
	var ae *temporal.ApplicationError
	var until time.Time
	if errors.As(err, &ae) && ae.HasDetails() && ae.Details(&until) == nil {
		return min(max(until.Sub(workflow.Now(ctx))+time.Second, time.Second), 3*time.Minute)
	}
	return 10 * time.Second
}

// setStatus records the conversation's status and queue in its search attributes.
// A stuck conversation shows stuck whatever status it would have otherwise.
func (c *conversation) setStatus(ctx workflow.Context, status, queue string) {
	status = c.statusFor(status)
	c.status, c.queue = status, queue
	if c.coalesced {
		c.show(ctx, statusAttrs(status, queue), nil)
		return
	}
	q := SAQueue.ValueUnset()
	if queue != "" {
		q = SAQueue.ValueSet(queue)
	}
	if err := workflow.UpsertTypedSearchAttributes(ctx, SAStatus.ValueSet(status), q); err != nil {
		workflow.GetLogger(ctx).Error("search attribute update failed", "error", err)
	}
}

// statusAttrs are the search attribute values of a status and queue ("": none).
func statusAttrs(status, queue string) map[temporal.SearchAttributeKey]any {
	attrs := map[temporal.SearchAttributeKey]any{SAStatus: status, SAQueue: nil}
	if queue != "" {
		attrs[SAQueue] = queue
	}
	return attrs
}

// record keeps the outcome in the transcript, updates the search attributes and
// announces the outcome to event consumers.
func (c *conversation) record(ctx workflow.Context, out turn.Outcome) {
	out.CompletedAt = workflow.Now(ctx)
	c.Transcript = append(c.Transcript, out)
	if over := len(c.Transcript) - c.Options.TranscriptTurns; over > 0 {
		c.Transcript = append([]turn.Outcome(nil), c.Transcript[over:]...)
	}
	if c.bounded {
		c.Transcript = trimOutcomes(c.Transcript, maxTranscriptBytes)
	}
	if c.coalesced {
		attrs := map[temporal.SearchAttributeKey]any{SATurns: int64(out.Seq), SALastTurnAt: out.ReceivedAt, SANLUProvider: out.NLUProvider}
		if out.CPaaSProvider != "" {
			attrs[SACPaaSProvider] = out.CPaaSProvider
		}
		if want := c.statusFor(c.baseStatus()); want != c.status {
			c.status = want
			maps.Copy(attrs, statusAttrs(c.status, c.queue))
		}
		c.show(ctx, attrs, c.turnMemo(out))
	} else {
		c.recordUncoalesced(ctx, out)
	}
	// Events are at-least-once and best effort: a failure to publish must not hold
	// the conversation, whose transcript already holds the outcome.
	pctx := workflow.WithLocalActivityOptions(ctx, localOptions(turn.Attempt{Timeout: 5 * time.Second, MaxAttempts: 3}))
	if err := workflow.ExecuteLocalActivity(pctx, ActivityPublish, PublishInput{Outcome: out, Vendor: c.Conversation.Vendor, Channel: c.Conversation.Channel}).Get(ctx, nil); err != nil {
		workflow.GetLogger(ctx).Error("turn outcome not published", "turn", out.TurnID, "error", err)
	}
}

// recordUncoalesced writes the search attributes and the memo after every turn, as
// runs recorded before versionCoalescedVisibility did.
func (c *conversation) recordUncoalesced(ctx workflow.Context, out turn.Outcome) {
	updates := []temporal.SearchAttributeUpdate{
		SATurns.ValueSet(int64(out.Seq)),
		SALastTurnAt.ValueSet(out.ReceivedAt),
		SANLUProvider.ValueSet(out.NLUProvider),
	}
	if out.CPaaSProvider != "" {
		updates = append(updates, SACPaaSProvider.ValueSet(out.CPaaSProvider))
	}
	if err := workflow.UpsertTypedSearchAttributes(ctx, updates...); err != nil {
		workflow.GetLogger(ctx).Error("search attribute update failed", "error", err)
	}
	// What an operator wants to see in the UI's list without opening the history.
	// Added after conversations were already running: older histories skip it.
	if c.stuckAware {
		c.refreshStatus(ctx)
	}
	if c.since(ctx, versionMemoPerTurn) {
		if err := workflow.UpsertMemo(ctx, c.turnMemo(out)); err != nil {
			workflow.GetLogger(ctx).Error("memo update failed", "error", err)
		}
	}
}

// turnMemo is what an operator wants to see in the UI's list after a turn, without
// opening the history.
func (c *conversation) turnMemo(out turn.Outcome) map[string]any {
	memo := map[string]any{
		"last_turn":   out.Seq,
		"last_intent": out.Intent,
		"last_status": out.Status,
		"last_reason": out.Reason,
		"escalation":  "",
		"stuck":       "",
	}
	if c.Escalation != nil {
		memo["escalation"] = c.escalationText("")
	}
	if s := c.stuck(); s != nil {
		memo["stuck"] = fmt.Sprintf("since %s: %s", s.Since.UTC().Format(time.RFC3339), s.Reasons[0].Detail)
	}
	return memo
}

// attemptSummary is what the Temporal UI shows on a provider attempt's row, so that
// a history reads as its failover: "Detect · cx-global · attempt 1", then
// "Detect · cx-europe · attempt 2". attempt counts the providers tried for the
// step (and a send's waits for another attempt's claim); the retries of one
// provider are within its row. The summary is user metadata on the local
// activity's marker: histories recorded without it replay unchanged.
func attemptSummary(step, provider string, attempt int) string {
	return fmt.Sprintf("%s · %s · attempt %d", step, provider, attempt)
}

// isRejected reports a provider's refusal of the request itself: the next provider
// would refuse it too, so failover stops. A provider unknown to the worker is not a
// refusal: the next one may serve.
func isRejected(err error) bool {
	var ae *temporal.ApplicationError
	return errors.As(err, &ae) && ae.Type() == ErrTypeRejected
}

// isDeliveryUnknown reports a send that may have reached the customer.
func isDeliveryUnknown(err error) bool {
	var ae *temporal.ApplicationError
	return errors.As(err, &ae) && ae.Type() == ErrTypeDeliveryUnknown
}

// isInFlight reports a send whose idempotency key another attempt still holds.
func isInFlight(err error) bool {
	var ae *temporal.ApplicationError
	return errors.As(err, &ae) && ae.Type() == ErrTypeInFlight
}

// errorText is the message of an activity error, without the SDK's wrapping (the
// activity error around it, the "(type: …, retryable: …)" it prints), for the
// transcript. A cause is added only when the message does not already say it:
// histories recorded before activity errors stopped carrying their message again
// as their cause read the same as newer ones.
func errorText(err error) string {
	var ae *temporal.ApplicationError
	if errors.As(err, &ae) {
		msg := ae.Message()
		if cause := errors.Unwrap(ae); cause != nil {
			if inner := errorText(cause); msg == "" {
				msg = inner
			} else if !strings.Contains(msg, inner) {
				msg += ": " + inner
			}
		}
		if msg == "" {
			return ae.Error()
		}
		return msg
	}
	var te *temporal.TimeoutError
	if errors.As(err, &te) {
		return "timed out"
	}
	return err.Error()
}

// ErrorText is errorText for the workers' and the API's tests and reports.
func ErrorText(err error) string { return errorText(err) }
