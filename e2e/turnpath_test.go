package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-cc/switchboard/internal/testmsg"
	"github.com/switchboard-cc/switchboard/internal/turn"
)

const business = "+15550001000"

func TestSignedTwilioWebhook_ReplyLeavesOnce_DuplicateAndForgeryChangeNothing(t *testing.T) {
	s := startStack(t, "")
	customer := "+15551230001"
	msg := testmsg.Message{Vendor: "twilio", From: customer, To: business, Text: "where is my order", MessageID: "SM00000000000000000000000000000001"}

	code, body, _ := s.send(t, msg)
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, body, "<Response")
	sent := s.waitOutbox(t, customer, 1)
	require.Equal(t, "twilio", sent[0].Vendor)
	require.Equal(t, business, sent[0].From)
	require.Contains(t, sent[0].Body, "follow your order")
	require.NotEmpty(t, sent[0].IdempotencyKey)

	// Twilio retries the same webhook: accepted again, answered never again.
	code, _, _ = s.send(t, msg)
	require.Equal(t, http.StatusOK, code)

	// A forged webhook (signed with another token) is refused and stored nowhere.
	forger := s.signer
	forger.TwilioAuthToken = "notthetoken000000000000000000000"
	req, _, err := forger.Request(context.Background(), s.API, testmsg.Message{Vendor: "twilio", From: customer, To: business, Text: "hi"})
	require.NoError(t, err)
	code, _, _ = do(t, req, "")
	require.Equal(t, http.StatusForbidden, code)

	// An unsigned one too.
	req, _, err = s.signer.Request(context.Background(), s.API, testmsg.Message{Vendor: "twilio", From: customer, To: business, Text: "hi"})
	require.NoError(t, err)
	req.Header.Del("X-Twilio-Signature")
	code, _, _ = do(t, req, "")
	require.Equal(t, http.StatusForbidden, code)

	// A later genuine turn proves the pipeline drained everything before it.
	code, _, _ = s.send(t, testmsg.Message{Vendor: "twilio", From: customer, To: business, Text: "when are you open"})
	require.Equal(t, http.StatusOK, code)
	sent = s.waitOutbox(t, customer, 2)
	require.Len(t, sent, 2, "the duplicate webhook must not cause a second reply")
	require.Contains(t, sent[1].Body, "open Monday")

	tr := s.transcript(t, turn.ConversationID("twilio", "sms", customer, business))
	require.Len(t, tr.Turns, 2)
	require.Equal(t, "order.status", tr.Turns[0].Intent)
	require.Equal(t, "cx-global", tr.Turns[0].NLUProvider)
	require.Equal(t, "twilio", tr.Turns[0].CPaaSProvider)
	require.Equal(t, turn.StatusReplied, tr.Turns[0].Status)
	require.Equal(t, "store.hours", tr.Turns[1].Intent)
	recordHistory(t, s.Temporal, tr.ConversationID)
}

func TestSignedVonageWhatsAppWebhook_ReplyLeavesThroughVonage(t *testing.T) {
	s := startStack(t, "")
	customer := "+447700900001"
	code, _, _ := s.send(t, testmsg.Message{Vendor: "vonage", Channel: "whatsapp", From: customer, To: vonageBusiness, Text: "talk to a human"})
	require.Equal(t, http.StatusOK, code)
	sent := s.waitOutbox(t, customer, 1)
	require.Equal(t, "vonage", sent[0].Vendor)
	require.Equal(t, "whatsapp", sent[0].Channel)
	require.Equal(t, vonageBusiness, sent[0].From)

	// A body altered after signing fails the payload hash.
	req, _, err := s.signer.Request(context.Background(), s.API, testmsg.Message{Vendor: "vonage", From: customer, To: vonageBusiness, Text: "hi"})
	require.NoError(t, err)
	tampered := testmsg.Message{Vendor: "vonage", From: customer, To: vonageBusiness, Text: "hi there"}
	req2, _, err := s.signer.Request(context.Background(), s.API, tampered)
	require.NoError(t, err)
	req2.Header.Set("Authorization", req.Header.Get("Authorization"))
	code, _, _ = do(t, req2, "")
	require.Equal(t, http.StatusUnauthorized, code)
}

