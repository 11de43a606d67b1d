package api

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/twilio/twilio-go/twiml"

	"github.com/switchboard-cc/switchboard/providers/routing"
)

// The TwiML Switchboard answers calls with, built from the policy's voice section
// with twilio-go's twiml package. Every document ends in something the caller hears
// or a verb that leads on (a <Redirect>, a hand-off with an action callback), never
// in silence. Action URLs are absolute, on the public URL, and carry Twilio's
// connection-override fragment so that Twilio gives up on a dead Switchboard fast
// and goes to the number's Fallback URL.

// Paths of the Twilio Voice webhooks.
const (
	VoicePath         = "/webhooks/twilio/voice"
	VoiceGatherPath   = VoicePath + "/gather"
	VoiceWaitPath     = VoicePath + "/wait"
	VoiceHandoffPath  = VoicePath + "/handoff"
	VoiceStatusPath   = VoicePath + "/status"
	VoiceFallbackPath = VoicePath + "/fallback"
)

// connectTimeout is the connection override's ct: how long Twilio tries to connect
// to Switchboard before it goes to the Fallback URL.
const connectTimeout = time.Second

// callScript writes the TwiML of one call.
type callScript struct {
	base string // the public URL, without a trailing slash
	v    *routing.Voice
}

func newCallScript(publicURL string, v *routing.Voice) callScript {
	return callScript{base: strings.TrimRight(publicURL, "/"), v: v}
}

// ConnectionOverrides is the fragment Switchboard appends to its action URLs:
// Twilio connects for at most ct and waits for the answer at most rt, which leaves
// the budget's wait and the answer's writing room, instead of 15 s, before it goes
// to the Fallback URL.
func ConnectionOverrides(budget time.Duration) string {
	rt := min(budget+max(budget, time.Second), 15*time.Second)
	return fmt.Sprintf("#ct=%d&rt=%d", connectTimeout.Milliseconds(), rt.Milliseconds())
}

// url is an absolute action URL with its query and the connection overrides.
func (c callScript) url(path string, q url.Values) string {
	u := c.base + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	return u + ConnectionOverrides(c.v.Budget)
}

func (c callScript) say(text string) twiml.VoiceSay {
	return twiml.VoiceSay{Message: text, Voice: c.v.VoiceName, Language: c.v.Language}
}

// gather listens for turn n, with prompt said inside it (the caller may talk over
// it); if it ends without calling its action, the reprompt and a redirect to the
// same action follow: an empty result of turn n.
func (c callScript) gather(n int, prompt string) []twiml.Element {
	action := c.url(VoiceGatherPath, url.Values{"n": {strconv.Itoa(n)}})
	g := twiml.VoiceGather{
		Input: "speech dtmf", Action: action, Method: "POST", ActionOnEmptyResult: "true",
		Language: c.v.Language, Hints: strings.Join(c.v.Hints, ","), SpeechTimeout: "auto", Timeout: "5",
	}
	if prompt != "" {
		g.InnerElements = []twiml.Element{c.say(prompt)}
	}
	return []twiml.Element{g, c.say(c.v.Reprompt), twiml.VoiceRedirect{Url: action, Method: "POST"}}
}

// greeting opens a call.
func (c callScript) greeting() []twiml.Element { return c.gather(1, c.v.Greeting) }

// reply speaks the reply to turn n and listens for turn n+1.
func (c callScript) reply(n int, text string) []twiml.Element { return c.gather(n+1, text) }

// hold covers a late reply to turn n: the holding prompt, then the wait URL,
// which waits again (the hold-th time).
func (c callScript) hold(n, hold int) []twiml.Element {
	q := url.Values{"n": {strconv.Itoa(n)}, "hold": {strconv.Itoa(hold)}}
	return []twiml.Element{c.say(c.v.HoldingPrompt), twiml.VoiceRedirect{Url: c.url(VoiceWaitPath, q), Method: "POST"}}
}

// handoff hands the call to option k of the policy (0-based), its action trying
// option k+1 when it fails; past the last option, the final message and a hang-up.
// conversation goes in an Enqueue's Task.
func (c callScript) handoff(k int, conversation string) []twiml.Element {
	if k >= len(c.v.Handoff) {
		return []twiml.Element{c.say(c.v.FinalMessage), twiml.VoiceHangup{}}
	}
	h := c.v.Handoff[k]
	action := c.url(VoiceHandoffPath, url.Values{"opt": {strconv.Itoa(k)}})
	switch h.Kind() {
	case "enqueue":
		fields := map[string]string{}
		if conversation != "" {
			fields["conversation_id"] = conversation
		}
		task, _ := json.Marshal(fields)
		return []twiml.Element{twiml.VoiceEnqueue{
			WorkflowSid: h.Enqueue, Action: action, Method: "POST",
			InnerElements: []twiml.Element{twiml.VoiceTask{Body: string(task)}},
		}}
	case "sip":
		return []twiml.Element{twiml.VoiceDial{
			Action: action, Method: "POST", Timeout: strconv.Itoa(int(h.Timeout.Seconds())),
			InnerElements: []twiml.Element{twiml.VoiceSip{SipUrl: h.SIP}},
		}}
	}
	return []twiml.Element{twiml.VoiceDial{
		Action: action, Method: "POST", Timeout: strconv.Itoa(int(h.Timeout.Seconds())),
		InnerElements: []twiml.Element{twiml.VoiceNumber{PhoneNumber: h.Dial}},
	}}
}

// fallback is the Fallback URL's answer: the apology, then the first hand-off
// option. It needs nothing but the policy; conversation ("" when unknown) goes in
// an Enqueue's Task.
func (c callScript) fallback(conversation string) []twiml.Element {
	return append([]twiml.Element{c.say(c.v.Apology)}, c.handoff(0, conversation)...)
}

// FallbackTwiML is the Fallback URL's document for a policy, for hosting where
// Switchboard's own failure cannot reach (a TwiML Bin): the apology and the first
// hand-off option, whose action callbacks go to publicURL.
func FallbackTwiML(publicURL string, p *routing.Policy) (string, error) {
	if p == nil || p.Voice == nil {
		return "", fmt.Errorf("the policy %s has no voice section", p.Source())
	}
	return twiml.Voice(newCallScript(publicURL, p.Voice).fallback(""))
}
