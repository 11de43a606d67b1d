package workflows

import (
	"go.temporal.io/sdk/workflow"

	"github.com/switchboard-cc/switchboard/internal/turn"
)

// Voice turns. A caller's turn is answered on the call itself: the webhook that
// posted the turn (or the wait URL it redirected the call to) waits for the
// outcome and speaks its reply, so the workflow understands the turn and decides
// about escalation exactly as for text, but sends nothing through a CPaaS
// provider. What the caller did not hear (a hang-up mid-turn) the API may send by
// SMS later, through the send path, under the turn's own idempotency key.

// voice reports whether the conversation's turns are answered on a call. Histories
// recorded before versionVoice sent voice turns' replies as text.
func (c *conversation) voice(ctx workflow.Context) bool {
	return c.Conversation.Channel == turn.ChannelVoice &&
		workflow.GetVersion(ctx, versionVoice, workflow.DefaultVersion, 1) >= 1
}

// processCall handles one voice turn: understand it, escalate if it must, and
// leave the reply to be spoken. A turn carrying Escalate (the call's hand-off
// options all failed) escalates at once.
func (c *conversation) processCall(ctx workflow.Context, route turn.Route, t turn.Turn, out turn.Outcome) turn.Outcome {
	out.Spoken = true
	var escalation string
	if t.Escalate != "" {
		escalation = t.Escalate
	} else {
		escalation = c.understand(ctx, route, t, &out)
		if escalation != "" && out.Reply == "" {
			out.Reply = route.Escalation.EscalatingReply
		}
		if out.Reply == "" {
			out.Reply = route.FallbackReply
		}
	}
	out.Status = turn.StatusReplied
	if escalation != "" && c.Conversation.Canary {
		workflow.GetLogger(ctx).Warn("canary turn would have escalated", "reason", escalation)
		escalation = ""
	}
	if escalation != "" {
		out.Escalation = escalation
		c.escalate(ctx, route.Escalation, escalation, t.Text)
		out.Status = turn.StatusEscalated
	}
	return out
}
