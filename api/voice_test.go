package api_test

// The Twilio Voice webhooks as the fake caller meets them: it follows the TwiML the
// API answers, signed like Twilio, with no workflow behind the API (NATS alone, or
// nothing at all), so what the caller hears is the API's own doing: holds, the
// hand-off options in order, the Fallback URL.

import (
	"context"
	"encoding/json"
	"encoding/xml"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/switchboard-cc/switchboard/api"
	"github.com/switchboard-cc/switchboard/internal/streams"
	"github.com/switchboard-cc/switchboard/internal/turn"
	"github.com/switchboard-cc/switchboard/providers/fake"
	"github.com/switchboard-cc/switchboard/providers/twilio"
)

const (
	voiceToken    = "twilio-token"
	greeting      = "Hello, how can I help you?" // the dev policy's voice section leaves the default
	holdingPrompt = "One moment, please."
	apology       = "Sorry, we are having technical difficulties."
	finalMessage  = "We're sorry for the wait. An agent will call you back within the hour."
	budget        = 800 * time.Millisecond
)

// voiceAPI serves the API with the dev policy on a listener whose URL is the
// public URL, so that the signatures the caller makes are the ones it checks.
func voiceAPI(t *testing.T, nc *nats.Conn, js jetstream.JetStream) string {
	t.Helper()
	hs := httptest.NewUnstartedServer(nil)
	public := "http://" + hs.Listener.Addr().String()
	hs.Config.Handler = ingressServer(t, nc, js, func(c *api.Config) { c.PublicURL = public }, nil).Handler()
	hs.Start()
	t.Cleanup(hs.Close)
	return public
}

func caller(base string, script ...string) *fake.Caller {
	return &fake.Caller{
		VoiceURL: base + api.VoicePath, FallbackURL: base + api.VoiceFallbackPath, StatusURL: base + api.VoiceStatusPath,
		AuthToken: voiceToken, AccountSID: "AC00000000000000000000000000000000", From: "+15551230001", To: devBusiness,
		Script: script,
	}
}

func runCall(t *testing.T, c *fake.Caller) *fake.Call {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	call, err := c.Run(ctx)
	require.NoError(t, err)
	return call
}

// With no turn store at all (NATS down), what the caller says cannot become a
// turn: the gather answers the apology and the hand-off at once. The first option
// (the TaskRouter queue) fails, so its action callback dials the next. A number
// whose Voice URL is dead goes to the Fallback URL, which needs neither NATS nor
// Temporal: the same apology and hand-off.
func TestVoice_NoTurnStore_TheCallerHearsTheApologyAndIsHandedOff_InOrder(t *testing.T) {
	base := voiceAPI(t, nil, nil)
	c := caller(base, "where is my order")
	c.QueueResults = []string{"error"}
	call := runCall(t, c)
	require.Equal(t, []string{greeting, apology}, call.HeardText())
	require.Len(t, call.Handoffs, 2)
	require.True(t, strings.HasPrefix(call.Handoffs[0], "enqueue WW00000000000000000000000000000001 {\"conversation_id\":\"twilio-voice-"), call.Handoffs[0])
	require.True(t, strings.HasSuffix(call.Handoffs[0], ": error"), call.Handoffs[0])
	require.Equal(t, "dial +15550009999: completed", call.Handoffs[1])
	require.Equal(t, "hangup", call.End)

	dead, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	deadURL := "http://" + dead.Addr().String()
	require.NoError(t, dead.Close())
	c = caller(base)
	c.VoiceURL = deadURL + api.VoicePath
	call = runCall(t, c)
	require.Equal(t, []string{apology}, call.HeardText())
	require.Equal(t, []string{"enqueue WW00000000000000000000000000000001 {\"conversation_id\":\"" + turn.CallConversationID("twilio", call.SID, c.From, c.To, false) + "\"}: bridged"}, call.Handoffs)
	require.True(t, call.Requests[1].Fallback, "the second request went to the Fallback URL")
}

// Every hand-off option fails: the caller hears the final message and the call
// ends; the escalation is recorded as a turn of the call that carries Escalate,
// for the workflow to open, so that a person calls back.
func TestVoice_EveryHandoffFails_FinalMessage_AndTheEscalationIsStored(t *testing.T) {
	nc, js := ingressNATS(t, streams.Config{})
	base := voiceAPI(t, nil, nil)
	c := caller(base, "where is my order")
	c.QueueResults, c.DialResults = []string{"queue-full"}, []string{"no-answer"}
	call := runCall(t, c)
	require.Equal(t, []string{greeting, apology, finalMessage}, call.HeardText())
	require.Equal(t, "hangup", call.End)

	// With the turn store up, the escalation is stored.
	base = voiceAPI(t, nc, js)
	c = caller(base)
	c.FallbackURL = ""
	c.VoiceURL = base + api.VoiceFallbackPath // as if Twilio had fallen back
	c.QueueResults, c.DialResults = []string{"error"}, []string{"busy"}
	call = runCall(t, c)
	require.Equal(t, []string{apology, finalMessage}, call.HeardText())
	stream, err := js.Stream(t.Context(), turn.TurnsStream)
	require.NoError(t, err)
	msg, err := stream.GetLastMsgForSubject(t.Context(), turn.TurnSubject(turn.CallConversationID("twilio", call.SID, c.From, c.To, false)))
	require.NoError(t, err)
	tt, err := streams.DecodeTurn(msg.Data)
	require.NoError(t, err)
	require.Equal(t, turn.CallTurnID("twilio", call.SID, "handoff-failed"), tt.ID)
	require.NotEmpty(t, tt.Escalate)
	require.Equal(t, turn.ChannelVoice, tt.Channel)
}

