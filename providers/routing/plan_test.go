package routing

import (
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-cc/switchboard/internal/turn"
)

func down(names ...string) func(string) bool {
	return func(p string) bool { return slices.Contains(names, p) }
}

// hop is one CPaaS step as the scenarios read it: provider, channel, from.
type hop struct{ provider, channel, from string }

func hops(pl Plan) []hop {
	var out []hop
	for _, s := range pl.CPaaS {
		out = append(out, hop{s.Provider, s.Channel, s.From})
	}
	return out
}

func nluNames(pl Plan) []string {
	var out []string
	for _, s := range pl.NLU {
		out = append(out, s.Provider)
	}
	return out
}

func skipped(pl Plan) []string {
	var out []string
	for _, s := range pl.Skipped {
		out = append(out, s.Provider+": "+s.Reason)
	}
	return out
}

func TestPlanScenarios(t *testing.T) {
	p := mustParse(t, basePolicy(t))
	for _, tc := range []struct {
		name         string
		in           PlanInput
		wantNLU      []string
		wantCPaaS    []hop
		wantSkipped  []string
		wantFallback bool
		wantWarning  string
	}{
		{
			name:      "all healthy: NLU in the channel's order, the reply through the vendor it came in on",
			in:        PlanInput{Channel: "sms", Vendor: "twilio", Business: "+15550001000"},
			wantNLU:   []string{"cx-global", "cx-europe", "llm", "local"},
			wantCPaaS: []hop{{"twilio", "sms", "+15550001000"}, {"vonage", "sms", "+15550002000"}},
		},
		{
			name:        "Twilio down: the reply leaves through Vonage from the business's Vonage number",
			in:          PlanInput{Channel: "sms", Vendor: "twilio", Business: "+15550001000", Down: down("twilio")},
			wantNLU:     []string{"cx-global", "cx-europe", "llm", "local"},
			wantCPaaS:   []hop{{"vonage", "sms", "+15550002000"}},
			wantSkipped: []string{"twilio: down"},
		},
		{
			name:      "a conversation that came in on Vonage replies through Vonage first, though the channel lists Twilio first",
			in:        PlanInput{Channel: "sms", Vendor: "vonage", Business: "+15550002001"},
			wantNLU:   []string{"cx-global", "cx-europe", "llm", "local"},
			wantCPaaS: []hop{{"vonage", "sms", "+15550002001"}, {"twilio", "sms", "+15550001001"}},
		},
		{
			name:        "the inbound vendor down: the channel's list, in order, without it",
			in:          PlanInput{Channel: "sms", Vendor: "vonage", Business: "+15550002001", Down: down("vonage")},
			wantNLU:     []string{"cx-global", "cx-europe", "llm", "local"},
			wantCPaaS:   []hop{{"twilio", "sms", "+15550001001"}},
			wantSkipped: []string{"vonage: down"},
		},
		{
			name:         "WhatsApp vendor down: reply by SMS through another vendor",
			in:           PlanInput{Channel: "whatsapp", Vendor: "twilio", Business: "+15550001000", Down: down("twilio")},
			wantNLU:      []string{"cx-global", "cx-europe", "llm", "local"},
			wantCPaaS:    []hop{{"vonage", "sms", "+15550002000"}},
			wantSkipped:  []string{"twilio: down", "twilio: down"},
			wantFallback: true,
		},
		{
			name: "WhatsApp down at Meta, vendors up: reply by SMS, the inbound vendor first",
			in: PlanInput{Channel: "whatsapp", Vendor: "twilio", Business: "+15550001000",
				ChannelDown: func(_, ch string) bool { return ch == "whatsapp" }},
			wantNLU:      []string{"cx-global", "cx-europe", "llm", "local"},
			wantCPaaS:    []hop{{"twilio", "sms", "+15550001000"}, {"vonage", "sms", "+15550002000"}},
			wantSkipped:  []string{"twilio: whatsapp is down on twilio"},
			wantFallback: true,
		},
		{
			name:      "WhatsApp healthy: SMS stays behind it as the last resort, not used unless WhatsApp fails",
			in:        PlanInput{Channel: "whatsapp", Vendor: "twilio", Business: "+15550001000"},
			wantNLU:   []string{"cx-global", "cx-europe", "llm", "local"},
			wantCPaaS: []hop{{"twilio", "whatsapp", "+15550001000"}, {"twilio", "sms", "+15550001000"}, {"vonage", "sms", "+15550002000"}},
		},
		{
			name:        "Dialogflow CX global down: Europe answers first, the order of the rest is kept",
			in:          PlanInput{Channel: "sms", Vendor: "twilio", Business: "+15550001000", Down: down("cx-global")},
			wantNLU:     []string{"cx-europe", "llm", "local"},
			wantCPaaS:   []hop{{"twilio", "sms", "+15550001000"}, {"vonage", "sms", "+15550002000"}},
			wantSkipped: []string{"cx-global: down"},
		},
		{
			name:        "every NLU down: the customer gets the fallback reply",
			in:          PlanInput{Channel: "chat", Vendor: "api", Business: "+15550001000", Down: down("cx-global", "local")},
			wantCPaaS:   []hop{{"twilio", "sms", "+15550001000"}},
			wantSkipped: []string{"cx-global: down", "local: down"},
			wantWarning: "no NLU provider can be tried: the customer gets the fallback reply",
		},
		{
			name:        "every CPaaS down: the plan says the reply cannot be sent",
			in:          PlanInput{Channel: "sms", Vendor: "twilio", Business: "+15550001000", Down: down("twilio", "vonage")},
			wantNLU:     []string{"cx-global", "cx-europe", "llm", "local"},
			wantSkipped: []string{"twilio: down", "vonage: down"},
			wantWarning: "no CPaaS provider can be tried: the reply cannot be sent",
		},
		{
			name:      "a JSON API turn: the channel's list in order, from the business found by any of its addresses",
			in:        PlanInput{Channel: "sms", Vendor: "api", Business: "+15550002000"},
			wantNLU:   []string{"cx-global", "cx-europe", "llm", "local"},
			wantCPaaS: []hop{{"twilio", "sms", "+15550001000"}, {"vonage", "sms", "+15550002000"}},
		},
		{
			name:        "an address no business owns: the reply can only leave from it, on the inbound vendor",
			in:          PlanInput{Channel: "sms", Vendor: "twilio", Business: "+15559999999"},
			wantNLU:     []string{"cx-global", "cx-europe", "llm", "local"},
			wantCPaaS:   []hop{{"twilio", "sms", "+15559999999"}},
			wantSkipped: []string{"vonage: no business owns +15559999999, so there is no address to send from on vonage"},
			wantWarning: "no business has the address +15559999999",
		},
		{
			name:        "a channel the policy doesn't serve: nothing is planned, and the plan says why",
			in:          PlanInput{Channel: "voice", Vendor: "twilio", Business: "+15550001000"},
			wantWarning: `channel "voice" is not in the policy (channels: sms, whatsapp, chat)`,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pl := p.Plan(tc.in)
			if got := nluNames(pl); !slices.Equal(got, tc.wantNLU) {
				t.Errorf("NLU %v, want %v", got, tc.wantNLU)
			}
			if got := hops(pl); !slices.Equal(got, tc.wantCPaaS) {
				t.Errorf("CPaaS %v, want %v", got, tc.wantCPaaS)
			}
			if got := skipped(pl); !slices.Equal(got, tc.wantSkipped) {
				t.Errorf("skipped %q, want %q", got, tc.wantSkipped)
			}
			if pl.ChannelFallback != tc.wantFallback {
				t.Errorf("ChannelFallback = %v, want %v", pl.ChannelFallback, tc.wantFallback)
			}
			if tc.wantWarning != "" && !strings.Contains(strings.Join(pl.Warnings, "\n"), tc.wantWarning) {
				t.Errorf("warnings %q, want %q", pl.Warnings, tc.wantWarning)
			}
			if tc.wantWarning == "" && len(pl.Warnings) > 0 {
				t.Errorf("unexpected warnings %q", pl.Warnings)
			}
			if t.Failed() {
				t.Logf("plan:\n%s", pl)
			}
		})
	}
}

