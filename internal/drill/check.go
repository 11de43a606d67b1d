package drill

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/switchboard-cc/switchboard/internal/turn"
	"github.com/switchboard-cc/switchboard/providers/fake"
)

// Verdict is what the checker decided from a History.
type Verdict struct {
	Pass   bool   `json:"pass"`
	Counts Counts `json:"counts"`
	// Problems are the broken promises, one per turn or send.
	Problems []Problem `json:"problems"`
	// Stuck are the drill's conversations the stack lists as stuck, with why.
	Stuck []turn.Stuck `json:"stuck"`
	// Answers are the turns answered through a vendor, for the figures.
	Answers []Answer `json:"-"`
}

// Answer is how one turn was answered.
type Answer struct {
	Turn    TurnRecord
	ReplyAt time.Time // when the first reply reached a vendor's fake
	NLU     string    // the provider that understood it
	CPaaS   string    // the provider that sent the first reply
}

// Counts are the verdict's figures.
type Counts struct {
	Turns    int `json:"turns"`    // sent by the drill
	Accepted int `json:"accepted"` // answered 2xx (after retries)
	// Maybe turns got no 2xx, but a webhook of theirs was cut off (by a kill, say):
	// they may or may not be stored. MaybeStored of them were.
	Maybe       int `json:"maybe"`
	MaybeStored int `json:"maybe_stored"`
	Refused     int `json:"refused"` // never accepted, and never cut off
	CutOff      int `json:"cut_off_attempts"`
	Retried     int `json:"retried_turns"` // turns that needed more than one attempt

	Answered   int `json:"answered"`     // exactly one reply reached a vendor (or more: see Duplicates)
	ByHuman    int `json:"by_human"`     // forwarded to an escalation a human acknowledged
	Unanswered int `json:"unanswered"`   // owed an answer, and got none (stuck or lost)
	Lost       int `json:"lost"`         // of those, no trace in the transcript or the stuck list
	Duplicates int `json:"duplicates"`   // sends beyond the first under one idempotency key
	OutOfOrder int `json:"out_of_order"` // turns taken after a turn the customer sent later
	Unasked    int `json:"unasked"`      // sends no turn, agent or escalation asked for

	Replies       int `json:"replies"`        // sends in the outbox, the canary's excluded
	CanaryReplies int `json:"canary_replies"` // the stack canary's
	Escalations   int `json:"escalations"`    // distinct escalations handed to a queue
	Acknowledged  int `json:"acknowledged"`   // of those, acknowledged by a drill agent
	Flagged       int `json:"flagged"`        // no queue acknowledged them: the final message went out
	Stuck         int `json:"stuck"`          // conversations
	Skipped       int `json:"skipped"`        // turns the load could not send (every conversation busy)
}

// Kinds of problems.
const (
	ProblemLost        = "lost"
	ProblemUnanswered  = "unanswered"
	ProblemDuplicate   = "duplicate"
	ProblemOutOfOrder  = "out_of_order"
	ProblemUnasked     = "unasked"
	ProblemUnreadable  = "unreadable"
	ProblemUnknownTurn = "unknown_turn"
)

// Problem is one broken promise.
type Problem struct {
	Kind           string `json:"kind"`
	ConversationID string `json:"conversation_id,omitempty"`
	TurnID         string `json:"turn_id,omitempty"`
	Detail         string `json:"detail"`
}

// Check decides, from the record alone:
//   - every turn answered 2xx, and every turn the stack took whatever it answered,
//     has exactly one reply in the outbox (or, forwarded to a human, an escalation
//     a drill agent acknowledged; without agents, one handed to a queue and not
//     flagged);
//   - each conversation's turns were taken in the order the customer sent them;
//   - nothing was sent that no turn, agent or flagged escalation asked for;
//   - a turn whose webhooks were all cut off is "may or may not": owed an answer
//     only if the stack took it.
//
// A turn owed an answer and given none is unanswered, with the stuck list's reason
// when the stack lists it, and lost when nothing shows it at all.
func Check(h *History) Verdict {
	c := checker{h: h, v: Verdict{Problems: []Problem{}, Stuck: []turn.Stuck{}}}
	c.index()
	c.turns()
	c.order()
	c.sends()
	c.escalationCounts()
	v := c.v
	n := v.Counts
	v.Pass = n.Lost == 0 && n.Unanswered == 0 && n.Duplicates == 0 && n.OutOfOrder == 0 && n.Unasked == 0 &&
		!slices.ContainsFunc(v.Problems, func(p Problem) bool { return p.Kind == ProblemUnreadable || p.Kind == ProblemUnknownTurn })
	return v
}

