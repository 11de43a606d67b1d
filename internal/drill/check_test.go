package drill

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-cc/switchboard/internal/turn"
	"github.com/switchboard-cc/switchboard/providers/fake"
)

// t0 is the start of the recorded drills below.
var t0 = time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)

const epoch = "run-1"

// cleanHistory records two conversations of three turns each, every turn accepted
// at the first attempt and answered once, in order, plus a canary reply.
func cleanHistory() *History {
	h := &History{Scenario: "t", Start: t0, LoadEnd: t0.Add(time.Minute), SettledAt: t0.Add(2 * time.Minute), Settled: true,
		Transcripts: map[string]turn.Transcript{}, Escalations: []EscalationEvent{}, CanaryCustomers: []string{"+15559990000"}}
	for c := range 2 {
		cust := fmt.Sprintf("+1555000000%d", c)
		conv := turn.ConversationID(turn.VendorTwilio, "sms", cust, "+15550001000")
		h.Conversations = append(h.Conversations, Conversation{ID: conv, Ingress: "twilio_sms", Customer: cust, Business: "+15550001000"})
		tr := turn.Transcript{ConversationID: conv}
		for k := range 3 {
			at := t0.Add(time.Duration(10*k+c) * time.Second)
			id := fmt.Sprintf("twilio:SM%d%d", c, k)
			h.Turns = append(h.Turns, TurnRecord{ID: id, ConversationID: conv, Index: k, Text: "hello",
				Attempts: []Attempt{{API: "http://api", Start: at, End: at.Add(5 * time.Millisecond), Status: 200}}})
			msg := fmt.Sprintf("SMreply%d%d", c, k)
			tr.Turns = append(tr.Turns, turn.Outcome{TurnID: id, ConversationID: conv, Seq: k + 1, Status: turn.StatusReplied,
				NLUProvider: "cx-global", CPaaSProvider: "twilio", MessageID: msg})
			h.Sends = append(h.Sends, fake.Sent{Vendor: "twilio", MessageID: msg, To: cust, Body: "hi",
				IdempotencyKey: turn.IdempotencyKey(conv, epoch, k+1), At: at.Add(80 * time.Millisecond)})
		}
		h.Transcripts[conv] = tr
	}
	h.Sends = append(h.Sends, fake.Sent{Vendor: "twilio", MessageID: "SMcanary", To: "+15559990000", IdempotencyKey: "canary-x/e/1", At: t0})
	return h
}

func conv(h *History, c int) string { return h.Conversations[c].ID }

func requireProblem(t *testing.T, v Verdict, kind string) {
	t.Helper()
	require.False(t, v.Pass, "the verdict must fail")
	for _, p := range v.Problems {
		if p.Kind == kind {
			return
		}
	}
	require.Failf(t, "no problem of the kind", "want %s among %+v", kind, v.Problems)
}

func TestCheck_ACleanDrillPasses(t *testing.T) {
	v := Check(cleanHistory())
	require.True(t, v.Pass, "%+v", v.Problems)
	require.Empty(t, v.Problems)
	n := v.Counts
	require.Equal(t, 6, n.Turns)
	require.Equal(t, 6, n.Accepted)
	require.Equal(t, 6, n.Answered)
	require.Equal(t, 6, n.Replies)
	require.Equal(t, 1, n.CanaryReplies)
	require.Len(t, v.Answers, 6)
	require.Equal(t, 80*time.Millisecond, v.Answers[0].ReplyAt.Sub(v.Answers[0].Turn.Sent()))
}

func TestCheck_AnAcceptedTurnWithNoTraceIsLost(t *testing.T) {
	h := cleanHistory()
	tr := h.Transcripts[conv(h, 0)]
	tr.Turns = tr.Turns[:2]
	h.Transcripts[conv(h, 0)] = tr
	h.Sends = append(h.Sends[:2], h.Sends[3:]...) // and its reply
	v := Check(h)
	requireProblem(t, v, ProblemLost)
	require.Equal(t, 1, v.Counts.Lost)
	require.Equal(t, 1, v.Counts.Unanswered)
}

