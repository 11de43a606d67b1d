package routing

import (
	"strings"
	"testing"
	"time"
)

const voiceSection = `
voice:
  budget: 800ms
  holding_prompt: "One moment."
  max_holds: 2
  language: en-US
  voice: Polly.Joanna
  hints: [order, refund]
  handoff:
    - {enqueue: WW0123456789abcdef0123456789abcdef}
    - {dial: "+15550009999", timeout: 30s}
    - {sip: "sip:desk@pbx.example.com"}
  virtual_agent: {connector: cx-connector}
`

func voicePolicy(t *testing.T) string {
	t.Helper()
	src := strings.Replace(basePolicy(t), "  chat:     {nlu: [cx-global, local], cpaas: [twilio]}\n",
		"  chat:     {nlu: [cx-global, local], cpaas: [twilio]}\n  voice:    {nlu: [cx-global, cx-europe, llm, local], cpaas: [twilio]}\n", 1)
	return src + voiceSection
}

func TestVoice_TheSectionParsesWithItsDefaults(t *testing.T) {
	v := mustParse(t, voicePolicy(t)).Voice
	if v == nil {
		t.Fatal("no voice section")
	}
	if v.Budget != 800*time.Millisecond || v.MaxHolds != 2 || v.HoldingPrompt != "One moment." || v.Language != "en-US" || v.VoiceName != "Polly.Joanna" {
		t.Errorf("voice: %+v", v)
	}
	if v.Greeting != DefaultGreeting || v.Apology != DefaultVoiceApology || v.FinalMessage != "An agent will call you back within the hour." {
		t.Errorf("defaults not filled: greeting %q apology %q final %q", v.Greeting, v.Apology, v.FinalMessage)
	}
	want := []Handoff{
		{Enqueue: "WW0123456789abcdef0123456789abcdef", Timeout: DefaultDialTimeout},
		{Dial: "+15550009999", Timeout: 30 * time.Second},
		{SIP: "sip:desk@pbx.example.com", Timeout: DefaultDialTimeout},
	}
	if len(v.Handoff) != len(want) {
		t.Fatalf("handoff: %+v", v.Handoff)
	}
	for i := range want {
		if v.Handoff[i].Kind() != want[i].Kind() || v.Handoff[i] != want[i] {
			t.Errorf("handoff[%d] = %+v, want %+v", i, v.Handoff[i], want[i])
		}
	}
	if v.VirtualAgent == nil || v.VirtualAgent.Connector != "cx-connector" {
		t.Errorf("virtual agent: %+v", v.VirtualAgent)
	}
	// Without a budget written, 800 ms.
	src := strings.Replace(voicePolicy(t), "  budget: 800ms\n", "", 1)
	if b := mustParse(t, src).Voice.Budget; b != 800*time.Millisecond {
		t.Errorf("default budget %s", b)
	}
}

