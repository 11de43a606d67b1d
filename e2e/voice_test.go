package e2e

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-cc/switchboard/api"
	"github.com/switchboard-cc/switchboard/internal/testmsg"
	"github.com/switchboard-cc/switchboard/internal/turn"
	"github.com/switchboard-cc/switchboard/providers/fake"
	"github.com/switchboard-cc/switchboard/providers/twilio"
)

// The dev policy's voice section: budget 800ms, three holds, the TaskRouter queue
// then the desk number.
const (
	voiceBudget   = 800 * time.Millisecond
	voiceGreeting = "Hello, how can I help you?"
	voiceHold     = "One moment, please."
	voiceFinal    = "We're sorry for the wait. An agent will call you back within the hour."
	voiceFallback = "Sorry, we're having technical difficulties. A member of our team will get back to you shortly."
)

func (s *stack) caller(from string, script ...string) *fake.Caller {
	return &fake.Caller{
		VoiceURL: s.PublicURL + api.VoicePath, FallbackURL: s.PublicURL + api.VoiceFallbackPath, StatusURL: s.PublicURL + api.VoiceStatusPath,
		AuthToken: testmsg.DevTwilioAuthToken, AccountSID: testmsg.DevTwilioAccountSID, From: from, To: business, Script: script,
	}
}

func (s *stack) call(t *testing.T, c *fake.Caller) *fake.Call {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	call, err := c.Run(ctx)
	require.NoError(t, err)
	t.Logf("call %s heard %q, hand-offs %q, ended %s", call.SID, call.HeardText(), call.Handoffs, call.End)
	return call
}

// spoken is what the caller heard without the holding prompts, which a loaded
// machine may add anywhere.
func spoken(c *fake.Call) []string {
	var out []string
	for _, h := range c.HeardText() {
		if h != voiceHold {
			out = append(out, h)
		}
	}
	return out
}

func callTranscript(t *testing.T, s *stack, c *fake.Caller, call *fake.Call) turn.Transcript {
	t.Helper()
	return s.transcript(t, turn.CallConversationID("twilio", call.SID, c.From, business, false))
}