func TestCheck_AnAcceptedTurnStillInJetStreamIsUnansweredWithItsReason(t *testing.T) {
	h := cleanHistory()
	c := conv(h, 1)
	tr := h.Transcripts[c]
	tr.Turns = tr.Turns[:2]
	h.Transcripts[c] = tr
	var sends []fake.Sent
	for _, s := range h.Sends {
		if s.IdempotencyKey != turn.IdempotencyKey(c, epoch, 3) {
			sends = append(sends, s)
		}
	}
	h.Sends = sends
	h.Stuck = []turn.Stuck{{ConversationID: c, Reasons: []turn.StuckReason{{Source: turn.StuckJetStream, Detail: "1 turn held"}}}}
	v := Check(h)
	requireProblem(t, v, ProblemUnanswered)
	require.Equal(t, 0, v.Counts.Lost)
	require.Equal(t, 1, v.Counts.Unanswered)
	require.Equal(t, 1, v.Counts.Stuck)
	require.Contains(t, v.Problems[0].Detail, "jetstream")
}

func TestCheck_AReplySentTwiceIsADuplicate(t *testing.T) {
	h := cleanHistory()
	again := h.Sends[2]
	again.MessageID, again.Vendor, again.At = "vonage-uuid", "vonage", again.At.Add(time.Second)
	h.Sends = append(h.Sends, again)
	v := Check(h)
	requireProblem(t, v, ProblemDuplicate)
	require.Equal(t, 1, v.Counts.Duplicates)
}

func TestCheck_ATurnProcessedTwiceUnderTwoKeysIsADuplicate(t *testing.T) {
	h := cleanHistory()
	c := conv(h, 0)
	tr := h.Transcripts[c]
	tr.Turns = append(tr.Turns, turn.Outcome{TurnID: tr.Turns[0].TurnID, Seq: 4, Status: turn.StatusReplied, MessageID: "SMagain"})
	h.Transcripts[c] = tr
	h.Sends = append(h.Sends, fake.Sent{Vendor: "twilio", MessageID: "SMagain", To: h.Conversations[0].Customer, IdempotencyKey: turn.IdempotencyKey(c, epoch, 4), At: t0.Add(time.Minute)})
	v := Check(h)
	requireProblem(t, v, ProblemDuplicate)
}

func TestCheck_TurnsTakenOutOfOrderFail(t *testing.T) {
	h := cleanHistory()
	c := conv(h, 1)
	tr := h.Transcripts[c]
	tr.Turns[1].Seq, tr.Turns[2].Seq = 3, 2 // the third turn taken before the second
	h.Transcripts[c] = tr
	v := Check(h)
	requireProblem(t, v, ProblemOutOfOrder)
	require.Equal(t, 1, v.Counts.OutOfOrder)
}

func TestCheck_AReplayedOutcomeIsNoSecondPlace(t *testing.T) {
	h := cleanHistory()
	c := conv(h, 1)
	tr := h.Transcripts[c]
	first := tr.Turns[0]
	first.Replayed, first.Seq = true, 1
	tr.Turns = append(tr.Turns, first)
	h.Transcripts[c] = tr
	v := Check(h)
	require.True(t, v.Pass, "%+v", v.Problems)
}

func TestCheck_AMessageNoTurnAskedForIsUnasked(t *testing.T) {
	for name, s := range map[string]fake.Sent{
		"to a stranger":             {Vendor: "twilio", To: "+15557770000", IdempotencyKey: "twilio-sms-nobody/e/1"},
		"a reply to no turn":        {Vendor: "twilio", To: "+15550000000", IdempotencyKey: "CONV/" + epoch + "/9"},
		"an agent nobody sent":      {Vendor: "twilio", To: "+15550000000", IdempotencyKey: "CONV/" + epoch + "/agent-0123456789ab"},
		"a final message unflagged": {Vendor: "twilio", To: "+15550000000", IdempotencyKey: "CONV/" + epoch + "/final-0123456789ab"},
	} {
		t.Run(name, func(t *testing.T) {
			h := cleanHistory()
			s.IdempotencyKey = replaceConv(s.IdempotencyKey, conv(h, 0))
			s.MessageID, s.At = "SMx", t0
			h.Sends = append(h.Sends, s)
			v := Check(h)
			requireProblem(t, v, ProblemUnasked)
			require.Equal(t, 1, v.Counts.Unasked)
		})
	}
}

func replaceConv(key, conv string) string {
	if len(key) > 4 && key[:4] == "CONV" {
		return conv + key[4:]
	}
	return key
}