func TestVoice_BadValuesNameTheLineAndTheField(t *testing.T) {
	for _, tc := range []struct{ old, new, want string }{
		{"budget: 800ms", "budget: 20s", "voice.budget: 20s is out of range: between 200ms and 10s"},
		{"max_holds: 2", "max_holds: 11", "voice.max_holds: 11 is out of range"},
		{"language: en-US", "language: english", `voice.language: "english" is not a language code`},
		{"voice: Polly.Joanna", "voice: \"Polly Joanna\"", `voice.voice: "Polly Joanna" is not a voice name`},
		{"hints: [order, refund]", "hints: [order, \"\"]", `voice.hints[1]: "" is not a hint`},
		{"{enqueue: WW0123456789abcdef0123456789abcdef}", "{enqueue: WQ123}", `voice.handoff[0].enqueue: "WQ123" is not a TaskRouter workflow SID`},
		{`{dial: "+15550009999", timeout: 30s}`, `{dial: "5550009999", timeout: 30s}`, `voice.handoff[1].dial: "5550009999" is not a phone number`},
		{`{dial: "+15550009999", timeout: 30s}`, `{dial: "+15550009999", timeout: 1s}`, "voice.handoff[1].timeout: 1s is out of range"},
		{`{dial: "+15550009999", timeout: 30s}`, `{dial: "+15550009999", sip: "sip:a@b"}`, "voice.handoff[1]: write exactly one of enqueue"},
		{`{sip: "sip:desk@pbx.example.com"}`, `{sip: "desk@pbx"}`, `voice.handoff[2].sip: "desk@pbx" is not a SIP URI`},
		{"{connector: cx-connector}", "{connector: \"cx connector\"}", `voice.virtual_agent.connector: "cx connector" is not a connector name`},
		{"  budget: 800ms\n", "  budget: 800ms\n  greting: hi\n", "voice.greting: unknown field; did you mean greeting?"},
		{"  budget: 800ms\n", "  budget: 800ms\n  calls_share_conversation: often\n", `voice.calls_share_conversation: must be true or false, not text "often"`},
	} {
		src := voicePolicy(t)
		if !strings.Contains(src, tc.old) {
			t.Fatalf("%q is not in the policy", tc.old)
		}
		_, err := ParseFile("policy.yaml", []byte(strings.Replace(src, tc.old, tc.new, 1)))
		lines := errorLines(err)
		if len(lines) != 1 || !strings.HasPrefix(lines[0], "policy.yaml:") || !strings.Contains(lines[0], tc.want) {
			t.Errorf("%s → %s: errors\n%s\nwant one containing %q", tc.old, tc.new, strings.Join(lines, "\n"), tc.want)
		}
	}
}

func TestVoice_NeedsItsChannel_AndTheChannelNeedsIt(t *testing.T) {
	_, err := ParseFile("policy.yaml", []byte(basePolicy(t)+voiceSection))
	if !strings.Contains(err.Error(), "voice: needs channels.voice") {
		t.Errorf("voice without channels.voice: %v", err)
	}
	src := strings.Replace(voicePolicy(t), voiceSection, "", 1)
	_, err = ParseFile("policy.yaml", []byte(src))
	if !strings.Contains(err.Error(), "channels.voice: needs the voice section") {
		t.Errorf("channels.voice without voice: %v", err)
	}
	// No hand-off option and no final message anywhere: the caller would be left with nothing.
	src = strings.Replace(voicePolicy(t), voiceSection, "\nvoice: {budget: 1s}\n", 1)
	src = strings.Replace(src, "  final_message: \"An agent will call you back within the hour.\"\n", "  final_message: \"\"\n", 1)
	lines := strings.Join(errorLines(func() error { _, err := ParseFile("policy.yaml", []byte(src)); return err }()), "\n")
	for _, want := range []string{"voice.handoff: at least one hand-off option is required", "voice.final_message: is required"} {
		if !strings.Contains(lines, want) {
			t.Errorf("want %q in:\n%s", want, lines)
		}
	}
}

// A voice turn's remote NLU attempts share three quarters of the budget, one attempt
// each, so that the local NLU still answers within it when they all time out.
func TestVoice_NLUAttemptsAreBoundByTheBudget(t *testing.T) {
	p := mustParse(t, voicePolicy(t))
	route := p.Plan(PlanInput{Channel: "voice", Vendor: "twilio", Business: "+15550001000"}).Route(nil)
	var remote time.Duration
	for _, c := range route.NLU {
		if c.Local {
			continue
		}
		if c.Attempt.MaxAttempts != 1 || c.Attempt.Timeout != 200*time.Millisecond {
			t.Errorf("%s: %+v, want one attempt of 200ms", c.Provider, c.Attempt)
		}
		remote += c.Attempt.Timeout
	}
	if remote > p.Voice.Budget*3/4 {
		t.Errorf("remote attempts sum to %s, over three quarters of the budget %s", remote, p.Voice.Budget)
	}
	if route.LanguageCode != "en-US" {
		t.Errorf("language %q, want the voice section's en-US", route.LanguageCode)
	}
	// An SMS turn keeps the providers' own attempts.
	sms := p.Plan(PlanInput{Channel: "sms", Vendor: "twilio", Business: "+15550001000"}).Route(nil)
	if a := sms.NLU[0].Attempt; a.Timeout != 5*time.Second || a.MaxAttempts != 2 {
		t.Errorf("sms attempt %+v", a)
	}
}
