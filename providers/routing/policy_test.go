package routing

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-cc/switchboard/providers"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

// basePolicy is testdata/policy.yaml: a valid policy that the error scenarios break
// one line at a time, so that the lines they expect stay put.
func basePolicy(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("testdata/policy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// edit replaces old, which must occur exactly once, with new.
func edit(t *testing.T, src, old, new string) string {
	t.Helper()
	if n := strings.Count(src, old); n != 1 {
		t.Fatalf("edit: %q occurs %d times in the policy", old, n)
	}
	return strings.Replace(src, old, new, 1)
}

func mustParse(t *testing.T, src string) *Policy {
	t.Helper()
	p, err := ParseFile("policy.yaml", []byte(src))
	if err != nil {
		t.Fatalf("policy does not parse:\n%v", err)
	}
	return p
}

func errorLines(err error) []string {
	var out []string
	for _, e := range Errors(err) {
		out = append(out, e.Error())
	}
	return out
}

func TestTheShippedExampleValidates(t *testing.T) {
	p, err := Load(filepath.Join("..", "..", "deploy", "policy.example.yaml"))
	if err != nil {
		t.Fatalf("deploy/policy.example.yaml, which users copy, does not validate:\n%v", err)
	}
	// The example must show what it documents.
	if got := p.Provider("cx-europe").AttemptTimeout; got != 3*time.Second {
		t.Errorf("cx-europe attempt_timeout = %v, want the 3s override", got)
	}
	if got := p.Provider("vonage").Breaker.ConsecutiveFailures; got != 3 {
		t.Errorf("vonage consecutive_failures = %d, want the override 3", got)
	}
	if got := p.Provider("vonage").Breaker.OpenFor; got != p.Defaults.Breaker.OpenFor {
		t.Errorf("vonage open_for = %v, want the default %v", got, p.Defaults.Breaker.OpenFor)
	}
	if p.Channel("whatsapp").FallbackChannel != "sms" || p.Escalation == nil || len(p.Businesses) == 0 {
		t.Error("the example no longer shows fallback_channel, escalation and businesses")
	}
	if !errors.Is(p.Provider("vonage").ErrorKind(422), providers.ErrRejected) {
		t.Error("the example's classify of vonage 422 as rejected is not applied")
	}
	if p.Source() == "" {
		t.Error("Source is empty for a loaded file")
	}
}

func TestDefaultsApplyToEveryProviderFieldByField(t *testing.T) {
	p := mustParse(t, basePolicy(t))
	cx := p.Provider("cx-europe")
	if cx.AttemptTimeout != 4*time.Second || cx.Retries != 1 || cx.MaxAttempts() != 2 {
		t.Errorf("cx-europe: timeout %v retries %d, want its own 4s and the default 1", cx.AttemptTimeout, cx.Retries)
	}
	if llm := p.Provider("llm"); llm.MaxAttempts() != 1 || llm.AttemptTimeout != 5*time.Second {
		t.Errorf("llm: %d attempts of %v, want 1 of the default 5s", llm.MaxAttempts(), llm.AttemptTimeout)
	}
	v := p.Provider("vonage").Breaker
	if v.ConsecutiveFailures != 3 || v.SlowCall != 3*time.Second || v.OpenFor != 30*time.Second || v.HalfOpenProbes != 3 || v.FailureRate != 0.5 {
		t.Errorf("vonage breaker %+v: want its own consecutive_failures 3, the file's slow_call 3s and built-in defaults for the rest", v)
	}
	if got := p.Provider("twilio").ProbeInterval; got != 10*time.Second {
		t.Errorf("probe_interval = %v, want the built-in 10s", got)
	}
	if p.Language != "en" || p.StuckAfter != 10*time.Minute {
		t.Errorf("language %q stuck_after %v", p.Language, p.StuckAfter)
	}
	if !errors.Is(p.Provider("twilio").ErrorKind(503), providers.ErrUnavailable) {
		t.Error("without classify, statuses keep the standard classification")
	}
}

// The example documented the built-in slow_call as 3s while the code's was 0 (off):
// a provider left without slow_call never counted a hanging call against itself.
// The built-in is now 60% of the provider's attempt_timeout, 3s for the built-in 5s.
func TestSlowCall_LeftOutEverywhere_IsTiedToEachProvidersAttemptTimeout_AndZeroStillSwitchesItOff(t *testing.T) {
	src := "version: 1\n" +
		"providers:\n" +
		"  cx:     {kind: dialogflowcx, location: global}\n" +
		"  llm:    {kind: openai, model: m, attempt_timeout: 10s}\n" +
		"  local:  {kind: local, breaker: {slow_call: 0s}}\n" +
		"  twilio: {kind: twilio}\n" +
		"businesses:\n" +
		"  - {name: shop, addresses: {twilio: \"+15550001000\"}}\n" +
		"channels:\n" +
		"  sms: {nlu: [cx, llm, local], cpaas: [twilio]}\n" +
		"stuck_after: 5m\n" +
		"replies: {fallback: sorry}\n"
	p := mustParse(t, src)
	for name, want := range map[string]time.Duration{"cx": 3 * time.Second, "llm": 6 * time.Second, "local": 0, "twilio": 3 * time.Second} {
		if got := p.Provider(name).Breaker.SlowCall; got != want {
			t.Errorf("%s: slow_call %v, want %v", name, got, want)
		}
	}
	if got := p.Defaults.Breaker.SlowCall; got != 3*time.Second {
		t.Errorf("defaults: slow_call %v, want the documented 3s", got)
	}
	// Written under defaults, it is what every provider inherits, as before.
	p = mustParse(t, strings.Replace(src, "version: 1\n", "version: 1\ndefaults: {breaker: {slow_call: 4s}}\n", 1))
	if got := p.Provider("llm").Breaker.SlowCall; got != 4*time.Second {
		t.Errorf("llm under defaults.breaker.slow_call 4s: %v", got)
	}
}

func TestTheExampleDocumentsTheBuiltInSlowCall(t *testing.T) {
	b, err := os.ReadFile("../../deploy/policy.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("slow_call: %s", FormatDuration(BuiltinSlowCall(builtinDefaults.AttemptTimeout)))
	if !strings.Contains(string(b), "attempt_timeout: "+FormatDuration(builtinDefaults.AttemptTimeout)) || !strings.Contains(string(b), want) {
		t.Errorf("deploy/policy.example.yaml should show the built-in attempt_timeout %s and %q", FormatDuration(builtinDefaults.AttemptTimeout), want)
	}
}

func TestHedgeAfter_DerivedUnlessWritten_ZeroTurnsItOff(t *testing.T) {
	src := edit(t, basePolicy(t), "location: global}", "location: global, hedge_after: 0}")
	src = edit(t, src, "attempt_timeout: 4s}", "attempt_timeout: 4s, hedge_after: 150ms, hedge_max_in_flight: 4}")
	p := mustParse(t, src)
	if got := p.Provider("cx-global").HedgeAfter; got != 0 {
		t.Errorf("cx-global hedge_after %v, want 0 (off)", got)
	}
	if got := p.Provider("cx-europe"); got.HedgeAfter != 150*time.Millisecond || got.HedgeMaxInFlight != 4 {
		t.Errorf("cx-europe hedge_after %v, max in flight %d; want 150ms, 4", got.HedgeAfter, got.HedgeMaxInFlight)
	}
	if got := p.Provider("llm"); got.HedgeAfter != HedgeAuto || got.HedgeMaxInFlight != DefaultHedgeMaxInFlight {
		t.Errorf("llm hedge_after %v, max in flight %d; want derived, %d", got.HedgeAfter, got.HedgeMaxInFlight, DefaultHedgeMaxInFlight)
	}
	p95 := map[string]time.Duration{"llm": 400 * time.Millisecond, "cx-europe": time.Second}
	route := p.Plan(PlanInput{Channel: "sms", Vendor: "twilio", Business: "+15550001000"}).Route(func(name string) time.Duration { return p95[name] })
	got := map[string]time.Duration{}
	for _, c := range route.NLU {
		got[c.Provider] = c.HedgeAfter
	}
	want := map[string]time.Duration{"cx-global": 0, "cx-europe": 150 * time.Millisecond, "llm": 800 * time.Millisecond, "local": 0}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("hedge delays %v, want %v (written ones as written, derived 2× p95)", got, want)
	}
	if d := HedgeDelay(HedgeAuto, 10*time.Millisecond); d != HedgeFloor {
		t.Errorf("a fast provider hedges after %v, want the floor %v", d, HedgeFloor)
	}
}
