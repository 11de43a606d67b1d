package routing

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/goccy/go-yaml"

	"github.com/switchboard-cc/switchboard/providers"
)

// FuzzParse: whatever the file holds, ParseFile returns a policy or errors, the
// same errors every time, each with a line and a message that speaks of the file
// rather than of Go. A policy it accepts, written back out with every resolved
// value spelled out, parses again to the same policy and the same plan for every
// turn.
func FuzzParse(f *testing.F) {
	for _, file := range []string{"testdata/policy.yaml", "testdata/broken.yaml",
		filepath.Join("..", "..", "deploy", "policy.example.yaml"), filepath.Join("..", "..", "deploy", "policy.dev.yaml")} {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(b))
	}
	f.Add("[1, 2]")
	f.Add("just text")
	f.Add("version: 1\nproviders: [a, b]\nchannels: {sms: 3}\n")
	f.Add("a: &x {b: *x}\n")
	f.Add("providers:\n  p: &p {kind: local}\n  q: *p\n  r: {<<: [*p, *p]}\n  s: {<<: 3}\n")
	f.Add("version: !!str 1\nreplies: {fallback: |\n  multi\n  line\n}\n")
	f.Add("? [complex, key]\n: 1\n")
	f.Add("version: 99999999999999999999999\n")
	f.Add("---\nversion: 1\n---\nversion: 1\n")
	f.Fuzz(func(t *testing.T, src string) {
		p, err := ParseFile("policy.yaml", []byte(src))
		if (p == nil) == (err == nil) {
			t.Fatalf("policy %v and error %v", p != nil, err)
		}
		if err != nil {
			_, again := ParseFile("policy.yaml", []byte(src))
			if again == nil || again.Error() != err.Error() {
				t.Fatalf("the same file gave other errors the second time:\n%v\n---\n%v", err, again)
			}
			checkErrors(t, err)
			return
		}
		out := writePolicy(t, p)
		q, err := ParseFile("rewritten.yaml", out)
		if err != nil {
			t.Fatalf("the policy written back does not parse:\n%s\n%v", out, err)
		}
		p.src, q.src = nil, nil
		if !reflect.DeepEqual(p, q) {
			t.Fatalf("the policy written back parses to another policy:\n%s\nwas %+v\nnow %+v", out, p, q)
		}
		for _, in := range planInputs(p) {
			if a, b := p.Plan(in), q.Plan(in); !reflect.DeepEqual(a, b) {
				t.Fatalf("another plan for %+v:\n%s\nnow\n%s", in, a, b)
			}
		}
	})
}

func checkErrors(t *testing.T, err error) {
	t.Helper()
	list := Errors(err)
	if len(list) == 0 {
		t.Fatalf("error %v holds no policy errors", err)
	}
	for _, e := range list {
		if e.Line == 0 {
			t.Errorf("error without a line: %s", e)
		}
		if strings.TrimSpace(e.Msg) == "" {
			t.Errorf("error without a message: %q", e.Error())
		}
		for _, goism := range []string{"reflect", "*ast.", "routing.raw", "interface {}", "%!"} {
			if strings.Contains(e.Msg, goism) {
				t.Errorf("error speaks Go (%q): %s", goism, e)
			}
		}
	}
}

// planInputs are a turn on every channel the policy serves, from every vendor, to
// every business address, with every provider healthy and with each one down.
func planInputs(p *Policy) []PlanInput {
	var addrs []string
	for _, b := range p.Businesses {
		for _, a := range b.Addresses {
			addrs = append(addrs, a)
		}
	}
	slices.Sort(addrs)
	downs := []func(string) bool{nil}
	for _, name := range p.ProviderNames() {
		downs = append(downs, func(pr string) bool { return pr == name })
	}
	var out []PlanInput
	for _, ch := range p.ChannelNames() {
		for _, vendor := range []string{"twilio", "vonage", "api"} {
			for _, a := range addrs {
				for _, down := range downs {
					out = append(out, PlanInput{Channel: ch, Vendor: vendor, Business: a, Down: down})
				}
			}
		}
	}
	return out
}