func TestJSONAPI_WaitReturnsTheReply_BadInputIsNamed(t *testing.T) {
	s := startStack(t, "")
	post := func(query, body string) (int, map[string]any) { return s.postTurn(t, query, body) }
	code, m := post("?wait=10s", `{"message_id":"web-1","channel":"chat","from":"+15552220001","to":"+15550001000","text":"what are your hours"}`)
	require.Equal(t, http.StatusOK, code, m)
	require.Equal(t, "store.hours", m["intent"])
	require.Equal(t, "replied", m["status"])
	require.Equal(t, "cx-global", m["nlu_provider"])
	require.Equal(t, "webchat", m["cpaas_provider"])
	require.Contains(t, m["reply"], "open Monday")

	// The same message again, waiting: the answer comes from the transcript.
	code, m = post("?wait=10s", `{"message_id":"web-1","channel":"chat","from":"+15552220001","to":"+15550001000","text":"what are your hours"}`)
	require.Equal(t, http.StatusOK, code, m)
	require.Equal(t, true, m["duplicate"])
	require.Equal(t, "store.hours", m["intent"])

	code, m = post("", `{"conversation_id":"api-chat-42","message_id":"web-2","channel":"chat","from":"+15552220001","to":"+15550001000","text":"hi"}`)
	require.Equal(t, http.StatusAccepted, code, m)
	require.Equal(t, "api-chat-42", m["conversation_id"])
	require.Equal(t, "api:web-2", m["turn_id"])

	for _, tc := range []struct{ query, body, want string }{
		{"", `{"message_id":"x","channel":"chat","from":"a","to":"b"}`, "text is required"},
		{"", `{"message_id":"x","channel":"fax","from":"a","to":"b","text":"hi"}`, "channel must be one of"},
		{"", `{"message_id":"x",`, "malformed JSON"},
		{"", `{"message_id":"x","channel":"chat","from":"a","to":"b","text":"hi","extra":1}`, "unknown field"},
		{"", `{"message_id":7,"channel":"chat","from":"a","to":"b","text":"hi"}`, "message_id must be a string"},
		{"?wait=forever", `{}`, "wait must be a duration"},
		{"?wait=1h", `{}`, "wait must be at most"},
		{"", `{"conversation_id":"my-chat-42","message_id":"x","channel":"chat","from":"a","to":"+15550001000","text":"hi"}`, `conversation_id must begin with "api-"`},
		{"", `{"message_id":"x","channel":"chat","from":"a","to":"+15559990000","text":"hi"}`, "to must be an address of a business"},
	} {
		code, m := post(tc.query, tc.body)
		require.Equal(t, http.StatusBadRequest, code, tc.body)
		require.Contains(t, m["error"], tc.want)
	}

	big := bytes.Repeat([]byte("a"), 128<<10)
	resp, err := http.Post(s.API+"/v1/turns", "application/json", bytes.NewReader(big))
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusRequestEntityTooLarge, resp.StatusCode)

	resp, err = http.Get(s.API + "/v1/conversations/no-such-conversation")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusNotFound, resp.StatusCode)
}

func TestConversationsByCustomer_ComeFromTemporalVisibility(t *testing.T) {
	s := startStack(t, "")
	customer := "+15553330001"
	for _, vendor := range []string{"twilio", "vonage"} {
		code, _, _ := s.send(t, testmsg.Message{Vendor: vendor, From: customer, To: business, Text: "hello"})
		require.Equal(t, http.StatusOK, code)
	}
	s.waitOutbox(t, customer, 2)
	require.Eventually(t, func() bool {
		resp, err := http.Get(s.API + "/v1/conversations?customer=%2B15553330001")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		var body struct {
			Conversations []struct {
				ConversationID string `json:"conversation_id"`
				Channel        string `json:"channel"`
				Status         string `json:"status"`
				Turns          int    `json:"turns"`
			} `json:"conversations"`
		}
		if json.NewDecoder(resp.Body).Decode(&body) != nil || len(body.Conversations) != 2 {
			return false
		}
		for _, c := range body.Conversations {
			if c.Status != "active" || c.Channel != "sms" || c.Turns != 1 {
				return false
			}
		}
		return true
	}, 20*time.Second, 200*time.Millisecond, "visibility lists both conversations with their search attributes")
}

func TestRestart_OnTheSameDataDir_TheConversationContinues(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	customer := "+15554440001"
	conv := turn.ConversationID("twilio", "sms", customer, business)

	s := startStack(t, dir)
	code, _, _ := s.send(t, testmsg.Message{Vendor: "twilio", From: customer, To: business, Text: "hello", MessageID: "SM00000000000000000000000000000101"})
	require.Equal(t, http.StatusOK, code)
	s.waitOutbox(t, customer, 1)
	s.stop()

	s = startStack(t, dir)
	// The vendor retries the first message after the restart: still deduplicated.
	code, _, _ = s.send(t, testmsg.Message{Vendor: "twilio", From: customer, To: business, Text: "hello", MessageID: "SM00000000000000000000000000000101"})
	require.Equal(t, http.StatusOK, code)
	code, _, _ = s.send(t, testmsg.Message{Vendor: "twilio", From: customer, To: business, Text: "track my package"})
	require.Equal(t, http.StatusOK, code)
	sent := s.waitOutbox(t, customer, 1) // the outbox is the fake's memory: new after restart
	require.Len(t, sent, 1)
	require.Contains(t, sent[0].Body, "follow your order")

	tr := s.transcript(t, conv)
	require.Len(t, tr.Turns, 2)
	require.Equal(t, 1, tr.Turns[0].Seq)
	require.Equal(t, "greeting", tr.Turns[0].Intent)
	require.Equal(t, 2, tr.Turns[1].Seq)
	require.Equal(t, "order.status", tr.Turns[1].Intent)
}