type checker struct {
	h *History
	v Verdict

	convs    map[string]Conversation
	canary   map[string]bool
	byKey    map[string][]fake.Sent
	byMsgID  map[string]fake.Sent
	epochs   map[string][]string // conversation → the epochs its send keys carry
	claimed  map[string]bool     // keys some turn accounts for
	turnIdx  map[string]TurnRecord
	stuck    map[string]turn.Stuck
	acked    map[string]bool // escalation ids a drill agent acknowledged
	queued   map[string][]EscalationEvent
	agentOut map[string]int // agent replies the desk accepted, by conversation
}

func bare(addr string) string { return strings.TrimPrefix(addr, "+") }

// keyParts splits an idempotency key: <conversation>/<epoch>/<seq or kind-ref>.
func keyParts(key string) (conv, epoch, rest string) {
	conv, after, _ := strings.Cut(key, "/")
	epoch, rest, _ = strings.Cut(after, "/")
	return conv, epoch, rest
}

func (c *checker) problem(kind, conv, turnID, format string, args ...any) {
	c.v.Problems = append(c.v.Problems, Problem{Kind: kind, ConversationID: conv, TurnID: turnID, Detail: fmt.Sprintf(format, args...)})
}

func (c *checker) index() {
	h := c.h
	c.convs, c.canary = map[string]Conversation{}, map[string]bool{}
	for _, cv := range h.Conversations {
		c.convs[cv.ID] = cv
	}
	for _, a := range h.CanaryCustomers {
		c.canary[bare(a)] = true
	}
	c.byKey, c.byMsgID, c.epochs, c.claimed = map[string][]fake.Sent{}, map[string]fake.Sent{}, map[string][]string{}, map[string]bool{}
	for _, s := range h.Sends {
		if s.Canary || c.canary[bare(s.To)] {
			c.v.Counts.CanaryReplies++
			continue
		}
		c.v.Counts.Replies++
		c.byKey[s.IdempotencyKey] = append(c.byKey[s.IdempotencyKey], s)
		if s.MessageID != "" {
			c.byMsgID[s.MessageID] = s
		}
		conv, epoch, _ := keyParts(s.IdempotencyKey)
		if !slices.Contains(c.epochs[conv], epoch) {
			c.epochs[conv] = append(c.epochs[conv], epoch)
		}
	}
	c.turnIdx = map[string]TurnRecord{}
	for _, t := range h.Turns {
		c.turnIdx[t.ID] = t
	}
	c.stuck = map[string]turn.Stuck{}
	for _, s := range h.Stuck {
		if _, ok := c.convs[s.ConversationID]; ok {
			c.stuck[s.ConversationID] = s
			c.v.Stuck = append(c.v.Stuck, s)
		}
	}
	c.v.Counts.Stuck = len(c.v.Stuck)
	c.acked, c.agentOut = map[string]bool{}, map[string]int{}
	for _, d := range h.Desk {
		if !d.OK() {
			continue
		}
		switch d.Action {
		case "ack":
			c.acked[d.EscalationID] = true
		case "reply":
			c.agentOut[d.ConversationID]++
		}
	}
	c.queued = map[string][]EscalationEvent{}
	for _, e := range h.Escalations {
		c.queued[e.ConversationID] = append(c.queued[e.ConversationID], e)
	}
	for id := range h.Unreadable {
		c.problem(ProblemUnreadable, id, "", "its transcript could not be read: %s", h.Unreadable[id])
	}
}

// turns decides every turn the drill sent.
func (c *checker) turns() {
	n := &c.v.Counts
	n.Skipped = c.h.Skipped
	for _, t := range c.h.Turns {
		n.Turns++
		for _, a := range t.Attempts {
			if a.CutOff {
				n.CutOff++
			}
		}
		if len(t.Attempts) > 1 {
			n.Retried++
		}
		fate := t.Fate()
		var outs []turn.Outcome
		tr := c.h.Transcripts[t.ConversationID]
		for _, o := range tr.Turns {
			if o.TurnID == t.ID {
				outs = append(outs, o)
			}
		}
		switch fate {
		case FateAccepted:
			n.Accepted++
		case FateMaybe:
			n.Maybe++
			if len(outs) > 0 {
				n.MaybeStored++
			}
		default:
			n.Refused++
		}
		if fate != FateAccepted && len(outs) == 0 {
			continue // not stored: nothing is owed
		}
		if _, bad := c.h.Unreadable[t.ConversationID]; bad {
			continue // reported as unreadable
		}
		keys := c.keysOf(t.ConversationID, outs)
		sends := 0
		for _, k := range keys {
			c.claimed[k] = true
			sends += len(c.byKey[k])
		}
		if sends > 1 {
			n.Duplicates += sends - 1
			c.problem(ProblemDuplicate, t.ConversationID, t.ID, "%d replies reached the vendors for one turn (keys %s)", sends, strings.Join(keys, ", "))
		}
		if sends >= 1 {
			n.Answered++
			c.answer(t, outs, keys)
			continue
		}
		c.unanswered(t, outs)
	}
}

