package workflows

import (
	"fmt"
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/switchboard-cc/switchboard/internal/turn"
)

// Names of the agent-desk updates.
const (
	UpdateClaim   = "escalation.claim"
	UpdateAck     = "escalation.ack"
	UpdateReply   = "escalation.reply"
	UpdateResolve = "escalation.resolve"
)

// DeskRequest is the body of every agent-desk update.
type DeskRequest struct {
	EscalationID string `json:"escalation_id"`
	Queue        string `json:"queue,omitempty"` // claim: the queue the agent claimed from
	Agent        string `json:"agent"`
	Text         string `json:"text,omitempty"` // reply: what the agent says
	// UpdateID, if set, is the Temporal update id the desk action is sent under
	// (api: from the HTTP call's Idempotency-Key). Temporal runs an update id once
	// per run, so a retried call gets the first call's result and an agent's
	// reply is not sent twice; the reply's idempotency key derives from it. It is
	// not part of the update's payload.
	UpdateID string `json:"-"`
}

func (c *conversation) setDeskHandlers(ctx workflow.Context) error {
	for name, h := range map[string]func(workflow.Context, DeskRequest) (turn.Escalation, error){
		UpdateClaim:   c.claim,
		UpdateAck:     c.ack,
		UpdateResolve: c.resolve,
	} {
		if err := workflow.SetUpdateHandlerWithOptions(ctx, name, h, workflow.UpdateHandlerOptions{Validator: c.validateDesk(name)}); err != nil {
			return err
		}
	}
	return workflow.SetUpdateHandlerWithOptions(ctx, UpdateReply, c.agentReply, workflow.UpdateHandlerOptions{Validator: c.validateDesk(UpdateReply)})
}

// validateDesk rejects agent actions on an escalation that is not the open one, so a
// desk acting on a stale queue entry learns it at once and nothing is recorded.
func (c *conversation) validateDesk(name string) func(workflow.Context, DeskRequest) error {
	return func(ctx workflow.Context, r DeskRequest) error {
		e := c.Escalation
		switch {
		case r.Agent == "":
			return fmt.Errorf("agent is required")
		case e == nil || e.ID != r.EscalationID:
			return fmt.Errorf("escalation %s is not open on conversation %s", r.EscalationID, c.Conversation.ID)
		}
		switch name {
		case UpdateClaim:
			if e.State != turn.EscalationQueued || r.Queue != e.Queue {
				return fmt.Errorf("escalation %s is not waiting in queue %s (state %s, queue %s)", e.ID, r.Queue, e.State, e.Queue)
			}
		case UpdateReply:
			if r.Text == "" {
				return fmt.Errorf("text is required")
			}
			if len(r.Text) > turn.MaxTextBytes {
				return fmt.Errorf("text is longer than %d bytes", turn.MaxTextBytes)
			}
		}
		return nil
	}
}

func (c *conversation) claim(ctx workflow.Context, r DeskRequest) (turn.Escalation, error) {
	c.Escalation.State, c.Escalation.Agent = turn.EscalationClaimed, r.Agent
	c.escalationMemo(ctx, "")
	return *c.Escalation, nil
}

func (c *conversation) ack(ctx workflow.Context, r DeskRequest) (turn.Escalation, error) {
	c.Escalation.State, c.Escalation.Agent = turn.EscalationAcknowledged, r.Agent
	c.escalationMemo(ctx, "")
	return *c.Escalation, nil
}

// resolve hands the conversation back to the bot. It answers the escalation as it
// ended: resolved, by the agent.
func (c *conversation) resolve(ctx workflow.Context, r DeskRequest) (turn.Escalation, error) {
	e := *c.Escalation
	e.Agent, e.State = r.Agent, turn.EscalationResolved
	c.Escalation = nil
	c.NoMatchStreak = 0
	c.setStatus(ctx, StatusActive, "")
	c.escalationMemo(ctx, fmt.Sprintf("%s resolved by %s: %s", e.ID, e.Agent, e.Reason))
	return e, nil
}

// escalationMemo sets the memo's escalation to what the open escalation is now, or,
// with none open, to ended (what became of the last one). Histories recorded before
// versionDeskMemo updated the memo only per turn.
func (c *conversation) escalationMemo(ctx workflow.Context, ended string) {
	if workflow.GetVersion(ctx, versionDeskMemo, workflow.DefaultVersion, 1) < 1 {
		return
	}
	if err := workflow.UpsertMemo(ctx, map[string]any{"escalation": c.escalationText(ended)}); err != nil {
		workflow.GetLogger(ctx).Error("memo update failed", "error", err)
	}
}

