package routing

import (
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/switchboard-cc/switchboard/internal/turn"
)

// The policy's voice section: how a phone call is answered, within what latency
// budget, what the caller hears while waiting, and where the call goes when the bot
// cannot carry it (the hand-off options, tried in order, then a spoken final
// message).

// Defaults of the voice section.
const (
	DefaultVoiceBudget   = 800 * time.Millisecond
	DefaultMaxHolds      = 3
	DefaultHoldingPrompt = "One moment, please."
	DefaultGreeting      = "Hello, how can I help you?"
	DefaultReprompt      = "Are you still there? Tell me how I can help."
	DefaultVoiceApology  = "Sorry, we are having technical difficulties."
	DefaultDialTimeout   = 20 * time.Second
)

// Bounds of the voice section.
const (
	minVoiceBudget = 200 * time.Millisecond
	// maxVoiceBudget stays well inside Twilio's 15 s webhook timeout.
	maxVoiceBudget = 10 * time.Second
	maxHolds       = 10
	maxHints       = 100
	maxHintBytes   = 100
	maxSpokenBytes = 1000
)

// Voice is the policy's voice section.
type Voice struct {
	// Budget is the time from a gather request to Switchboard's answer. A reply
	// not ready within it is covered by HoldingPrompt and a redirect.
	Budget time.Duration
	// HoldingPrompt is what the caller hears while the reply is late, at most
	// MaxHolds times in a row; then the call is handed off.
	HoldingPrompt string
	MaxHolds      int
	// Greeting opens the call; Reprompt follows a gather that heard nothing.
	Greeting string
	Reprompt string
	// Apology opens the Fallback URL's answer, served when Switchboard cannot run
	// the call (NATS or Temporal down, the webhook failed or timed out).
	Apology string
	// FinalMessage is spoken when every hand-off option failed, before hanging up;
	// the conversation escalates so that a person calls back.
	FinalMessage string
	// Language, VoiceName and Hints are the speech settings: the <Gather> language
	// and hints, the <Say> voice ("" for Twilio's default).
	Language  string
	VoiceName string
	Hints     []string
	// PerCaller: a caller's calls to a business share one conversation (its
	// context carries from one call to the next), instead of one per call.
	PerCaller bool
	// SMSUnspoken: a reply the caller hung up before hearing is sent by SMS.
	SMSUnspoken bool
	// Handoff lists where a call goes when the bot cannot carry it, in order.
	Handoff []Handoff
	// VirtualAgent, when set, answers calls with Twilio's own Dialogflow CX
	// connector first; Switchboard carries the call on when it fails.
	VirtualAgent *VirtualAgent
}

// Handoff is one place a call can be handed to: exactly one of Enqueue, Dial and
// SIP is set.
type Handoff struct {
	// Enqueue is a TaskRouter workflow SID (WW...): the call waits in its queue,
	// with a Task carrying the conversation id.
	Enqueue string
	// Dial is a phone number (a desk, the legacy IVR); SIP a sip: URI.
	Dial string
	SIP  string
	// Timeout bounds a Dial or SIP attempt's ringing.
	Timeout time.Duration
}

// Kind of the hand-off option: enqueue, dial or sip.
func (h Handoff) Kind() string {
	switch {
	case h.Enqueue != "":
		return "enqueue"
	case h.SIP != "":
		return "sip"
	}
	return "dial"
}

// VirtualAgent names Twilio's Dialogflow CX connector (<Connect><VirtualAgent>).
type VirtualAgent struct {
	Connector string
}

