package drill

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-cc/switchboard/deploy"
	"github.com/switchboard-cc/switchboard/providers/routing"
)

func devPolicy(t *testing.T) *routing.Policy {
	t.Helper()
	p, err := routing.Parse(deploy.DevPolicy)
	require.NoError(t, err)
	return p
}

// minimal is a valid scenario the cases below break one line of.
const minimal = `name: t
duration: 1m
load:
  conversations: 10
  rate:
    - {at: 0s, turns_per_second: 2}
  channels: {twilio_sms: 1}
  texts: {hello: 1}
topology: {nlu_latency: 50ms}
faults:
  - {at: 10s, for: 10s, kind: outage, provider: cx-global}
`

func TestScenario_TheShippedScenariosAreValid(t *testing.T) {
	files, err := filepath.Glob("../../deploy/drills/*.yaml")
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(files), 6, "ci, vendor-session-store, regional-nlu, cpaas-outage, infra-restarts, soak-30m")
	for _, f := range files {
		sc, err := LoadFile(f)
		require.NoError(t, err, f)
		require.NoError(t, sc.Validate(devPolicy(t), nil), f)
		require.Equal(t, strings.TrimSuffix(filepath.Base(f), ".yaml"), sc.Name, "a scenario is named as its file")
		require.NotEmpty(t, sc.Description, f)
	}
}

func TestScenario_CIHasEveryFaultKind(t *testing.T) {
	sc, err := LoadFile("../../deploy/drills/ci.yaml")
	require.NoError(t, err)
	kinds, processes := map[string]bool{}, map[string]bool{}
	for _, f := range sc.Faults {
		kinds[f.Kind] = true
		if f.Kind == FaultRestart {
			processes[f.Process] = true
		}
		if f.Kind == FaultOutage {
			kinds[f.Kind+"/"+f.How] = true
		}
	}
	for _, k := range append(faultKinds(), "outage/refuse", "outage/5xx", "outage/hang") {
		require.True(t, kinds[k], "ci has no %s fault", k)
	}
	for _, p := range []string{ProcessWorker, ProcessAPI, ProcessNATS, ProcessTemporal} {
		require.True(t, processes[p], "ci restarts no %s", p)
	}
	require.LessOrEqual(t, sc.Duration, 2*time.Minute)
}

func TestScenario_AValidScenarioParsesWithItsDefaults(t *testing.T) {
	sc, err := Parse("t.yaml", []byte(minimal))
	require.NoError(t, err)
	require.NoError(t, sc.Validate(devPolicy(t), nil))
	require.Equal(t, DefaultWorkers, sc.Topology.Workers)
	require.Equal(t, DefaultSettle, sc.Settle)
	require.Equal(t, HowRefuse, sc.Faults[0].How)
	require.Equal(t, 11, sc.Faults[0].Line)
	require.Equal(t, 2.0, sc.Load.rateAt(30*time.Second))
}

func TestScenario_RampsAreLinear(t *testing.T) {
	l := Load{Rate: []RatePoint{{0, 0}, {10 * time.Second, 10}, {20 * time.Second, 10}, {30 * time.Second, 0}}}
	require.Equal(t, 5.0, l.rateAt(5*time.Second))
	require.Equal(t, 10.0, l.rateAt(15*time.Second))
	require.Equal(t, 2.5, l.rateAt(27500*time.Millisecond))
	require.Equal(t, 0.0, l.rateAt(time.Hour))
}

// TestScenario_BadFilesAreRefusedAtTheirLine breaks the minimal scenario in one
// place each, and checks the error names that place.
func TestScenario_BadFilesAreRefusedAtTheirLine(t *testing.T) {
	for name, c := range map[string]struct{ old, new, want string }{
		"an unknown field":                   {"duration: 1m", "duration: 1m\nlength: 2m", "t.yaml:3:1: unknown field \"length\""},
		"a repeated key":                     {"duration: 1m", "duration: 1m\nduration: 2m", "t.yaml:3:1: mapping key \"duration\" already defined"},
		"a bad duration":                     {"for: 10s, kind", "for: ten, kind", "t.yaml:11:20: faults[0].for: \"ten\" is not a duration"},
		"a number as text":                   {"conversations: 10", "conversations: ten", "t.yaml:4:18: cannot unmarshal"},
		"an unknown fault":                   {"kind: outage", "kind: meteor", "t.yaml:11:31: faults[0].kind: \"meteor\" is not a fault"},
		"an unknown provider":                {"provider: cx-global", "provider: cx-mars", "t.yaml:11:49: faults[0].provider: the routing policy has no provider \"cx-mars\""},
		"the local NLU":                      {"provider: cx-global", "provider: local", "faults[0].provider: local is the local NLU"},
		"a fault after the load":             {"at: 10s, for: 10s", "at: 55s, for: 10s", "t.yaml:11:20: faults[0].for: ends at 1m5s, after the end of the load"},
		"a field of another kind":            {"provider: cx-global}", "provider: cx-global, latency: 2s}", "faults[0].latency: is not a setting of a outage fault"},
		"a spike on a CPaaS vendor":          {"kind: outage, provider: cx-global}", "kind: inference_spike, provider: twilio, factor: 5}", "faults[0].provider: twilio is a twilio provider: an inference spike hits an NLU provider"},
		"accept_then_hang on an NLU":         {"kind: outage, provider: cx-global}", "kind: accept_then_hang, provider: llm}", "only a CPaaS provider takes a message and then hangs"},
		"a worker the topology lacks":        {"kind: outage, provider: cx-global}", "kind: restart, process: worker, instance: 3}", "faults[0].instance: must be between 1 and 2"},
		"a way in that does not exist":       {"twilio_sms: 1", "pigeon: 1", "load.channels.pigeon: \"pigeon\" is not a way in"},
		"a rate that goes back":              {"- {at: 0s, turns_per_second: 2}", "- {at: 0s, turns_per_second: 2}\n    - {at: 0s, turns_per_second: 3}", "t.yaml:7:12: load.rate[1].at: must be later than the point before it"},
		"a spike with no latency":            {"topology: {nlu_latency: 50ms}", "topology: {}", ""},
		"an outage that hangs with a status": {"provider: cx-global}", "provider: cx-global, how: hang, status: 503}", "faults[0].status: is for how: 5xx only"},
	} {
		t.Run(name, func(t *testing.T) {
			src := strings.Replace(minimal, c.old, c.new, 1)
			require.NotEqual(t, minimal, src, "the case changes nothing")
			if name == "a spike with no latency" {
				src += "  - {at: 30s, for: 5s, kind: inference_spike, provider: cx-europe, factor: 4}\n"
				c.want = "t.yaml:12:5: faults[1]: needs topology.nlu_latency"
			}
			sc, err := Parse("t.yaml", []byte(src))
			if err == nil {
				err = sc.Validate(devPolicy(t), nil)
			}
			require.Error(t, err)
			require.Contains(t, err.Error(), c.want)
		})
	}
}

