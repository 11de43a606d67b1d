package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/switchboard-cc/switchboard/internal/turn"
	"github.com/switchboard-cc/switchboard/providers/fake"
)

// The dev policy's chat channel replies through webchat, a webhook provider that
// dev points at its fake chat receiver, and lists no SMS vendor.

// postChat posts a chat turn to the business to the JSON API and returns the
// status and answer.
func (s *stack) postChat(t *testing.T, query, messageID, from, text string) (int, map[string]any) {
	t.Helper()
	return s.postTurn(t, query, fmt.Sprintf(`{"message_id":%q,"channel":"chat","from":%q,"to":%q,"text":%q}`, messageID, from, business, text))
}

// postTurn posts body to POST /v1/turns (with the ops token) and returns the status
// and answer.
func (s *stack) postTurn(t *testing.T, query, body string) (int, map[string]any) {
	t.Helper()
	resp, err := http.Post(s.API+"/v1/turns"+query, "application/json", strings.NewReader(body))
	require.NoError(t, err)
	defer resp.Body.Close()
	var m map[string]any
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&m))
	return resp.StatusCode, m
}

// smsSent lists what the Twilio and Vonage fakes were asked to send, the stack
// canary's replies left out.
func smsSent(o *fake.Outbox) []fake.Sent {
	var out []fake.Sent
	for _, m := range o.List() {
		if (m.Vendor == "twilio" || m.Vendor == "vonage") && !m.Canary {
			out = append(out, m)
		}
	}
	return out
}

func TestWebChat_AJSONAPIChatTurn_GetsItsReplyInTheWaitAndOneSignedPOST_AndNoSMS(t *testing.T) {
	s := startStack(t, "")
	const visitor = "+15552220001"
	conv := turn.ConversationID(turn.VendorAPI, turn.ChannelChat, visitor, business)

	code, m := s.postChat(t, "?wait=10s", "w1", visitor, "what are your hours")
	require.Equal(t, http.StatusOK, code, m)
	require.Equal(t, "replied", m["status"])
	require.Equal(t, "webchat", m["cpaas_provider"])
	require.Contains(t, m["reply"], "open Monday")

	sent := sentTo(s.Outbox, visitor)
	require.Len(t, sent, 1, "the chat receiver holds the one reply")
	got := sent[0]
	require.Equal(t, "webchat", got.Vendor)
	require.Equal(t, "chat", got.Channel)
	require.Equal(t, business, got.From)
	require.Equal(t, m["reply"], got.Body)
	require.Equal(t, conv, got.ConversationID)
	require.Equal(t, "api:w1", got.TurnID)
	require.Equal(t, 1, got.Deliveries, "one signed POST, verified by the receiver")
	require.Empty(t, smsSent(s.Outbox), "a chat reply leaves no SMS")

	// The same reply in the events stream, for backends that follow it.
	nc, err := nats.Connect(s.NATS)
	require.NoError(t, err)
	defer nc.Close()
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cons, err := js.OrderedConsumer(ctx, turn.EventsStream, jetstream.OrderedConsumerConfig{FilterSubjects: []string{turn.EventSubject(conv)}})
	require.NoError(t, err)
	msg, err := cons.Next(jetstream.FetchMaxWait(5 * time.Second))
	require.NoError(t, err)
	var o turn.Outcome
	require.NoError(t, json.Unmarshal(msg.Data(), &o))
	require.Equal(t, "api:w1", o.TurnID)
	require.Equal(t, "webchat", o.CPaaSProvider)
	require.Equal(t, got.MessageID, o.MessageID)

	// /dev/outbox shows it as the tour does, and the breaker has its own row.
	resp, err := http.Get(s.API + "/dev/outbox?to=" + strings.ReplaceAll(visitor, "+", "%2B"))
	require.NoError(t, err)
	var listed []fake.Sent
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&listed))
	resp.Body.Close()
	require.Len(t, listed, 1)
	require.Equal(t, "webchat", listed[0].Vendor)
	require.Equal(t, "closed", providerState(t, s.API, "webchat").State)

	quiet(t, s.NATS, 30*time.Second)
	require.Len(t, sentTo(s.Outbox, visitor), 1)
	require.Equal(t, 1, sentTo(s.Outbox, visitor)[0].Deliveries)
	require.Empty(t, smsSent(s.Outbox))
}

func TestWebChat_ReceiverDown_TheBreakerOpens_AndEachReplyArrivesOnceWhenItIsBack(t *testing.T) {
	s := startStack(t, "")
	s.fault(t, fake.Fault{Provider: "webchat", Mode: fake.ModeDown})
	visitors := []string{"+15552230001", "+15552230002", "+15552230003"}
	for i, v := range visitors {
		code, m := s.postChat(t, "?wait=15s", fmt.Sprintf("down-%d", i), v, "what are your hours")
		require.Equal(t, http.StatusOK, code, m)
		require.Equal(t, "failed", m["status"], "nothing could deliver the reply: %v", m)
	}
	require.Eventually(t, func() bool { return providerState(t, s.API, "webchat").State == "open" },
		15*time.Second, 100*time.Millisecond, "the receiver's breaker opens")
	require.Empty(t, s.Outbox.List(), "nothing reached anybody while the receiver was down")
	// Its own breaker: the SMS vendors' are untouched.
	require.Equal(t, "closed", providerState(t, s.API, "twilio").State)

	s.fault(t, fake.Fault{Provider: "webchat", Mode: fake.ModeOK})
	for _, v := range visitors {
		conv := turn.ConversationID(turn.VendorAPI, turn.ChannelChat, v, business)
		require.Eventually(t, func() bool {
			tr, ok := s.tryTranscript(conv)
			return ok && done(tr, 1) && tr.Escalation == nil
		}, 90*time.Second, 250*time.Millisecond, "%s answered by the redrive, its outage escalation closed", v)
	}
	quiet(t, s.NATS, 60*time.Second)
	for _, v := range visitors {
		got := sentTo(s.Outbox, v)
		require.Len(t, got, 1, "%s: one reply", v)
		require.Equal(t, "webchat", got[0].Vendor)
		require.Equal(t, 1, got[0].Deliveries, "%s: posted once", v)
		require.Contains(t, got[0].Body, "open Monday")
	}
	require.Empty(t, smsSent(s.Outbox), "no SMS in place of a chat reply")
	require.NotEqual(t, "open", providerState(t, s.API, "webchat").State, "the probes brought the receiver back")
}