type rawVoice struct {
	Budget        *time.Duration   `yaml:"budget"`
	HoldingPrompt string           `yaml:"holding_prompt"`
	MaxHolds      *int             `yaml:"max_holds"`
	Greeting      string           `yaml:"greeting"`
	Reprompt      string           `yaml:"reprompt"`
	Apology       string           `yaml:"apology"`
	FinalMessage  string           `yaml:"final_message"`
	Language      string           `yaml:"language"`
	Voice         string           `yaml:"voice"`
	Hints         []string         `yaml:"hints"`
	PerCaller     bool             `yaml:"calls_share_conversation"`
	SMSUnspoken   bool             `yaml:"sms_unspoken_reply"`
	Handoff       []rawHandoff     `yaml:"handoff"`
	VirtualAgent  *rawVirtualAgent `yaml:"virtual_agent"`
}

type rawHandoff struct {
	Enqueue string         `yaml:"enqueue"`
	Dial    string         `yaml:"dial"`
	SIP     string         `yaml:"sip"`
	Timeout *time.Duration `yaml:"timeout"`
}

type rawVirtualAgent struct {
	Connector string `yaml:"connector"`
}

// buildVoice resolves the voice section, its defaults filled in.
func buildVoice(r *rawVoice, p *Policy) *Voice {
	if r == nil {
		return nil
	}
	v := &Voice{
		Budget: DefaultVoiceBudget, MaxHolds: DefaultMaxHolds,
		HoldingPrompt: or(r.HoldingPrompt, DefaultHoldingPrompt),
		Greeting:      or(r.Greeting, DefaultGreeting),
		Reprompt:      or(r.Reprompt, DefaultReprompt),
		Apology:       or(r.Apology, DefaultVoiceApology),
		FinalMessage:  r.FinalMessage,
		Language:      or(r.Language, p.Language),
		VoiceName:     r.Voice,
		Hints:         r.Hints,
		PerCaller:     r.PerCaller,
		SMSUnspoken:   r.SMSUnspoken,
	}
	if v.FinalMessage == "" && p.Escalation != nil {
		v.FinalMessage = p.Escalation.FinalMessage
	}
	if r.Budget != nil {
		v.Budget = *r.Budget
	}
	if r.MaxHolds != nil {
		v.MaxHolds = *r.MaxHolds
	}
	for _, h := range r.Handoff {
		o := Handoff{Enqueue: h.Enqueue, Dial: h.Dial, SIP: h.SIP, Timeout: DefaultDialTimeout}
		if h.Timeout != nil {
			o.Timeout = *h.Timeout
		}
		v.Handoff = append(v.Handoff, o)
	}
	if r.VirtualAgent != nil {
		v.VirtualAgent = &VirtualAgent{Connector: r.VirtualAgent.Connector}
	}
	return v
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

var (
	workflowSIDPattern = regexp.MustCompile(`^WW[0-9a-f]{32}$`)
	sipPattern         = regexp.MustCompile(`^sips?:[^\s<>"]{1,250}$`)
	voiceNamePattern   = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)
	connectorPattern   = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)
)

