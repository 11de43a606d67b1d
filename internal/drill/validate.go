package drill

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/switchboard-cc/switchboard/internal/turn"
	"github.com/switchboard-cc/switchboard/providers/routing"
)

// Limits of a scenario: a drill rehearses an outage on one machine or a staging
// stack, not a capacity test.
const (
	MaxDuration      = 24 * time.Hour
	MinDuration      = 10 * time.Second
	MaxSettle        = time.Hour
	MaxWorkers       = 8
	MaxAPIs          = 4
	MaxConversations = 9999
	MaxTurnsPerSec   = 500
	MaxAgents        = 20
	maxFakeLatency   = 600 * time.Second // the fakes' own bound (fake.Fault.Validate)
	minMaintenance   = 10 * time.Second
	minPeriod        = 200 * time.Millisecond
)

var namePattern = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)

// Validate checks the scenario against the routing policy its stack runs and, when
// target is not nil, against that existing stack: the faults the drill cannot cause
// there are errors, each at its line. Every problem is reported, not only the first.
func (s *Scenario) Validate(pol *routing.Policy, target *Target) error {
	errs := &errorList{src: s.src}
	if s.src != nil {
		errs.src = s.src
	}
	switch {
	case s.Name == "":
		errs.at("name", "is required")
	case !namePattern.MatchString(s.Name):
		errs.at("name", "%q must be lower-case letters, digits and dashes (it names the report's files)", s.Name)
	}
	switch {
	case s.Duration == 0:
		errs.at("duration", "is required: how long the load runs")
	case s.Duration < MinDuration || s.Duration > MaxDuration:
		errs.at("duration", "must be between %s and %s", MinDuration, MaxDuration)
	}
	if s.Settle < 10*time.Second || s.Settle > MaxSettle {
		errs.at("settle", "must be between 10s and %s", MaxSettle)
	}
	s.validateTopology(errs, target)
	s.validateLoad(errs, pol)
	s.validateAgents(errs, pol, target)
	for _, f := range s.Faults {
		s.validateFault(errs, pol, target, f)
	}
	s.validateOverlaps(errs)
	return errs.err()
}

func (s *Scenario) validateTopology(errs *errorList, target *Target) {
	t := s.Topology
	if target != nil {
		return // the stack is given: workers, apis and policy are its own
	}
	if t.Workers < 1 || t.Workers > MaxWorkers {
		errs.at("topology.workers", "must be between 1 and %d", MaxWorkers)
	}
	if t.APIs < 1 || t.APIs > MaxAPIs {
		errs.at("topology.apis", "must be between 1 and %d", MaxAPIs)
	}
	if t.NLULatency > 10*time.Second {
		errs.at("topology.nlu_latency", "must be at most 10s: it is the NLU vendors' healthy latency")
	}
}