// answer records when and through whom the turn was answered.
func (c *checker) answer(t TurnRecord, outs []turn.Outcome, keys []string) {
	a := Answer{Turn: t}
	for _, k := range keys {
		for _, s := range c.byKey[k] {
			if a.ReplyAt.IsZero() || s.At.Before(a.ReplyAt) {
				a.ReplyAt, a.CPaaS = s.At, s.Vendor
			}
		}
	}
	for _, o := range outs {
		if o.NLUProvider != "" {
			a.NLU = o.NLUProvider
		}
		if o.CPaaSProvider != "" {
			a.CPaaS = o.CPaaSProvider
		}
	}
	c.v.Answers = append(c.v.Answers, a)
}

// keysOf are the idempotency keys that answer a turn: those of the messages its
// outcomes name, and its bot-reply key in each of its conversation's epochs.
func (c *checker) keysOf(conv string, outs []turn.Outcome) []string {
	var keys []string
	add := func(k string) {
		if k != "" && !slices.Contains(keys, k) {
			keys = append(keys, k)
		}
	}
	for _, o := range outs {
		if s, ok := c.byMsgID[o.MessageID]; ok && o.MessageID != "" {
			add(s.IdempotencyKey)
		}
		for _, e := range c.epochs[conv] {
			if len(c.byKey[turn.IdempotencyKey(conv, e, o.Seq)]) > 0 {
				add(turn.IdempotencyKey(conv, e, o.Seq))
			}
		}
	}
	return keys
}

// unanswered files a turn owed an answer that no vendor got.
func (c *checker) unanswered(t TurnRecord, outs []turn.Outcome) {
	n := &c.v.Counts
	if len(outs) == 0 {
		if s, ok := c.stuck[t.ConversationID]; ok {
			n.Unanswered++
			c.problem(ProblemUnanswered, t.ConversationID, t.ID, "accepted, never processed; stuck: %s", stuckText(s))
			return
		}
		n.Unanswered++
		n.Lost++
		c.problem(ProblemLost, t.ConversationID, t.ID, "accepted with a 2xx, and neither its transcript nor the stuck list knows it")
		return
	}
	last := outs[len(outs)-1]
	if last.Status == turn.StatusForwarded {
		ok, why := c.humanHas(t.ConversationID)
		if ok {
			n.ByHuman++
			return
		}
		n.Unanswered++
		c.problem(ProblemUnanswered, t.ConversationID, t.ID, "forwarded to a human, but %s", why)
		return
	}
	n.Unanswered++
	detail := fmt.Sprintf("%s: %s", last.Status, last.Reason)
	if last.Status == turn.StatusReplied || last.Status == turn.StatusEscalated {
		detail = fmt.Sprintf("the transcript says %s (message %s through %s), and no fake has that message", last.Status, last.MessageID, last.CPaaSProvider)
	}
	if s, ok := c.stuck[t.ConversationID]; ok {
		detail += "; stuck: " + stuckText(s)
	}
	c.problem(ProblemUnanswered, t.ConversationID, t.ID, "%s", detail)
}

// humanHas reports whether a human has the conversation's escalation: a drill agent
// acknowledged it, or, when no agents work the desk, a queue holds it unflagged.
func (c *checker) humanHas(conv string) (bool, string) {
	evs := c.queued[conv]
	if c.h.Agents == 0 {
		flagged := slices.ContainsFunc(evs, func(e EscalationEvent) bool { return e.State == turn.EscalationFlagged })
		queued := slices.ContainsFunc(evs, func(e EscalationEvent) bool { return e.State != turn.EscalationFlagged })
		switch {
		case flagged:
			return false, "its escalation was flagged: no queue acknowledged it"
		case queued || c.h.Escalations == nil:
			return true, ""
		}
		return false, "no escalation of it reached a queue"
	}
	for _, d := range c.h.Desk {
		if d.ConversationID == conv && d.Action == "ack" && d.OK() {
			return true, ""
		}
	}
	return false, "no agent acknowledged its escalation"
}