func (p *Policy) validateVoice(errs *errorList, v *Voice) {
	if p.Channels[turn.ChannelVoice] == nil {
		errs.in("voice", "needs channels.voice: its nlu list is who understands callers, its cpaas list who sends the SMS of an unspoken reply")
	}
	if v.Budget < minVoiceBudget || v.Budget > maxVoiceBudget {
		errs.at("voice.budget", "%s is out of range: between %s and %s (Twilio gives up on a webhook after 15s)", FormatDuration(v.Budget), FormatDuration(minVoiceBudget), FormatDuration(maxVoiceBudget))
	}
	if v.MaxHolds < 0 || v.MaxHolds > maxHolds {
		errs.at("voice.max_holds", "%d is out of range: between 0 (hand off at once when the reply is late) and %d", v.MaxHolds, maxHolds)
	}
	for _, f := range []struct{ path, text string }{
		{"voice.holding_prompt", v.HoldingPrompt}, {"voice.greeting", v.Greeting}, {"voice.reprompt", v.Reprompt},
		{"voice.apology", v.Apology}, {"voice.final_message", v.FinalMessage},
	} {
		if len(f.text) > maxSpokenBytes {
			errs.at(f.path, "is %d bytes; what a caller hears in one go may not exceed %d", len(f.text), maxSpokenBytes)
		}
	}
	if strings.TrimSpace(v.FinalMessage) == "" {
		errs.in("voice.final_message", "is required (or escalation.final_message): it is what the caller hears when no hand-off option took the call")
	}
	if !languagePattern.MatchString(v.Language) {
		errs.at("voice.language", "%q is not a language code (e.g. en-US, es-ES)", v.Language)
	}
	if v.VoiceName != "" && !voiceNamePattern.MatchString(v.VoiceName) {
		errs.at("voice.voice", "%q is not a voice name (e.g. alice, Polly.Joanna, Google.en-US-Neural2-F)", v.VoiceName)
	}
	if len(v.Hints) > maxHints {
		errs.at("voice.hints", "%d hints; Twilio takes at most %d", len(v.Hints), maxHints)
	}
	for i, h := range v.Hints {
		if strings.TrimSpace(h) == "" || len(h) > maxHintBytes || strings.Contains(h, ",") {
			errs.at(fmt.Sprintf("voice.hints[%d]", i), "%q is not a hint: a word or phrase of 1-%d bytes, without commas", h, maxHintBytes)
		}
	}
	if len(v.Handoff) == 0 {
		errs.in("voice.handoff", "at least one hand-off option is required, e.g. [{dial: \"+15550009999\"}]: where a call goes when the bot cannot carry it")
	}
	for i, h := range v.Handoff {
		at := fmt.Sprintf("voice.handoff[%d]", i)
		set := 0
		for _, s := range []string{h.Enqueue, h.Dial, h.SIP} {
			if s != "" {
				set++
			}
		}
		if set != 1 {
			errs.in(at, "write exactly one of enqueue (a TaskRouter workflow SID), dial (a phone number) and sip (a sip: URI)")
			continue
		}
		switch {
		case h.Enqueue != "" && !workflowSIDPattern.MatchString(h.Enqueue):
			errs.at(at+".enqueue", "%q is not a TaskRouter workflow SID (WW and 32 hex digits)", h.Enqueue)
		case h.Dial != "" && !turn.ValidE164(h.Dial):
			errs.at(at+".dial", "%q is not a phone number: write E.164 in quotes, e.g. \"+15550009999\"", h.Dial)
		case h.SIP != "" && !sipPattern.MatchString(h.SIP):
			errs.at(at+".sip", "%q is not a SIP URI (sip:desk@pbx.example.com)", h.SIP)
		}
		if h.Timeout < 5*time.Second || h.Timeout > 10*time.Minute {
			errs.at(at+".timeout", "%s is out of range: between 5s and 10m", FormatDuration(h.Timeout))
		}
	}
	if va := v.VirtualAgent; va != nil && !connectorPattern.MatchString(va.Connector) {
		errs.at("voice.virtual_agent.connector", "%q is not a connector name: the name of the Dialogflow CX connector in the Twilio console", va.Connector)
	}
}

// VoiceAttempts bounds the NLU attempts of a voice turn by the budget: the remote
// providers share three quarters of it, one attempt each and never more than their
// own attempt_timeout, so that when every one of them times out the local NLU still
// answers within the budget. The last quarter is the hop from the webhook to the
// workflow and back.
func VoiceAttempts(budget time.Duration, steps []NLUStep) {
	remote := 0
	for _, s := range steps {
		if s.Kind != KindLocal {
			remote++
		}
	}
	if remote == 0 {
		return
	}
	share := max(budget*3/4/time.Duration(remote), minVoiceAttempt)
	for i := range steps {
		if steps[i].Kind == KindLocal {
			continue
		}
		steps[i].Attempt = turn.Attempt{Timeout: min(steps[i].Attempt.Timeout, share), MaxAttempts: 1}
	}
}

// minVoiceAttempt is the shortest NLU attempt a voice turn gets, however many
// remote providers share the budget.
const minVoiceAttempt = 50 * time.Millisecond