// escalationText is the memo's escalation: "<state> in <queue>[ by <agent>]: <reason>".
func (c *conversation) escalationText(none string) string {
	e := c.Escalation
	if e == nil {
		return none
	}
	s := e.State + " in " + e.Queue
	if e.Agent != "" && e.State != turn.EscalationQueued {
		s += " by " + e.Agent
	}
	return s + ": " + e.Reason
}

// agentReply sends an agent's message to the customer through the same
// failover-protected send path as the bot's replies. Its idempotency key derives
// from the update's id: the desk's retry of the same call is deduplicated by
// Temporal, and a retried workflow task sends under the same key.
func (c *conversation) agentReply(ctx workflow.Context, r DeskRequest) (turn.Escalation, error) {
	// The validator admitted the update, so the escalation is open now; resolve may
	// close it while the message is on its way.
	before := *c.Escalation
	before.Agent = r.Agent
	if workflow.GetVersion(ctx, versionAgentReply, workflow.DefaultVersion, 1) == workflow.DefaultVersion {
		return c.agentReplyAckFirst(ctx, r, before)
	}
	c.AgentReplies++
	route, err := c.route(ctx)
	if err != nil {
		return turn.Escalation{}, err
	}
	key := turn.SendKey{Kind: turn.SendAgentReply, ConversationID: c.Conversation.ID, Epoch: c.epoch, Ref: workflow.GetCurrentUpdateInfo(ctx).ID}.Key()
	if _, _, err := c.send(ctx, route, r.Text, key, "", nil); err != nil {
		// Nothing reached the customer: the SLA clock keeps running.
		return turn.Escalation{}, fmt.Errorf("agent reply not sent: %s", errorText(err))
	}
	e := c.Escalation
	if e == nil || e.ID != before.ID {
		return before, nil // resolved while the message was on its way; it left all the same
	}
	if e.State == turn.EscalationQueued || e.State == turn.EscalationClaimed {
		// Talking to the customer is the strongest acknowledgement there is.
		e.State, e.Agent = turn.EscalationAcknowledged, r.Agent
		c.escalationMemo(ctx, "")
	}
	return *e, nil
}

// agentReplyAckFirst is agentReply as histories recorded before versionAgentReply
// ran it: acknowledged before the send, keyed by a counter.
func (c *conversation) agentReplyAckFirst(ctx workflow.Context, r DeskRequest, before turn.Escalation) (turn.Escalation, error) {
	if c.Escalation.State == turn.EscalationQueued || c.Escalation.State == turn.EscalationClaimed {
		c.Escalation.State, c.Escalation.Agent = turn.EscalationAcknowledged, r.Agent
	}
	c.AgentReplies++
	route, err := c.route(ctx)
	if err != nil {
		return turn.Escalation{}, err
	}
	key := turn.CountedAgentReplyKey(c.Conversation.ID, c.epoch, c.Seq, c.AgentReplies)
	if _, _, err := c.send(ctx, route, r.Text, key, "", nil); err != nil {
		return turn.Escalation{}, fmt.Errorf("agent reply not sent: %s", errorText(err))
	}
	if c.Escalation == nil || c.Escalation.ID != before.ID {
		return before, nil // resolved meanwhile: no history completed this path before
	}
	return *c.Escalation, nil
}

// escalate opens an escalation on the first queue and starts tracking its SLA.
func (c *conversation) escalate(ctx workflow.Context, p turn.EscalationPolicy, reason, lastText string) {
	if c.Escalation != nil {
		return // already with a human
	}
	if len(p.Queues) == 0 {
		workflow.GetLogger(ctx).Error("escalation wanted but no queue configured", "conversation", c.Conversation.ID, "reason", reason)
		return
	}
	now := workflow.Now(ctx)
	c.Escalations++
	c.Escalation = &turn.Escalation{
		ID: turn.EscalationID(c.Conversation.ID, c.Escalations), ConversationID: c.Conversation.ID,
		Customer: c.Conversation.Customer, Channel: c.Conversation.Channel, Reason: reason,
		Queues: p.Queues, FinalMessage: p.FinalMessage, Since: now, LastText: lastText,
	}
	c.setStatus(ctx, StatusWaitingHuman, "")
	c.enqueue(ctx, 0)
	c.watchSLA(ctx, c.Escalation.ID)
}

