package routing

import (
	"os"
	"strings"
	"testing"
)

func TestAPolicyErrorNamesTheLineAndTheField(t *testing.T) {
	for _, tc := range []struct {
		name      string
		old, new  string
		want      string
		wantAlso  []string
		notWanted string
	}{
		{
			name: "unknown provider: error names line and field, and lists the known ones",
			old:  "sms:      {nlu: [cx-global, cx-europe, llm, local]", new: "sms:      {nlu: [cx-global, cx-europe, lmm, local]",
			want: `policy.yaml:20:42: channels.sms.nlu[2]: provider "lmm" is not defined (known: cx-europe, cx-global, llm, local, twilio, vonage); did you mean "llm"?`,
		},
		{
			name: "a misspelt field is an error, with the field it probably meant",
			old:  "attempt_timeout: 4s}", new: "atempt_timeout: 4s}",
			want: "policy.yaml:8:59: providers.cx-europe.atempt_timeout: unknown field; did you mean attempt_timeout?",
		},
		{
			name: "a misspelt top-level field",
			old:  "stuck_after: 10m", new: "stuck_afer: 10m",
			want: "policy.yaml:31:1: stuck_afer: unknown field; did you mean stuck_after?",
		},
		{
			name: "a duration without a unit",
			old:  "  attempt_timeout: 5s", new: "  attempt_timeout: 5",
			want: "policy.yaml:3:20: defaults.attempt_timeout: 5 has no unit: write a duration such as 5s or 5ms",
		},
		{
			name: "a duration that is not one",
			old:  "stuck_after: 10m", new: "stuck_after: ten minutes",
			want: `policy.yaml:31:14: stuck_after: "ten minutes" is not a duration: write e.g. 500ms, 5s, 2m or 1h30m`,
		},
		{
			name: "a list where a list belongs",
			old:  "handoff_intents: [handoff.human]", new: "handoff_intents: handoff.human",
			want: `policy.yaml:24:20: escalation.handoff_intents: must be a list, e.g. [a, b], not text "handoff.human"`,
		},
		{
			name: "version must be 1",
			old:  "version: 1", new: "version: 2",
			want: "policy.yaml:1:10: version: version 2 is not supported; this Switchboard reads version 1",
		},
		{
			name: "an unknown kind",
			old:  "{kind: vonage,", new: "{kind: nexmo,",
			want: `policy.yaml:12:21: providers.vonage.kind: unknown kind "nexmo" (known: dialogflowcx, openai, local, twilio, vonage, webhook)`,
		},
		{
			name: "dialogflowcx needs a location",
			old:  "cx-global: {kind: dialogflowcx, location: global}", new: "cx-global: {kind: dialogflowcx}",
			want: "policy.yaml:7:3: providers.cx-global.location: is required for dialogflowcx",
		},
		{
			name: "a field of another kind",
			old:  "twilio:    {kind: twilio}", new: "twilio:    {kind: twilio, model: gpt-4o}",
			want: "policy.yaml:11:36: providers.twilio.model: applies only to openai providers; this one is twilio",
		},
		{
			name: "a CPaaS provider in an nlu list",
			old:  "chat:     {nlu: [cx-global, local]", new: "chat:     {nlu: [twilio, local]",
			want: `policy.yaml:22:20: channels.chat.nlu[0]: "twilio" is a CPaaS provider (twilio), which delivers replies; nlu lists only NLU providers (dialogflowcx, openai, local)`,
		},
		{
			name: "an NLU provider in a cpaas list",
			old:  "cpaas: [twilio], fallback_channel: sms}", new: "cpaas: [twilio, llm], fallback_channel: sms}",
			want: `policy.yaml:21:71: channels.whatsapp.cpaas[1]: "llm" is an NLU provider (openai), which understands messages; cpaas lists only CPaaS providers (twilio, vonage, webhook)`,
		},
		{
			name: "local answers everything, so it goes last",
			old:  "chat:     {nlu: [cx-global, local]", new: "chat:     {nlu: [local, cx-global]",
			want: `policy.yaml:22:20: channels.chat.nlu[0]: "local" is a local provider, which always answers, so cx-global after it would never be tried: put it last`,
		},
		{
			name: "a channel needs an NLU provider",
			old:  "chat:     {nlu: [cx-global, local]", new: "chat:     {nlu: []",
			want: "policy.yaml:22:14: channels.chat.nlu: at least one NLU provider (dialogflowcx, openai, local) is required",
		},
		{
			name: "a channel needs a CPaaS provider",
			old:  "chat:     {nlu: [cx-global, local], cpaas: [twilio]}", new: "chat:     {nlu: [cx-global, local]}",
			want: "policy.yaml:22:3: channels.chat.cpaas: at least one CPaaS provider (twilio, vonage, webhook) is required",
		},
		{
			name: "only known channels",
			old:  "  chat:", new: "  fax:",
			want: "policy.yaml:22:3: channels.fax: unknown channel (channels are sms, whatsapp, chat, voice)",
		},
		{
			name: "a provider listed twice",
			old:  "cpaas: [twilio, vonage]}", new: "cpaas: [twilio, vonage, twilio]}",
			want: `policy.yaml:20:79: channels.sms.cpaas[2]: "twilio" is listed twice`,
		},
		{
			name: "fallback_channel must exist",
			old:  "fallback_channel: sms}", new: "fallback_channel: voice}",
			want: `policy.yaml:21:90: channels.whatsapp.fallback_channel: channel "voice" is not configured under channels (configured: sms, whatsapp, chat)`,
		},
		{
			name: "fallback_channel must differ",
			old:  "fallback_channel: sms}", new: "fallback_channel: whatsapp}",
			want: "policy.yaml:21:90: channels.whatsapp.fallback_channel: a channel cannot fall back to itself",
		},
		{
			name: "a business without an address on a vendor a channel lists",
			old:  `addresses: {twilio: "+15550001000", vonage: "+15550002000"}`, new: `addresses: {twilio: "+15550001000"}`,
			want: `policy.yaml:15:5: businesses[0].addresses: business "corner-store" has no address on vonage, which channel sms lists: replies through vonage would have no sender`,
		},
		{
			name: "an address on an undefined provider",
			old:  `addresses: {twilio: "+15550001000", vonage: "+15550002000"}`, new: `addresses: {twilio: "+15550001000", vonage: "+15550002000", twillio: "+15550003000"}`,
			want: `policy.yaml:15:65: businesses[0].addresses.twillio: provider "twillio" is not defined (CPaaS providers: twilio, vonage)`,
		},
		{
			name: "two businesses cannot share an address",
			old:  `vonage: "+15550002001"`, new: `vonage: "+15550002000"`,
			want: `policy.yaml:18:49: businesses[1].addresses.vonage: +15550002000 is already the address at businesses[0].addresses.vonage: an inbound message to it must identify one business`,
		},
		{
			name: "an address that is not E.164",
			old:  `vonage: "+15550002001"`, new: `vonage: "555-0002001"`,
			want: `policy.yaml:18:49: businesses[1].addresses.vonage: "555-0002001" is not an address replies can leave from`,
		},
		{
			name: "failure_rate is a share",
			old:  "breaker: {consecutive_failures: 3}", new: "breaker: {consecutive_failures: 3, failure_rate: 50}",
			want: "policy.yaml:12:78: providers.vonage.breaker.failure_rate: 50 is out of range: a share of calls, above 0 and at most 1 (0.5 = half)",
		},
		{
			name: "open_for at least 1s",
			old:  "breaker: {consecutive_failures: 3}", new: "breaker: {consecutive_failures: 3, open_for: 500ms}",
			want: "policy.yaml:12:74: providers.vonage.breaker.open_for: 500ms is out of range: between 1s and 1h",
		},
		{
			name: "a provider's attempt_timeout no longer than the inherited slow_call points at the provider's line",
			old:  "attempt_timeout: 4s}", new: "attempt_timeout: 2s}",
			want: "policy.yaml:8:76: providers.cx-europe.attempt_timeout: 2s is not longer than breaker.slow_call (3s, from defaults)",
		},
		{
			name: "retries are bounded",
			old:  "  retries: 1", new: "  retries: 50",
			want: "policy.yaml:4:12: defaults.retries: 50 is out of range: between 0 and 5",
			// Providers inherit the value: one error, where it was written.
			notWanted: "providers.",
		},
		{
			name: "queue names are unique and ack_sla at least 10s",
			old:  "{name: tier2, ack_sla: 5m}", new: "{name: tier1, ack_sla: 5s}",
			want:     `policy.yaml:26:47: escalation.queues[1].name: queue "tier1" is already defined at escalation.queues[0]`,
			wantAlso: []string{"policy.yaml:26:63: escalation.queues[1].ack_sla: 5s is out of range: between 10s and 24h"},
		},
		{
			name: "a queue name must be usable as a subject token",
			old:  "{name: tier2, ack_sla: 5m}", new: "{name: tier 2, ack_sla: 5m}",
			want: `policy.yaml:26:47: escalation.queues[1].name: "tier 2" is not a queue name`,
		},
		{
			name: "the fallback reply is required",
			old:  `  fallback: "Sorry, we're having technical difficulties."` + "\n", new: "",
			want: "policy.yaml:28:1: replies.fallback: is required: it is what the customer hears when no NLU provider answered",
		},
		{
			name: "stuck_after must outlast the slowest possible turn",
			old:  "stuck_after: 10m", new: "stuck_after: 40s",
			want: "policy.yaml:31:14: stuck_after: 40s is not longer than the slowest turn when every provider uses every attempt (sms 1m10s, whatsapp 1m23s)",
		},
		{
			name: "an unknown stale reply action",
			old:  "stuck_after: 10m", new: "stuck_after: 10m\nstale_reply: {after: 30m, action: shout}",
			want: `policy.yaml:32:35: stale_reply.action: "shout" is not an action: apologize (prefix the apology) or suppress (send nothing)`,
		},
		{
			name: "an apology is needed to apologize",
			old:  "stuck_after: 10m", new: "stuck_after: 10m\nstale_reply: {after: 30s, apology: \"\"}",
			want:     "policy.yaml:32:22: stale_reply.after: 30s is out of range: between 1m and 168h",
			wantAlso: []string{"policy.yaml:32:36: stale_reply.apology: is required when action is apologize"},
		},
		{
			name: "the canary talks as a business of the policy, to a real address",
			old:  "stuck_after: 10m", new: "stuck_after: 10m\ncanary: {business: nobody, channel: fax, customer: 15559990000}",
			want: `policy.yaml:32:20: canary.business: "nobody" is not a business of this policy (corner-store, bakery)`,
			wantAlso: []string{
				`policy.yaml:32:37: canary.channel: "fax" is not a channel of this policy (sms, whatsapp, chat)`,
				`policy.yaml:32:52: canary.customer: "15559990000" is not an address`,
			},
		},
		{
			name: "a status classified twice",
			old:  "twilio:    {kind: twilio}", new: "twilio:    {kind: twilio, classify: {unavailable: [503], rate_limited: [503]}}",
			want: "policy.yaml:11:75: providers.twilio.classify.rate_limited[0]: status 503 is already classified as unavailable",
		},
		{
			name: "the reserved provider name",
			old:  "  local:     {kind: local}", new: "  fallback:  {kind: local}",
			want: `policy.yaml:10:3: providers.fallback: the name "fallback" is reserved`,
		},
		{
			name: "YAML syntax error names its line",
			old:  "  retries: 1", new: "  retries: [1",
			want: "policy.yaml:5:3: ',' or ']' must be specified",
		},
		{
			name: "a key written twice",
			old:  "  retries: 1", new: "  retries: 1\n  retries: 2",
			want: `policy.yaml:5:3: mapping key "retries" already defined at [4:3]`,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := edit(t, basePolicy(t), tc.old, tc.new)
			p, err := ParseFile("policy.yaml", []byte(src))
			if err == nil {
				t.Fatalf("parsed without error, want %s", tc.want)
			}
			if p != nil {
				t.Error("a policy with errors was returned")
			}
			lines := errorLines(err)
			for _, want := range append([]string{tc.want}, tc.wantAlso...) {
				found := false
				for _, l := range lines {
					if strings.HasPrefix(l, want) {
						found = true
					}
				}
				if !found {
					t.Errorf("want an error starting\n  %s\ngot:\n  %s", want, strings.Join(lines, "\n  "))
				}
			}
			if tc.notWanted != "" {
				for _, l := range lines {
					if strings.Contains(l, tc.notWanted) {
						t.Errorf("unwanted error %s", l)
					}
				}
			}
		})
	}
}