func (s *Scenario) validateLoad(errs *errorList, pol *routing.Policy) {
	l := s.Load
	if l.Conversations < 1 || l.Conversations > MaxConversations {
		errs.at("load.conversations", "must be between 1 and %d", MaxConversations)
	}
	if len(l.Rate) == 0 {
		errs.at("load.rate", "is required: a list of {at, turns_per_second} points, the first at 0s")
	}
	busy := false
	for i, p := range l.Rate {
		path := fmt.Sprintf("load.rate[%d]", i)
		switch {
		case i == 0 && p.At != 0:
			errs.at(path+".at", "the first point must be at 0s")
		case i > 0 && p.At <= l.Rate[i-1].At:
			errs.at(path+".at", "must be later than the point before it (%s)", l.Rate[i-1].At)
		case s.Duration > 0 && p.At > s.Duration:
			errs.at(path+".at", "is after the end of the load (duration %s)", s.Duration)
		}
		if p.TurnsPerSecond < 0 || p.TurnsPerSecond > MaxTurnsPerSec {
			errs.at(path+".turns_per_second", "must be between 0 and %d", MaxTurnsPerSec)
		}
		busy = busy || p.TurnsPerSecond > 0
	}
	if len(l.Rate) > 0 && !busy {
		errs.at("load.rate", "sends nothing: every point is 0 turns per second")
	}
	if len(l.Channels) == 0 {
		errs.at("load.channels", "is required: weights of %s", strings.Join(Ingresses, ", "))
	}
	for _, name := range sortedKeys(l.Channels) {
		path := "load.channels." + name
		if !slices.Contains(Ingresses, name) {
			errs.at(path, "%q is not a way in: use %s", name, strings.Join(Ingresses, ", "))
			continue
		}
		if l.Channels[name] <= 0 {
			errs.at(path, "the weight must be positive (leave the channel out instead)")
		}
		vendor, channel := ingress(name)
		if pol == nil {
			continue
		}
		if pol.Channel(channel) == nil {
			errs.at(path, "the routing policy has no channel %q", channel)
		}
		if _, ok := businessAddress(pol, vendor); !ok {
			errs.at(path, "no business of the routing policy has an address on a %s provider", vendor)
		}
	}
	if len(l.Texts) == 0 {
		errs.at("load.texts", "is required: what customers say, with weights")
	}
	for _, text := range sortedKeys(l.Texts) {
		path := "load.texts"
		switch {
		case strings.TrimSpace(text) == "":
			errs.at(path, "a text must not be blank")
		case len(text) > turn.MaxTextBytes:
			errs.at(path, "a text is longer than %d bytes", turn.MaxTextBytes)
		case l.Texts[text] <= 0:
			errs.at(path, "the weight of %q must be positive", text)
		}
	}
	if l.RetryFor > 10*time.Minute {
		errs.at("load.retry_for", "must be at most 10m")
	}
}

func (s *Scenario) validateAgents(errs *errorList, pol *routing.Policy, target *Target) {
	a := s.Agents
	if a.Count < 0 || a.Count > MaxAgents {
		errs.at("agents.count", "must be between 0 and %d", MaxAgents)
	}
	if a.Count == 0 {
		return
	}
	if a.Every < 100*time.Millisecond {
		errs.at("agents.every", "must be at least 100ms")
	}
	if pol != nil && (pol.Escalation == nil || len(pol.Escalation.Queues) == 0) {
		errs.at("agents.count", "the routing policy has no escalation queues for agents to work")
	}
	if target != nil && target.AgentToken == "" {
		errs.at("agents.count", "agents need the target's agent token (SWITCHBOARD_AGENT_TOKEN)")
	}
}

// fields a kind takes, besides kind and at.
var faultFields = map[string][]string{
	FaultOutage:         {"for", "provider", "how", "status"},
	FaultSlow:           {"for", "provider", "latency"},
	FaultInferenceSpike: {"for", "provider", "factor"},
	FaultRateLimit:      {"for", "provider", "rate"},
	FaultAcceptThenHang: {"for", "provider", "answer_after"},
	FaultFlapping:       {"for", "provider", "how", "status", "period"},
	FaultRestart:        {"process", "instance", "signal", "down_for"},
	FaultMaintenance:    {"for", "degraded"},
}

func faultKinds() []string { return sortedKeys(faultFields) }

