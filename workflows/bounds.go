package workflows

import (
	"fmt"
	"slices"

	"go.temporal.io/sdk/temporal"

	"github.com/switchboard-cc/switchboard/internal/turn"
)

// Bounded state. Everything a run carries into the next by continue-as-new is one
// payload, and Temporal refuses payloads over 2 MB (and warns over 512 KB). Each
// carried list is bounded in count and in encoded bytes, so that the whole State
// stays under about 800 KB, far below the limit, however long the outage or the texts
// (TestBounds_AConversationFilledPastEveryBound_ContinuesAsNewFarBelowThePayloadLimit
// measures it):
//
//   - Pending: Options.MaxPending turns (default 100) and maxPendingBytes. A turn
//     past the bound is refused by the turn update's validator with an
//     ErrTypeBusy application error. Nothing is recorded in the workflow; the
//     caller keeps the turn and delivers it again later (the bridge: nak with a
//     delay, never the dead-letter stream). Backpressure rather than a canned
//     "we're busy" reply: every turn still gets its real answer, in order.
//   - Transcript: Options.TranscriptTurns outcomes and maxTranscriptBytes, the
//     oldest dropped first (they were published when they were recorded).
//   - Unanswered: maxUnanswered outcomes and maxUnansweredBytes. Over the bytes,
//     the customer's text of the oldest is dropped first (a resend needs only the
//     reply), then the oldest themselves, with an error in the log.
//   - Recent: Options.DedupeTurns ids and maxRecentBytes; a turn id is at most
//     maxTurnIDBytes.
//   - Held: maxHeld turns, each Detail at most maxHeldDetailBytes.
const (
	// ErrTypeBusy is the type of the turn update's rejection when the conversation
	// already holds its bound of pending turns. The turn was not accepted: deliver
	// it again later.
	ErrTypeBusy = "ConversationBusy"

	maxPendingBytes    = 160 << 10
	maxTranscriptBytes = 128 << 10
	maxUnansweredBytes = 192 << 10
	maxRecentBytes     = 64 << 10
	maxTurnIDBytes     = turn.MaxIDBytes
	maxHeld            = 50
	maxHeldDetailBytes = 200
)

// strSize bounds the encoded size of s as a JSON string from above, without
// encoding it: '<', '>', '&', control and non-ASCII bytes count as "\u00XX".
func strSize(s string) int {
	n := 2
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"' || c == '\\':
			n += 2
		case c < 0x20 || c == '<' || c == '>' || c == '&' || c >= 0x80:
			n += 6
		default:
			n++
		}
	}
	return n
}

// fieldsOverhead bounds the encoded size of a turn's or an outcome's field names,
// numbers and timestamps.
const fieldsOverhead = 640

func pendingSize(p PendingTurn) int {
	t := p.Turn
	n := fieldsOverhead + strSize(t.ID) + strSize(t.ConversationID) + strSize(t.Vendor) + strSize(t.Channel) + strSize(t.From) + strSize(t.To) + strSize(t.Text)
	if p.Resend != nil {
		n += outcomeSize(*p.Resend)
	}
	return n
}

func outcomeSize(o turn.Outcome) int {
	return fieldsOverhead + strSize(o.TurnID) + strSize(o.ConversationID) + strSize(o.Text) + strSize(o.Intent) + strSize(o.Reply) +
		strSize(o.NLUProvider) + strSize(o.CPaaSProvider) + strSize(o.MessageID) + strSize(o.Status) + strSize(o.Reason) +
		strSize(o.Escalation) + strSize(o.IdempotencyKey)
}

// admit refuses a new turn that would take the conversation past its bound of
// pending turns. A duplicate is always admitted: accept answers it from memory.
func (c *conversation) admit(t turn.Turn) error {
	if len(t.ID) > maxTurnIDBytes {
		return turn.FieldError{Field: "id", Reason: fmt.Sprintf("is longer than %d bytes", maxTurnIDBytes)}
	}
	if c.seen[t.ID] {
		return nil // validators do not run on replay, so the bound needs no version
	}
	size := pendingSize(PendingTurn{Turn: t, Seq: c.Seq + 1})
	if len(c.Pending) >= c.Options.MaxPending || c.pendingBytes+size > maxPendingBytes {
		return temporal.NewApplicationErrorWithOptions(
			fmt.Sprintf("conversation %s is busy: %d turns (%d bytes) wait to be processed, the bound is %d turns or %d bytes; deliver turn %s again later",
				c.Conversation.ID, len(c.Pending), c.pendingBytes, c.Options.MaxPending, maxPendingBytes, t.ID),
			ErrTypeBusy, temporal.ApplicationErrorOptions{NonRetryable: true})
	}
	return nil
}

// trimOutcomes drops the oldest outcomes until the rest encode in max bytes.
func trimOutcomes(outs []turn.Outcome, max int) []turn.Outcome {
	total := 0
	for i := len(outs) - 1; i >= 0; i-- {
		total += outcomeSize(outs[i]) + 1
		if total > max {
			return slices.Clone(outs[i+1:])
		}
	}
	return outs
}

// trimUnanswered bounds the unanswered replies in bytes: the customer's text of the
// oldest goes first, then the oldest replies. It returns how many were dropped.
func trimUnanswered(outs []turn.Outcome, max int) ([]turn.Outcome, int) {
	size := func() int {
		n := 0
		for _, o := range outs {
			n += outcomeSize(o) + 1
		}
		return n
	}
	total := size()
	if total <= max {
		return outs, 0
	}
	outs = slices.Clone(outs)
	for i := range outs {
		if total <= max {
			return outs, 0
		}
		total -= strSize(outs[i].Text) - strSize("")
		outs[i].Text = ""
	}
	kept := trimOutcomes(outs, max)
	return kept, len(outs) - len(kept)
}

// trimRecent drops the oldest dedupe ids until the rest encode in max bytes, and
// forgets them.
func (c *conversation) trimRecent(max int) {
	total := 0
	for i := len(c.Recent) - 1; i >= 0; i-- {
		total += strSize(c.Recent[i]) + 1
		if total > max {
			for _, id := range c.Recent[:i+1] {
				delete(c.seen, id)
			}
			c.Recent = slices.Clone(c.Recent[i+1:])
			return
		}
	}
}

// boundHeld keeps the most recent maxHeld held turns, with short details.
func boundHeld(held []HeldTurn) []HeldTurn {
	if over := len(held) - maxHeld; over > 0 {
		held = slices.Clone(held[over:])
	}
	for i := range held {
		if d := held[i].Detail; len(d) > maxHeldDetailBytes {
			held[i].Detail = d[:maxHeldDetailBytes]
		}
	}
	return held
}