// testdata/broken.yaml holds many mistakes at once. Every one is reported, in file
// order, one per line, and the whole report is kept in testdata/broken.golden so a
// change to any message shows up in review. Run with -update to rewrite it.
func TestEveryErrorIsReportedAtOnceInFileOrder(t *testing.T) {
	_, err := Load("testdata/broken.yaml")
	if err == nil {
		t.Fatal("testdata/broken.yaml parsed without error")
	}
	got := err.Error() + "\n"
	if *update {
		if err := os.WriteFile("testdata/broken.golden", []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, rerr := os.ReadFile("testdata/broken.golden")
	if rerr != nil {
		t.Fatal(rerr)
	}
	if got != string(want) {
		t.Errorf("errors changed (run go test -update to accept):\n--- got\n%s--- want\n%s", got, want)
	}
	errs := Errors(err)
	if len(errs) < 10 {
		t.Errorf("only %d errors reported", len(errs))
	}
	for i := 1; i < len(errs); i++ {
		if errs[i].Line < errs[i-1].Line {
			t.Errorf("errors out of file order: %s before %s", errs[i-1], errs[i])
		}
	}
	for _, e := range errs {
		if e.Line == 0 || e.Path == "" || e.File != "testdata/broken.yaml" {
			t.Errorf("error without line, field or file: %+v", e)
		}
	}
}

func TestAPolicyBuiltInGoValidatesWithFieldPaths(t *testing.T) {
	p := mustParse(t, basePolicy(t))
	p.src = nil // as if built in Go
	p.Provider("twilio").Retries = 9
	p.Channel("sms").NLU = []string{"ghost", "local"}
	err := p.Validate()
	lines := errorLines(err)
	if len(lines) != 2 {
		t.Fatalf("got %d errors, want 2:\n%v", len(lines), err)
	}
	p2 := &Policy{Version: 1, Language: "en", Defaults: builtinDefaults}
	err = p2.Validate()
	for _, want := range []string{"providers: at least one", "businesses: at least one", "channels: at least one", "replies.fallback: is required"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("want %q in:\n%v", want, err)
		}
	}
	for _, e := range Errors(err) {
		if e.Line != 0 || e.File != "" {
			t.Errorf("a policy built in Go has no lines, got %s", e)
		}
	}
}

// validate said nothing about a provider whose slow-call counting was off: now it
// warns, at the line where the 0 was written, without refusing the policy.
func TestSlowCall_OffForAProviderWithALongAttemptTimeout_IsAWarningAtItsLine(t *testing.T) {
	src := "version: 1\n" +
		"providers:\n" +
		"  cx:     {kind: dialogflowcx, location: global, attempt_timeout: 8s, breaker: {slow_call: 0s}}\n" +
		"  fast:   {kind: dialogflowcx, location: europe-west1, attempt_timeout: 2s, breaker: {slow_call: 0s}}\n" +
		"  local:  {kind: local}\n" +
		"  twilio: {kind: twilio}\n" +
		"businesses:\n" +
		"  - {name: shop, addresses: {twilio: \"+15550001000\"}}\n" +
		"channels:\n" +
		"  sms: {nlu: [cx, fast, local], cpaas: [twilio]}\n" +
		"stuck_after: 5m\n" +
		"replies: {fallback: sorry}\n"
	p := mustParse(t, src)
	var lines []string
	for _, w := range p.Warnings() {
		lines = append(lines, w.Error())
	}
	if len(lines) != 1 || !strings.HasPrefix(lines[0], "policy.yaml:3:") || !strings.Contains(lines[0], "providers.cx.breaker.slow_call: slow-call counting is off while attempt_timeout is 8s") {
		t.Fatalf("warnings:\n%s\nwant one, for cx at line 3", strings.Join(lines, "\n"))
	}
	// Switched off for everyone under defaults, it points at the defaults line.
	src = strings.Replace(src, "version: 1\n", "version: 1\ndefaults: {attempt_timeout: 6s, breaker: {slow_call: 0s}}\n", 1)
	src = strings.Replace(src, ", attempt_timeout: 8s, breaker: {slow_call: 0s}", "", 1)
	lines = nil
	for _, w := range mustParse(t, src).Warnings() {
		lines = append(lines, w.Error())
	}
	want := []string{"policy.yaml:2:", "policy.yaml:2:", "policy.yaml:2:"} // cx, local, twilio inherit it; fast keeps 2s
	if len(lines) != len(want) {
		t.Fatalf("warnings:\n%s\nwant 3 at the defaults line", strings.Join(lines, "\n"))
	}
	for i := range want {
		if !strings.HasPrefix(lines[i], want[i]) {
			t.Errorf("warning %d: %s, want it at %s", i, lines[i], want[i])
		}
	}
}