func TestCheck_AReplyToAnotherCustomerIsUnasked(t *testing.T) {
	h := cleanHistory()
	h.Sends[0].To = "+15557770000"
	v := Check(h)
	requireProblem(t, v, ProblemUnasked)
}

func TestCheck_AnAgentReplyTheDeskTookIsAskedFor(t *testing.T) {
	h := cleanHistory()
	c := conv(h, 0)
	h.Agents = 1
	h.Desk = []DeskEvent{{Agent: "a", Action: "reply", ConversationID: c, Status: 200}}
	h.Sends = append(h.Sends, fake.Sent{Vendor: "twilio", To: h.Conversations[0].Customer, MessageID: "SMagent", IdempotencyKey: c + "/" + epoch + "/agent-0123456789ab", At: t0})
	v := Check(h)
	require.True(t, v.Pass, "%+v", v.Problems)
}

func TestCheck_AWebhookCutOffIsMayOrMayNot(t *testing.T) {
	h := cleanHistory()
	c := conv(h, 0)
	// A fourth turn whose only attempt was cut off by a kill, and that the stack
	// never stored: nothing is owed.
	h.Turns = append(h.Turns, TurnRecord{ID: "twilio:SMcut", ConversationID: c, Index: 3,
		Attempts: []Attempt{{Start: t0.Add(40 * time.Second), End: t0.Add(41 * time.Second), Error: "EOF", CutOff: true}}})
	v := Check(h)
	require.True(t, v.Pass, "%+v", v.Problems)
	require.Equal(t, 1, v.Counts.Maybe)
	require.Equal(t, 0, v.Counts.MaybeStored)
	require.Equal(t, 1, v.Counts.CutOff)

	// Stored after all, and then not answered: that is owed, and fails.
	tr := h.Transcripts[c]
	tr.Turns = append(tr.Turns, turn.Outcome{TurnID: "twilio:SMcut", Seq: 4, Status: turn.StatusFailed, Reason: "reply not sent: every provider failed"})
	h.Transcripts[c] = tr
	v = Check(h)
	requireProblem(t, v, ProblemUnanswered)
	require.Equal(t, 1, v.Counts.MaybeStored)
}

func TestCheck_ForwardedTurnsNeedAnAcknowledgedEscalation(t *testing.T) {
	h := cleanHistory()
	c := conv(h, 1)
	tr := h.Transcripts[c]
	tr.Turns[2].Status, tr.Turns[2].MessageID = turn.StatusForwarded, ""
	h.Transcripts[c] = tr
	h.Sends = h.Sends[:len(h.Sends)-2] // the canary's and conversation 1's last reply
	h.Agents = 1
	h.Escalations = []EscalationEvent{{ID: c + "/esc-1", ConversationID: c, Queue: "tier1", State: turn.EscalationQueued}}
	v := Check(h)
	requireProblem(t, v, ProblemUnanswered)

	h.Desk = []DeskEvent{{Agent: "a", Action: "ack", EscalationID: c + "/esc-1", ConversationID: c, Status: 200}}
	v = Check(h)
	require.True(t, v.Pass, "%+v", v.Problems)
	require.Equal(t, 1, v.Counts.ByHuman)
	require.Equal(t, 1, v.Counts.Escalations)
	require.Equal(t, 1, v.Counts.Acknowledged)
}

func TestCheck_ATranscriptThatClaimsAReplyNoVendorHasFails(t *testing.T) {
	h := cleanHistory()
	h.Sends = h.Sends[1:]
	v := Check(h)
	requireProblem(t, v, ProblemUnanswered)
	require.Contains(t, v.Problems[0].Detail, "no fake has that message")
}

func TestCheck_AnUnreadableTranscriptFails(t *testing.T) {
	h := cleanHistory()
	delete(h.Transcripts, conv(h, 0))
	h.Unreadable = map[string]string{conv(h, 0): "503 Service Unavailable"}
	v := Check(h)
	requireProblem(t, v, ProblemUnreadable)
}

func TestCheck_ATurnTheDrillNeverSentFails(t *testing.T) {
	h := cleanHistory()
	c := conv(h, 0)
	tr := h.Transcripts[c]
	tr.Turns = append(tr.Turns, turn.Outcome{TurnID: "api:someone-else", Seq: 4, Status: turn.StatusFailed})
	h.Transcripts[c] = tr
	v := Check(h)
	requireProblem(t, v, ProblemUnknownTurn)
}