func stuckText(s turn.Stuck) string {
	var parts []string
	for _, r := range s.Reasons {
		parts = append(parts, r.Source+" ("+r.Detail+")")
	}
	return strings.Join(parts, "; ")
}

// order checks, per conversation, that the workflow took the turns in the order
// the customer sent them (each only once the one before was accepted).
func (c *checker) order() {
	for _, id := range sortedKeys(c.h.Transcripts) {
		if _, ok := c.convs[id]; !ok {
			continue
		}
		outs := slices.Clone(c.h.Transcripts[id].Turns)
		slices.SortStableFunc(outs, func(a, b turn.Outcome) int { return a.Seq - b.Seq })
		seen := map[string]bool{}
		latest, latestID := -1, ""
		for _, o := range outs {
			if o.Replayed || seen[o.TurnID] {
				continue // a replay's outcome repeats a turn already placed
			}
			seen[o.TurnID] = true
			t, ok := c.turnIdx[o.TurnID]
			if !ok {
				c.problem(ProblemUnknownTurn, id, o.TurnID, "the transcript holds a turn the drill never sent")
				continue
			}
			if t.Index < latest {
				c.v.Counts.OutOfOrder++
				c.problem(ProblemOutOfOrder, id, o.TurnID, "turn %d of the conversation was taken (seq %d) after turn %d (%s)", t.Index+1, o.Seq, latest+1, latestID)
			}
			if t.Index > latest {
				latest, latestID = t.Index, o.TurnID
			}
		}
	}
}

// sends finds the messages no turn accounts for: each must be an agent's reply or a
// flagged escalation's final message of a drill conversation, to its customer.
func (c *checker) sends() {
	n := &c.v.Counts
	agentKeys := map[string][]string{}
	for _, key := range sortedKeys(c.byKey) {
		list := c.byKey[key]
		conv, _, rest := keyParts(key)
		cv, ours := c.convs[conv]
		for _, s := range list {
			if ours && bare(s.To) != bare(cv.Customer) {
				n.Unasked++
				c.problem(ProblemUnasked, conv, "", "%s sent %q to %s, who is not the conversation's customer (key %s)", s.Vendor, s.Body, s.To, key)
			}
		}
		if c.claimed[key] {
			continue
		}
		switch {
		case !ours:
			n.Unasked += len(list)
			c.problem(ProblemUnasked, conv, "", "%d message(s) to %s under key %s: no conversation of the drill", len(list), list[0].To, key)
			continue
		case strings.HasPrefix(rest, string(turn.SendAgentReply)+"-"):
			agentKeys[conv] = append(agentKeys[conv], key)
		case strings.HasPrefix(rest, string(turn.SendFinalMessage)+"-"):
			if !slices.ContainsFunc(c.queued[conv], func(e EscalationEvent) bool { return e.State == turn.EscalationFlagged }) && c.h.Escalations != nil {
				n.Unasked += len(list)
				c.problem(ProblemUnasked, conv, "", "a final escalation message (key %s), and no escalation of the conversation was flagged", key)
				continue
			}
		default:
			n.Unasked += len(list)
			c.problem(ProblemUnasked, conv, "", "%d message(s) under key %s answer no turn of the conversation: %q", len(list), key, list[0].Body)
			continue
		}
		if len(list) > 1 {
			n.Duplicates += len(list) - 1
			c.problem(ProblemDuplicate, conv, "", "%d messages under key %s", len(list), key)
		}
	}
	for _, conv := range sortedKeys(agentKeys) {
		if extra := len(agentKeys[conv]) - c.agentOut[conv]; extra > 0 {
			n.Unasked += extra
			c.problem(ProblemUnasked, conv, "", "%d agent messages, and the desk accepted %d agent replies", len(agentKeys[conv]), c.agentOut[conv])
		}
	}
}

func (c *checker) escalationCounts() {
	ids, flagged := map[string]bool{}, map[string]bool{}
	for _, e := range c.h.Escalations {
		if _, ok := c.convs[e.ConversationID]; !ok {
			continue
		}
		if e.State == turn.EscalationFlagged {
			flagged[e.ID] = true
		} else {
			ids[e.ID] = true
		}
	}
	c.v.Counts.Escalations, c.v.Counts.Flagged, c.v.Counts.Acknowledged = len(ids), len(flagged), len(c.acked)
}