func TestScenario_EveryProblemIsReportedInFileOrder(t *testing.T) {
	src := strings.Replace(minimal, "conversations: 10", "conversations: 0", 1)
	src = strings.Replace(src, "provider: cx-global", "provider: nobody", 1)
	sc, err := Parse("t.yaml", []byte(src))
	require.NoError(t, err)
	err = sc.Validate(devPolicy(t), nil)
	require.Error(t, err)
	lines := strings.Split(err.Error(), "\n")
	require.Len(t, lines, 2, err.Error())
	require.True(t, strings.HasPrefix(lines[0], "t.yaml:4:"), lines[0])
	require.True(t, strings.HasPrefix(lines[1], "t.yaml:11:"), lines[1])
}

func TestScenario_OverlappingRestartsOfOneProcessAreRefused(t *testing.T) {
	src := minimal + "  - {at: 20s, kind: restart, process: worker, down_for: 10s}\n" +
		"  - {at: 25s, kind: maintenance, for: 20s}\n" +
		"  - {at: 25s, kind: restart, process: nats}\n"
	sc, err := Parse("t.yaml", []byte(src))
	require.NoError(t, err)
	err = sc.Validate(devPolicy(t), nil)
	require.Error(t, err)
	require.Contains(t, err.Error(), "t.yaml:13:5: faults[2]: worker-1 is already down or restarting then (the fault at line 12")
	require.Equal(t, 1, strings.Count(err.Error(), "\n")+1, "NATS does not overlap a worker: %s", err)
}

// TestScenario_AnExistingStackRefusesTheFaultsItCannotHave: against a target given
// by URLs, a process fault is refused at its line, and so is a provider the
// stack does not have; the vendor faults it can have pass.
func TestScenario_AnExistingStackRefusesTheFaultsItCannotHave(t *testing.T) {
	src := minimal + "  - {at: 20s, kind: restart, process: api}\n" +
		"  - {at: 30s, kind: maintenance, for: 20s, degraded: [{kind: slow, provider: twilio, latency: 1s}]}\n" +
		"  - {at: 30s, for: 5s, kind: slow, provider: vonage, latency: 1s}\n"
	sc, err := Parse("t.yaml", []byte(src))
	require.NoError(t, err)
	target := &Target{APIs: []string{"http://stack"}, Dev: "http://stack", OpsToken: "ops-0123456789abcdef",
		Providers: []string{"cx-global", "cx-europe", "llm", "local", "twilio"}}
	err = sc.Validate(devPolicy(t), target)
	require.Error(t, err)
	msg := err.Error()
	require.Contains(t, msg, "t.yaml:12:21: faults[1].kind: a restart cannot be caused on an existing stack")
	require.Contains(t, msg, "t.yaml:13:21: faults[2].kind: a maintenance cannot be caused on an existing stack")
	require.Contains(t, msg, "t.yaml:14:46: faults[3].provider: the target stack has no provider \"vonage\"")
	require.Equal(t, 3, strings.Count(msg, "\n")+1, msg)

	ok, err := Parse("t.yaml", []byte(minimal))
	require.NoError(t, err)
	require.NoError(t, ok.Validate(devPolicy(t), target), "a vendor outage can be caused through the target's fakes")
}

func TestScenario_TooLargeAFileIsRefused(t *testing.T) {
	_, err := Parse("big.yaml", []byte(strings.Repeat("#", MaxScenarioBytes+1)))
	require.ErrorContains(t, err, "a scenario may not exceed")
}

func TestScenario_LoadFileNamesAMissingFile(t *testing.T) {
	_, err := LoadFile(filepath.Join(t.TempDir(), "nope.yaml"))
	require.ErrorIs(t, err, os.ErrNotExist)
}