// enqueue puts the open escalation on queue i.
func (c *conversation) enqueue(ctx workflow.Context, i int) {
	e := c.Escalation
	e.QueueIndex, e.Queue, e.State = i, e.Queues[i].Name, turn.EscalationQueued
	e.Deadline = workflow.Now(ctx).Add(e.Queues[i].AckSLA)
	c.setStatus(ctx, StatusWaitingHuman, e.Queue)
	if i > 0 {
		c.escalationMemo(ctx, "") // the turn's memo told of the first queue
	}
	pctx := workflow.WithLocalActivityOptions(ctx, localOptions(turn.Attempt{Timeout: 5 * time.Second, MaxAttempts: 10}))
	if err := workflow.ExecuteLocalActivity(pctx, ActivityEscalate, EscalateInput{Escalation: *e}).Get(ctx, nil); err != nil {
		// The SLA timer still runs: an escalation nobody could see moves on.
		workflow.GetLogger(ctx).Error("escalation not published", "escalation", e.ID, "queue", e.Queue, "error", err)
	}
}

// watchSLA moves an unacknowledged escalation along its queues, then flags it.
func (c *conversation) watchSLA(ctx workflow.Context, id string) {
	workflow.Go(ctx, func(ctx workflow.Context) {
		for {
			e := c.Escalation
			if e == nil || e.ID != id || e.State == turn.EscalationAcknowledged || e.State == turn.EscalationFlagged {
				return
			}
			idx := e.QueueIndex
			wait := e.Deadline.Sub(workflow.Now(ctx))
			if wait > 0 {
				changed, err := workflow.AwaitWithTimeout(ctx, wait, func() bool {
					return c.Escalation == nil || c.Escalation.ID != id || c.Escalation.State == turn.EscalationAcknowledged || c.Escalation.QueueIndex != idx
				})
				if err != nil {
					return // the workflow is cancelled: AwaitWithTimeout would return at once forever
				}
				if changed {
					continue
				}
			}
			if idx+1 < len(e.Queues) {
				workflow.GetLogger(ctx).Warn("escalation not acknowledged within SLA, re-routed", "escalation", id, "from", e.Queue, "to", e.Queues[idx+1].Name)
				c.enqueue(ctx, idx+1)
				continue
			}
			c.flag(ctx)
			return
		}
	})
}

// flag ends an escalation no queue acknowledged: the customer gets the final message
// and ops are alerted. The conversation stays with the humans (waiting_human).
func (c *conversation) flag(ctx workflow.Context) {
	e := c.Escalation
	e.State = turn.EscalationFlagged
	c.escalationMemo(ctx, "")
	workflow.GetLogger(ctx).Error("ALERT escalation not acknowledged by any queue", "escalation", e.ID, "queues", len(e.Queues))
	if c.stuckAware {
		c.refreshStatus(ctx)
	}
	if workflow.GetVersion(ctx, versionFinalMessage, workflow.DefaultVersion, 1) == workflow.DefaultVersion {
		route, err := c.route(ctx)
		if err == nil && e.FinalMessage != "" {
			key := fmt.Sprintf("%s/final", e.ID)
			if _, _, err = c.send(ctx, route, e.FinalMessage, key, "", nil); err != nil {
				workflow.GetLogger(ctx).Error("final escalation message not sent", "escalation", e.ID, "error", err)
			}
		}
	} else if e.FinalMessage != "" {
		c.sendFinal(ctx, e)
	}
	pctx := workflow.WithLocalActivityOptions(ctx, localOptions(turn.Attempt{Timeout: 5 * time.Second, MaxAttempts: 10}))
	_ = workflow.ExecuteLocalActivity(pctx, ActivityEscalate, EscalateInput{Escalation: *e}).Get(ctx, nil)
}

// sendFinal sends the escalation's final message. One that no CPaaS provider could
// send is kept as an unanswered reply, under its own key, for a replay to send.
func (c *conversation) sendFinal(ctx workflow.Context, e *turn.Escalation) {
	key := turn.SendKey{Kind: turn.SendFinalMessage, ConversationID: c.Conversation.ID, Epoch: c.epoch, Ref: e.ID}.Key()
	route, err := c.route(ctx)
	if err == nil {
		_, _, err = c.send(ctx, route, e.FinalMessage, key, "", nil)
	}
	if err == nil {
		return
	}
	workflow.GetLogger(ctx).Error("final escalation message not sent", "escalation", e.ID, "error", err)
	if isRejected(err) {
		return // no provider will ever take it: a replay would not either
	}
	now := workflow.Now(ctx)
	c.unanswered(ctx, turn.Outcome{
		TurnID: e.ID + "/final", ConversationID: c.Conversation.ID, Seq: c.Seq, ReceivedAt: now, AcceptedAt: now,
		Reply: e.FinalMessage, Status: turn.StatusFailed, Reason: "final escalation message not sent: " + errorText(err),
		IdempotencyKey: key,
	})
	if c.stuckAware {
		c.refreshStatus(ctx)
	}
}