// Phone calls on the dev stack, each scenario trying to break a promise: every
// turn answered once, in order, and the caller never left in silence longer than
// the budget and one hold while any provider could answer, and handed to a person
// when none can.
func TestVoice_Scenarios(t *testing.T) {
	s := startStack(t, "")
	heal := func() {
		for _, p := range []string{"cx-global", "cx-europe", "llm"} {
			s.fault(t, fake.Fault{Provider: p, Mode: fake.ModeOK})
		}
	}
	// The longest silence a caller may hear: the budget, a hold, and the writing
	// of the answers.
	maxSilence := 2*voiceBudget + 500*time.Millisecond

	t.Run("a healthy three-turn call", func(t *testing.T) {
		c := s.caller("+15558000001", "where is my order", "when are you open", "dtmf:1")
		call := s.call(t, c)
		heard := spoken(call)
		require.Len(t, heard, 4, "greeting and three replies")
		require.Equal(t, voiceGreeting, heard[0])
		require.Contains(t, heard[2], "open Monday")
		require.Equal(t, "caller hung up", call.End)
		require.LessOrEqual(t, call.LongestSilence(call.Heard[len(call.Heard)-1].At), maxSilence)
		tr := callTranscript(t, s, c, call)
		require.Len(t, tr.Turns, 3)
		for i, o := range tr.Turns {
			require.Equal(t, i+1, o.Seq)
			require.True(t, o.Spoken)
			require.Equal(t, heard[i+1], o.Reply, "turn %d: the caller heard the reply the workflow recorded", i+1)
			require.Empty(t, o.CPaaSProvider, "a call's reply is spoken, not sent")
		}
		require.Equal(t, "order.status", tr.Turns[0].Intent)
		require.Equal(t, "1", tr.Turns[2].Text, "the keys pressed are the turn's text")
	})

	t.Run("CX hangs mid-call: the next NLU answers within the budget and a hold", func(t *testing.T) {
		defer heal()
		c := s.caller("+15558000002", "where is my order", "when are you open")
		var once sync.Once
		// After the first reply, cx-global hangs for 5s on every call.
		c.Client = &http.Client{Transport: onRequest(func(r *http.Request) {
			if strings.Contains(r.URL.RawQuery, "n=2") {
				once.Do(func() { s.fault(t, fake.Fault{Provider: "cx-global", Mode: fake.ModeSlow, LatencyMS: 5000}) })
			}
		})}
		call := s.call(t, c)
		heard := spoken(call)
		require.Len(t, heard, 3)
		require.Contains(t, heard[2], "open Monday")
		require.LessOrEqual(t, call.LongestSilence(call.Heard[len(call.Heard)-1].At), maxSilence)
		tr := callTranscript(t, s, c, call)
		require.Len(t, tr.Turns, 2)
		require.Equal(t, "cx-global", tr.Turns[0].NLUProvider)
		require.NotEqual(t, "cx-global", tr.Turns[1].NLUProvider)
		require.Equal(t, "store.hours", tr.Turns[1].Intent)
	})

	t.Run("every remote NLU down: the local NLU answers", func(t *testing.T) {
		defer heal()
		for _, p := range []string{"cx-global", "cx-europe", "llm"} {
			s.fault(t, fake.Fault{Provider: p, Mode: fake.ModeDown})
		}
		c := s.caller("+15558000003", "where is my order")
		call := s.call(t, c)
		require.Len(t, spoken(call), 2)
		require.LessOrEqual(t, call.LongestSilence(call.Heard[len(call.Heard)-1].At), maxSilence)
		tr := callTranscript(t, s, c, call)
		require.Len(t, tr.Turns, 1)
		require.Equal(t, "local", tr.Turns[0].NLUProvider)
		require.Equal(t, "order.status", tr.Turns[0].Intent)
		require.Equal(t, spoken(call)[1], tr.Turns[0].Reply)
	})

	t.Run("everything down: the caller hears the apology and is handed off", func(t *testing.T) {
		defer heal()
		for _, p := range []string{"cx-global", "cx-europe", "llm"} {
			s.fault(t, fake.Fault{Provider: p, Mode: fake.ModeDown})
		}
		c := s.caller("+15558000004", "xyzzy plugh frobnicate")
		call := s.call(t, c)
		require.Equal(t, []string{voiceGreeting, voiceFallback}, spoken(call))
		require.Len(t, call.Handoffs, 1)
		conv := turn.CallConversationID("twilio", call.SID, c.From, business, false)
		require.Equal(t, "enqueue WW00000000000000000000000000000001 {\"conversation_id\":\""+conv+"\"}: bridged", call.Handoffs[0])
		tr := callTranscript(t, s, c, call)
		require.Equal(t, turn.StatusEscalated, tr.Turns[0].Status)
		require.NotNil(t, tr.Escalation, "the escalation is open for the desk too")
	})

	t.Run("the hand-off's first option fails: the next is used; all fail: final message, and a person calls back", func(t *testing.T) {
		c := s.caller("+15558000005", "talk to a human")
		c.QueueResults = []string{"error"}
		call := s.call(t, c)
		require.Equal(t, []string{"enqueue", "dial +15550009999: completed"}, []string{strings.Fields(call.Handoffs[0])[0], call.Handoffs[1]})
		require.True(t, strings.HasSuffix(call.Handoffs[0], ": error"))
		require.Equal(t, "hangup", call.End)

		c = s.caller("+15558000006", "talk to a human")
		c.QueueResults, c.DialResults = []string{"queue-full"}, []string{"no-answer"}
		call = s.call(t, c)
		require.Equal(t, voiceFinal, call.HeardText()[len(call.Heard)-1])
		require.Equal(t, "hangup", call.End)
		require.Eventually(t, func() bool {
			tr, ok := s.tryTranscript(turn.CallConversationID("twilio", call.SID, c.From, business, false))
			return ok && tr.Escalation != nil
		}, 30*time.Second, 100*time.Millisecond, "the conversation is escalated, for a person to call back")
	})

	t.Run("the stack behind the API is down: the Fallback URL hands off", func(t *testing.T) {
		c := s.caller("+15558000007")
		c.VoiceURL = "http://127.0.0.1:1" + api.VoicePath // Switchboard unreachable
		call := s.call(t, c)
		require.Equal(t, []string{"Sorry, we are having technical difficulties."}, call.HeardText())
		require.Len(t, call.Handoffs, 1)
		require.True(t, call.Requests[1].Fallback)
	})

	t.Run("a retried gather request is one turn", func(t *testing.T) {
		sid := "CA00000000000000000000000000000e2e"
		form := url.Values{"CallSid": {sid}, "AccountSid": {testmsg.DevTwilioAccountSID}, "From": {"+15558000008"}, "To": {business}, "SpeechResult": {"where is my order"}}
		u := s.PublicURL + api.VoiceGatherPath + "?n=1"
		var bodies [2]string
		var wg sync.WaitGroup
		for i := range bodies {
			wg.Add(1)
			go func() {
				defer wg.Done()
				req, _ := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				req.Header.Set(twilio.SignatureHeader, twilio.Sign(testmsg.DevTwilioAuthToken, u, form))
				code, body, _ := do(t, req, "")
				require.Equal(t, http.StatusOK, code)
				bodies[i] = body
			}()
		}
		wg.Wait()
		conv := turn.CallConversationID("twilio", sid, "+15558000008", business, false)
		require.Eventually(t, func() bool { tr, ok := s.tryTranscript(conv); return ok && len(tr.Turns) == 1 }, 30*time.Second, 100*time.Millisecond)
		time.Sleep(time.Second) // a second turn would have arrived by now
		tr := s.transcript(t, conv)
		require.Len(t, tr.Turns, 1, "Twilio's retry of the same gather is the same turn")
		for _, b := range bodies {
			if !strings.Contains(b, voiceHold) {
				require.Contains(t, b, tr.Turns[0].Reply, "an answer that did not hold speaks the one reply")
			}
		}
	})
}

// onRequest is a transport that calls f before each request.
type onRequest func(*http.Request)

func (f onRequest) RoundTrip(r *http.Request) (*http.Response, error) {
	f(r)
	return http.DefaultTransport.RoundTrip(r)
}