// writePolicy writes p as a policy file, every resolved value written out, so that
// nothing is left to defaults.
func writePolicy(t *testing.T, p *Policy) []byte {
	t.Helper()
	doc := map[string]any{
		"version":     p.Version,
		"language":    p.Language,
		"defaults":    settingsYAML(p.Defaults, true),
		"stuck_after": p.StuckAfter.String(),
		"stale_reply": map[string]any{"after": p.StaleReply.After.String(), "action": p.StaleReply.Action, "apology": p.StaleReply.Apology},
	}
	replies := map[string]any{}
	putText(replies, "fallback", p.Replies.Fallback)
	putText(replies, "escalating", p.Replies.Escalating)
	doc["replies"] = replies

	provs := map[string]any{}
	for name, pr := range p.Providers {
		m := settingsYAML(pr.Settings, pr.Role() == RoleNLU)
		m["kind"] = pr.Kind
		putText(m, "location", pr.Location)
		putText(m, "project", pr.Project)
		putText(m, "agent", pr.Agent)
		putText(m, "endpoint", pr.Endpoint)
		putText(m, "model", pr.Model)
		putText(m, "url", pr.Webhook.URL)
		putText(m, "probe_url", pr.Webhook.ProbeURL)
		putText(m, "secret_env", pr.Webhook.SecretEnv)
		putText(m, "secret_file", pr.Webhook.SecretFile)
		if pr.Webhook.InsecureHTTP {
			m["insecure_http"] = true
		}
		classify := map[string][]int{}
		for st, kind := range pr.Classify {
			k := kindName(kind)
			classify[k] = append(classify[k], st)
		}
		for _, sts := range classify {
			slices.Sort(sts)
		}
		if len(classify) > 0 {
			m["classify"] = classify
		}
		provs[name] = m
	}
	doc["providers"] = provs

	var biz []any
	for _, b := range p.Businesses {
		m := map[string]any{"name": b.Name}
		if b.Addresses != nil {
			m["addresses"] = b.Addresses
		}
		putText(m, "language", b.Language)
		biz = append(biz, m)
	}
	doc["businesses"] = biz

	chans := map[string]any{}
	for name, c := range p.Channels {
		m := map[string]any{}
		if c.NLU != nil {
			m["nlu"] = c.NLU
		}
		if c.CPaaS != nil {
			m["cpaas"] = c.CPaaS
		}
		putText(m, "fallback_channel", c.FallbackChannel)
		chans[name] = m
	}
	doc["channels"] = chans

	if e := p.Escalation; e != nil {
		m := map[string]any{"max_no_match": e.MaxNoMatch}
		if e.HandoffIntents != nil {
			m["handoff_intents"] = e.HandoffIntents
		}
		putText(m, "final_message", e.FinalMessage)
		if e.Queues != nil {
			var qs []any
			for _, q := range e.Queues {
				qs = append(qs, map[string]any{"name": q.Name, "ack_sla": q.AckSLA.String()})
			}
			m["queues"] = qs
		}
		doc["escalation"] = m
	}
	if c := p.Canary; c != nil {
		doc["canary"] = map[string]any{"business": c.Business, "channel": c.Channel, "customer": c.Customer, "text": c.Text}
	}
	if v := p.Voice; v != nil {
		m := map[string]any{
			"budget": v.Budget.String(), "max_holds": v.MaxHolds, "language": v.Language,
			"calls_share_conversation": v.PerCaller, "sms_unspoken_reply": v.SMSUnspoken,
		}
		putText(m, "holding_prompt", v.HoldingPrompt)
		putText(m, "greeting", v.Greeting)
		putText(m, "reprompt", v.Reprompt)
		putText(m, "apology", v.Apology)
		putText(m, "final_message", v.FinalMessage)
		putText(m, "voice", v.VoiceName)
		if v.Hints != nil {
			m["hints"] = v.Hints
		}
		var hs []any
		for _, h := range v.Handoff {
			o := map[string]any{"timeout": h.Timeout.String()}
			putText(o, "enqueue", h.Enqueue)
			putText(o, "dial", h.Dial)
			putText(o, "sip", h.SIP)
			hs = append(hs, o)
		}
		if hs != nil {
			m["handoff"] = hs
		}
		if va := v.VirtualAgent; va != nil {
			m["virtual_agent"] = map[string]any{"connector": va.Connector}
		}
		doc["voice"] = m
	}
	out, err := yaml.Marshal(doc)
	if err != nil {
		t.Fatalf("writing %+v: %v", p, err)
	}
	return out
}

func putText(m map[string]any, key, s string) {
	if s != "" {
		m[key] = s
	}
}