func (s *Scenario) validateFault(errs *errorList, pol *routing.Policy, target *Target, f Fault) {
	path := f.path
	fields, ok := faultFields[f.Kind]
	if !ok {
		if f.Kind == "" {
			errs.at(path, "kind is required: one of %s", strings.Join(faultKinds(), ", "))
		} else {
			errs.at(path+".kind", "%q is not a fault: use %s", f.Kind, strings.Join(faultKinds(), ", "))
		}
		return
	}
	for _, w := range f.set {
		if !slices.Contains(fields, w) {
			errs.at(path+"."+w, "is not a setting of a %s fault (it takes %s)", f.Kind, strings.Join(fields, ", "))
		}
	}
	timed := !strings.Contains(path, ".degraded[")
	if timed && s.Duration > 0 && f.At >= s.Duration {
		errs.at(path+".at", "is at or after the end of the load (duration %s)", s.Duration)
	}
	if f.IsVendor() || f.Kind == FaultMaintenance {
		if timed && f.For <= 0 {
			errs.at(path, "for is required: how long the fault holds")
		} else if timed && s.Duration > 0 && f.End() > s.Duration {
			errs.at(path+".for", "ends at %s, after the end of the load (duration %s)", f.End(), s.Duration)
		}
	}
	if f.IsVendor() {
		s.validateVendorFault(errs, pol, target, f)
		return
	}
	if target != nil {
		errs.at(path+".kind", "a %s cannot be caused on an existing stack: the drill kills and restarts only the processes of its own topology (run it without --api)", f.Kind)
		return
	}
	switch f.Kind {
	case FaultRestart:
		switch f.Process {
		case ProcessWorker, ProcessAPI:
			n := s.Topology.Workers
			if f.Process == ProcessAPI {
				n = s.Topology.APIs
			}
			if f.Instance < 1 || f.Instance > n {
				errs.at(path+".instance", "must be between 1 and %d: the topology has %d %ss", n, n, f.Process)
			}
		case ProcessNATS, ProcessTemporal:
			if f.Instance != 0 {
				errs.at(path+".instance", "there is one %s process", f.Process)
			}
		case "":
			errs.at(path, "process is required: worker, api, nats or temporal")
		default:
			errs.at(path+".process", "%q is not a process of the topology: use worker, api, nats or temporal", f.Process)
		}
		if f.Signal != "kill" && f.Signal != "term" {
			errs.at(path+".signal", "%q: use kill (SIGKILL, the default) or term (SIGTERM)", f.Signal)
		}
		if f.DownFor > 5*time.Minute {
			errs.at(path+".down_for", "must be at most 5m")
		}
		if s.Duration > 0 && f.End() > s.Duration {
			errs.at(path+".down_for", "the process is back at %s, after the end of the load (duration %s)", f.End(), s.Duration)
		}
	case FaultMaintenance:
		if f.For > 0 && f.For < minMaintenance {
			errs.at(path+".for", "must be at least %s: each worker is stopped, started and waited for in turn", minMaintenance)
		}
		for _, d := range f.Degraded {
			if !d.IsVendor() {
				errs.at(d.path+".kind", "a maintenance window degrades vendors: use %s", strings.Join(vendorKinds(), ", "))
				continue
			}
			s.validateFault(errs, pol, target, d)
		}
	}
}

func vendorKinds() []string {
	var out []string
	for _, k := range faultKinds() {
		if (Fault{Kind: k}).IsVendor() {
			out = append(out, k)
		}
	}
	return out
}