// A reply later than the budget is covered by the holding prompt and a redirect to
// the wait URL, which speaks it when it comes; a reply that never comes is
// covered max_holds times, then the call is handed off. The caller is never left
// without an answer longer than the budget (and the time to write it).
func TestVoice_LateReply_IsHeldThenSpoken_NoReplyIsHandedOffAfterTheHolds(t *testing.T) {
	nc, js := ingressNATS(t, streams.Config{})
	base := voiceAPI(t, nc, js)
	// A workflow that answers 1.3 budgets after the turn was stored: the gather
	// holds, the wait URL speaks the reply.
	sub, err := nc.Subscribe(turn.TurnsSubjectPrefix+">", func(m *nats.Msg) {
		tt, err := streams.DecodeTurn(m.Data)
		if err != nil || tt.Text != "where is my order" {
			return
		}
		time.AfterFunc(budget*13/10, func() {
			b, _ := json.Marshal(turn.Outcome{TurnID: tt.ID, ConversationID: tt.ConversationID, Status: turn.StatusReplied, Reply: "Your order shipped.", Spoken: true})
			_ = nc.Publish(turn.EventSubject(tt.ConversationID), b)
		})
	})
	require.NoError(t, err)
	defer sub.Unsubscribe()
	call := runCall(t, caller(base, "where is my order"))
	require.Equal(t, []string{greeting, holdingPrompt, "Your order shipped."}, call.HeardText())
	require.Equal(t, "caller hung up", call.End)
	require.Less(t, call.LongestSilence(call.Heard[len(call.Heard)-1].At), 2*budget, "no silence longer than the budget and the writing of the answer")

	// No reply at all (Temporal down, say): three holds, then the queue.
	call = runCall(t, caller(base, "when are you open"))
	require.Equal(t, []string{greeting, holdingPrompt, holdingPrompt, holdingPrompt}, call.HeardText())
	require.Len(t, call.Handoffs, 1)
	require.True(t, strings.HasSuffix(call.Handoffs[0], ": bridged"))
	require.Equal(t, "hangup", call.End)
}

// twimlDoc is a TwiML document, attributes by name (twilio-go writes them in any
// order).
type twimlDoc struct {
	Verbs []struct {
		XMLName xml.Name
		Attrs   []xml.Attr `xml:",any,attr"`
		Text    string     `xml:",chardata"`
		Inner   []struct {
			XMLName xml.Name
			Text    string `xml:",chardata"`
		} `xml:",any"`
	} `xml:",any"`
}

func attr(attrs []xml.Attr, name string) string {
	for _, a := range attrs {
		if a.Name.Local == name {
			return a.Value
		}
	}
	return ""
}

// The Voice URL answers the greeting inside a speech and DTMF <Gather> with the
// policy's language and hints, an action that carries the turn number and the
// connection overrides, then the re-prompt and a redirect: no path ends in
// silence. Unsigned and oversized requests are refused like the messaging
// webhook's.
func TestVoice_TheVoiceURL_AnswersAGatherThatNeverEndsInSilence_AndChecksItsRequests(t *testing.T) {
	base := voiceAPI(t, nil, nil)
	form := url.Values{"CallSid": {"CA1"}, "AccountSid": {"AC1"}, "From": {"+15551230001"}, "To": {devBusiness}}
	req, err := http.NewRequest(http.MethodPost, base+api.VoicePath, strings.NewReader(form.Encode()))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set(twilio.SignatureHeader, twilio.Sign(voiceToken, base+api.VoicePath, form))
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var doc twimlDoc
	require.NoError(t, xml.NewDecoder(resp.Body).Decode(&doc))
	require.Len(t, doc.Verbs, 3)
	g := doc.Verbs[0]
	require.Equal(t, "Gather", g.XMLName.Local)
	require.Equal(t, "speech dtmf", attr(g.Attrs, "input"))
	require.Equal(t, "true", attr(g.Attrs, "actionOnEmptyResult"))
	require.Equal(t, "en-US", attr(g.Attrs, "language"))
	require.Equal(t, "order,refund", attr(g.Attrs, "hints"))
	require.Equal(t, base+api.VoiceGatherPath+"?n=1"+api.ConnectionOverrides(budget), attr(g.Attrs, "action"))
	require.Equal(t, "#ct=1000&rt=1800", api.ConnectionOverrides(budget))
	require.Equal(t, "Say", g.Inner[0].XMLName.Local)
	require.Equal(t, greeting, g.Inner[0].Text)
	require.Equal(t, "Say", doc.Verbs[1].XMLName.Local)
	require.Equal(t, "Redirect", doc.Verbs[2].XMLName.Local)
	require.Equal(t, attr(g.Attrs, "action"), strings.TrimSpace(doc.Verbs[2].Text))

	for _, tc := range []struct {
		name, path, body, sig string
		want                  int
	}{
		{"unsigned", api.VoiceGatherPath + "?n=1", form.Encode(), "", http.StatusForbidden},
		{"signed for another turn", api.VoiceGatherPath + "?n=2", form.Encode(), twilio.Sign(voiceToken, base+api.VoiceGatherPath+"?n=1", form), http.StatusForbidden},
		{"oversized", api.VoiceGatherPath + "?n=1", "SpeechResult=" + strings.Repeat("a", 70<<10), "x", http.StatusRequestEntityTooLarge},
		{"no turn number", api.VoiceGatherPath, form.Encode(), twilio.Sign(voiceToken, base+api.VoiceGatherPath, form), http.StatusBadRequest},
	} {
		req, _ := http.NewRequest(http.MethodPost, base+tc.path, strings.NewReader(tc.body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if tc.sig != "" {
			req.Header.Set(twilio.SignatureHeader, tc.sig)
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, tc.want, resp.StatusCode, tc.name)
	}
}