// settingsYAML writes s; the hedge settings only where they may be written (not
// under a CPaaS provider, which inherits them from the defaults), and hedge_after
// only when it is not derived (HedgeAuto is hedge_after left out).
func settingsYAML(s Settings, hedged bool) map[string]any {
	b := s.Breaker
	m := map[string]any{
		"attempt_timeout": s.AttemptTimeout.String(),
		"retries":         s.Retries,
		"probe_interval":  s.ProbeInterval.String(),
		"breaker": map[string]any{
			"consecutive_failures": b.ConsecutiveFailures,
			"failure_rate":         b.FailureRate,
			"window":               b.Window.String(),
			"min_calls":            b.MinCalls,
			"slow_call":            b.SlowCall.String(),
			"open_for":             b.OpenFor.String(),
			"half_open_probes":     b.HalfOpenProbes,
		},
	}
	if hedged {
		m["hedge_max_in_flight"] = s.HedgeMaxInFlight
		if s.HedgeAfter != HedgeAuto {
			m["hedge_after"] = s.HedgeAfter.String()
		}
	}
	return m
}

// The writer above must know every field: a field added to the policy and not
// to the writer would make the fuzz target compare less than it says.
func TestTheFuzzWriterWritesEveryField(t *testing.T) {
	p := mustParse(t, basePolicy(t))
	p.Canary = &Canary{Business: "corner-store", Channel: "sms", Customer: "+15557770000", Text: "ping"}
	p.Provider("twilio").Classify = map[int]error{422: providers.ErrRejected, 503: providers.ErrRateLimited}
	p.Provider("cx-global").Project, p.Provider("cx-global").Agent, p.Provider("cx-global").Endpoint = "proj", "agent", "127.0.0.1:1"
	p.Provider("cx-global").HedgeAfter, p.Provider("cx-global").HedgeMaxInFlight = 150*time.Millisecond, 4
	p.StaleReply = StaleReply{After: time.Minute, Action: StaleSuppress, Apology: "late"}
	for name, w := range map[string]Webhook{
		"chat-env":  {URL: "http://chat.internal/r", ProbeURL: "http://chat.internal/h", SecretEnv: "CHAT_SECRET", InsecureHTTP: true},
		"chat-file": {URL: "https://chat.example.com/r", SecretFile: "chat.secret"},
	} {
		p.Providers[name] = &Provider{Name: name, Kind: KindWebhook, Webhook: w, Settings: p.Provider("twilio").Settings}
	}
	p.Channels["voice"] = &Channel{Name: "voice", NLU: []string{"cx-global", "local"}, CPaaS: []string{"twilio"}}
	p.Voice = &Voice{Budget: time.Second, HoldingPrompt: "hold", MaxHolds: 1, Greeting: "hi", Reprompt: "again?", Apology: "sorry",
		FinalMessage: "bye", Language: "en-US", VoiceName: "alice", Hints: []string{"order"}, PerCaller: true, SMSUnspoken: true,
		Handoff:      []Handoff{{Enqueue: "WW0123456789abcdef0123456789abcdef", Timeout: 20 * time.Second}, {Dial: "+15550009999", Timeout: 5 * time.Second}, {SIP: "sip:a@b", Timeout: time.Minute}},
		VirtualAgent: &VirtualAgent{Connector: "cx"}}
	q, err := ParseFile("rewritten.yaml", writePolicy(t, p))
	if err != nil {
		t.Fatal(err)
	}
	p.src, q.src = nil, nil
	if !reflect.DeepEqual(p, q) {
		t.Fatalf("written and read back:\nwas %+v\nnow %+v", p, q)
	}
	for _, typ := range []reflect.Type{reflect.TypeFor[Policy](), reflect.TypeFor[Provider](), reflect.TypeFor[Settings](),
		reflect.TypeFor[Breaker](), reflect.TypeFor[Business](), reflect.TypeFor[Channel](), reflect.TypeFor[Escalation](),
		reflect.TypeFor[Replies](), reflect.TypeFor[StaleReply](), reflect.TypeFor[Canary](), reflect.TypeFor[Webhook](),
		reflect.TypeFor[Voice](), reflect.TypeFor[Handoff](), reflect.TypeFor[VirtualAgent]()} {
		if n, want := typ.NumField(), fieldCounts[typ.Name()]; n != want {
			t.Errorf("%s has %d fields, the fuzz writer knows %d: teach writePolicy the new ones", typ.Name(), n, want)
		}
	}
}

// fieldCounts are the fields writePolicy writes, per type (Policy's src included).
var fieldCounts = map[string]int{
	"Policy": 13, "Provider": 10, "Settings": 6, "Breaker": 7, "Business": 3, "Channel": 4,
	"Escalation": 4, "Replies": 2, "StaleReply": 3, "Canary": 4, "Webhook": 5,
	"Voice": 14, "Handoff": 4, "VirtualAgent": 1,
}