func TestTwoInstancesOfOneVendorTheInboundOneRepliesFirst(t *testing.T) {
	src := edit(t, basePolicy(t), "  vonage:    {kind: vonage, breaker: {consecutive_failures: 3}}",
		"  vonage:    {kind: vonage, breaker: {consecutive_failures: 3}}\n  vonage-eu: {kind: vonage}")
	src = edit(t, src, `addresses: {twilio: "+15550001000", vonage: "+15550002000"}`,
		`addresses: {twilio: "+15550001000", vonage: "+15550002000", vonage-eu: "+447700900000"}`)
	src = edit(t, src, `addresses: {twilio: "+15550001001", vonage: "+15550002001"}`,
		`addresses: {twilio: "+15550001001", vonage: "+15550002001", vonage-eu: "+447700900001"}`)
	src = edit(t, src, "cpaas: [twilio, vonage]}", "cpaas: [twilio, vonage, vonage-eu]}")
	p := mustParse(t, src)

	pl := p.Plan(PlanInput{Channel: "sms", Vendor: "vonage", Business: "+447700900000"})
	want := []hop{{"vonage-eu", "sms", "+447700900000"}, {"twilio", "sms", "+15550001000"}, {"vonage", "sms", "+15550002000"}}
	if got := hops(pl); !slices.Equal(got, want) {
		t.Errorf("CPaaS %v, want %v\n%s", got, want, pl)
	}
}