func (s *Scenario) validateVendorFault(errs *errorList, pol *routing.Policy, target *Target, f Fault) {
	path := f.path
	if f.Provider == "" {
		errs.at(path, "provider is required: a provider name of the routing policy")
		return
	}
	var kind string
	if pol != nil {
		p := pol.Provider(f.Provider)
		if p == nil {
			errs.at(path+".provider", "the routing policy has no provider %q (it has %s)", f.Provider, strings.Join(pol.ProviderNames(), ", "))
			return
		}
		kind = p.Kind
		if kind == routing.KindLocal {
			errs.at(path+".provider", "%s is the local NLU: it runs inside the worker, and no fault can reach it", f.Provider)
			return
		}
	}
	if target != nil && target.Providers != nil && !slices.Contains(target.Providers, f.Provider) {
		errs.at(path+".provider", "the target stack has no provider %q (it has %s)", f.Provider, strings.Join(target.Providers, ", "))
	}
	switch f.Kind {
	case FaultOutage, FaultFlapping:
		hows := []string{HowRefuse, How5xx, HowHang}
		if f.Kind == FaultFlapping {
			hows = hows[:2]
		}
		if !slices.Contains(hows, f.How) {
			errs.at(path+".how", "%q: use %s", f.How, strings.Join(hows, ", "))
		}
		if f.How == How5xx && (f.Status < 500 || f.Status > 599) {
			errs.at(path+".status", "must be a 5xx status")
		}
		if f.How != How5xx && f.Status != 0 {
			errs.at(path+".status", "is for how: 5xx only")
		}
		if f.Kind == FaultFlapping {
			if f.Period < minPeriod {
				errs.at(path+".period", "must be at least %s", minPeriod)
			} else if f.For > 0 && f.Period > f.For {
				errs.at(path+".period", "is longer than the fault (for %s): it would not flap", f.For)
			}
		}
	case FaultSlow:
		if f.Latency <= 0 || f.Latency > maxFakeLatency {
			errs.at(path+".latency", "is required, at most %s", maxFakeLatency)
		}
	case FaultInferenceSpike:
		if kind != "" && routing.RoleOf(kind) != routing.RoleNLU {
			errs.at(path+".provider", "%s is a %s provider: an inference spike hits an NLU provider", f.Provider, kind)
		}
		if f.Factor <= 1 || f.Factor > 1000 {
			errs.at(path+".factor", "must be more than 1 and at most 1000: the multiple of the NLU latency")
		}
		if s.Topology.NLULatency <= 0 {
			errs.at(path, "needs topology.nlu_latency, the healthy latency it multiplies")
		} else if time.Duration(f.Factor*float64(s.Topology.NLULatency)) > maxFakeLatency {
			errs.at(path+".factor", "makes the latency longer than %s", maxFakeLatency)
		}
	case FaultRateLimit:
		if f.Rate <= 0 || f.Rate > 1 {
			errs.at(path+".rate", "must be more than 0 and at most 1: the share of calls answered 429")
		}
	case FaultAcceptThenHang:
		if kind != "" && routing.RoleOf(kind) != routing.RoleCPaaS {
			errs.at(path+".provider", "%s is a %s provider: only a CPaaS provider takes a message and then hangs", f.Provider, kind)
		}
		if f.AnswerAfter > maxFakeLatency {
			errs.at(path+".answer_after", "must be at most %s (0: never)", maxFakeLatency)
		}
	}
}

// validateOverlaps refuses two faults on one process at once: a process killed
// while it is down, or a worker restarted by hand during a rolling restart.
func (s *Scenario) validateOverlaps(errs *errorList) {
	type window struct {
		f        Fault
		from, to time.Duration
	}
	byProcess := map[string][]window{}
	for _, f := range s.Faults {
		switch f.Kind {
		case FaultRestart:
			name := f.ProcessName()
			byProcess[name] = append(byProcess[name], window{f, f.At, f.End()})
		case FaultMaintenance:
			for i := 1; i <= s.Topology.Workers; i++ {
				name := fmt.Sprintf("%s-%d", ProcessWorker, i)
				byProcess[name] = append(byProcess[name], window{f, f.At, f.End()})
			}
		}
	}
	reported := map[string]bool{}
	for _, name := range sortedKeys(byProcess) {
		ws := byProcess[name]
		for i := range ws {
			for j := range i {
				a, b := ws[j], ws[i]
				if a.from < b.to && b.from < a.to && !reported[b.f.path] {
					reported[b.f.path] = true
					errs.at(b.f.path, "%s is already down or restarting then (the fault at line %d, %s–%s)", name, a.f.Line, a.from, a.to)
				}
			}
		}
	}
}

// businessAddress is an address customers of vendor write to: a business's address
// on a provider of that vendor's kind (any address, for the JSON API).
func businessAddress(pol *routing.Policy, vendor string) (string, bool) {
	for _, b := range pol.Businesses {
		for _, prov := range sortedKeys(b.Addresses) {
			p := pol.Provider(prov)
			if p != nil && (vendor == turn.VendorAPI || p.Kind == vendor) {
				return b.Addresses[prov], true
			}
		}
	}
	return "", false
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