func TestThePlanBecomesTheWorkflowsRoute(t *testing.T) {
	p := mustParse(t, basePolicy(t))
	pl := p.Plan(PlanInput{Channel: "whatsapp", Vendor: "twilio", Business: "+15550001001", Down: down("cx-global", "llm")})
	got := pl.Route(nil)
	want := turn.Route{
		NLU: []turn.NLUCandidate{
			{Provider: "cx-europe", Attempt: turn.Attempt{Timeout: 4 * time.Second, MaxAttempts: 2}, HedgeAfter: HedgeFloor},
			{Provider: "local", Attempt: turn.Attempt{Timeout: 5 * time.Second, MaxAttempts: 2}, Local: true},
		},
		CPaaS: []turn.CPaaSCandidate{
			{Provider: "twilio", Channel: "whatsapp", From: "+15550001001", Attempt: turn.Attempt{Timeout: 5 * time.Second, MaxAttempts: 2}},
			{Provider: "twilio", Channel: "sms", From: "+15550001001", Attempt: turn.Attempt{Timeout: 5 * time.Second, MaxAttempts: 2}},
			{Provider: "vonage", Channel: "sms", From: "+15550002001", Attempt: turn.Attempt{Timeout: 5 * time.Second, MaxAttempts: 2}},
		},
		FallbackReply: "Sorry, we're having technical difficulties.",
		LanguageCode:  "en-GB", // the bakery's own language
		Escalation: turn.EscalationPolicy{
			HandoffIntents:  []string{"handoff.human"},
			MaxNoMatch:      2,
			Queues:          []turn.Queue{{Name: "tier1", AckSLA: 2 * time.Minute}, {Name: "tier2", AckSLA: 5 * time.Minute}},
			EscalatingReply: "Let me connect you with a member of our team.",
			FinalMessage:    "An agent will call you back within the hour.",
		},
		StaleReply: turn.StaleReply{After: DefaultStaleAfter, Apology: DefaultApology},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("route\n got %+v\nwant %+v", got, want)
	}
}

func TestTheRouterRoutesWithTheCurrentPolicy(t *testing.T) {
	p := mustParse(t, basePolicy(t))
	r := &Router{Policy: func() *Policy { return p }, Down: down("twilio")}
	route, err := r.Route(t.Context(), turn.RouteInput{Vendor: "twilio", Channel: "sms", From: "+15550001000"})
	if err != nil {
		t.Fatal(err)
	}
	if len(route.CPaaS) != 1 || route.CPaaS[0].Provider != "vonage" || route.CPaaS[0].From != "+15550002000" {
		t.Errorf("CPaaS %+v, want vonage from +15550002000", route.CPaaS)
	}
	if _, err := r.Route(t.Context(), turn.RouteInput{Vendor: "twilio", Channel: "voice", From: "+15550001000"}); err == nil || !strings.Contains(err.Error(), `channel "voice" is not in the routing policy`) {
		t.Errorf("voice: err = %v", err)
	}
	if _, err := (&Router{Policy: func() *Policy { return nil }}).Route(t.Context(), turn.RouteInput{Channel: "sms"}); err == nil {
		t.Error("no policy: want an error")
	}
}

func TestThePlanExplainsItselfInOrder(t *testing.T) {
	p := mustParse(t, basePolicy(t))
	out := p.Plan(PlanInput{Channel: "whatsapp", Vendor: "twilio", Business: "+15550001000", Down: down("twilio", "cx-global")}).String()
	for _, want := range []string{
		"channel whatsapp, in on twilio, to +15550001000 (business corner-store), language en\n",
		"NLU, tried in order:\n  1.  cx-europe  dialogflowcx  2 attempts of 4s, hedged after 2× its p95 (at least 100ms)\n  2.  llm        openai        1 attempt of 5s\n",
		"  1.  vonage  sms (fallback channel)  from +15550002000  2 attempts of 5s\n",
		"skipped:\n  cx-global  (nlu)                          down\n  twilio     (cpaas whatsapp)               down\n  twilio     (cpaas sms, fallback channel)  down\n",
		"channel fallback: no whatsapp provider can be tried, so the reply goes by sms",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("want\n%s\nin\n%s", want, out)
		}
	}
}
