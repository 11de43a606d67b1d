package drill

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
)

// Scenario is a drill: a load shape and a fault timeline, on a topology.
type Scenario struct {
	Name        string
	Description string
	// Duration is how long the load runs; the fault timeline lies within it.
	Duration time.Duration
	// Settle bounds the wait, after the load, for every accepted turn to be
	// answered. A drill that has not settled by then is checked as it stands.
	Settle   time.Duration
	Seed     uint64
	Topology TopologySpec
	Load     Load
	Agents   Agents
	Faults   []Fault

	// File is where the scenario was read from ("" when parsed from bytes).
	File string
	src  *source
}

// TopologySpec is the drill's own stack. It is ignored against an existing stack.
type TopologySpec struct {
	Workers int
	APIs    int
	// Policy is the routing policy file, relative to the scenario's file; empty:
	// the dev policy (deploy/policy.dev.yaml).
	Policy string
	// NLULatency is the fake NLU vendors' latency when no fault is set on them: an
	// inference spike multiplies it.
	NLULatency time.Duration
}

// Load is the customers' side.
type Load struct {
	Conversations int
	// Rate is the turns per second, ramped linearly from one point to the next and
	// held after the last.
	Rate []RatePoint
	// Channels weighs the ways customers write in (see Ingresses).
	Channels map[string]float64
	// Texts weighs what customers say.
	Texts map[string]float64
	// RetryFor is how long a webhook that got no 2xx is retried with the same
	// message id, as a vendor retries it.
	RetryFor time.Duration
}

// RatePoint is a point of the load's ramp.
type RatePoint struct {
	At             time.Duration
	TurnsPerSecond float64
}

// Agents answer escalations at the desk: every Every an idle agent claims the next
// escalation of each queue, acknowledges it, replies, and resolves it after Hold.
type Agents struct {
	Count int
	Every time.Duration
	Hold  time.Duration
}

// Kinds of faults.
const (
	FaultOutage         = "outage"           // Provider refuses (How refuse), fails (5xx) or hangs
	FaultSlow           = "slow"             // Provider answers after Latency
	FaultInferenceSpike = "inference_spike"  // an NLU Provider's latency × Factor
	FaultRateLimit      = "rate_limit"       // a 429 storm: Rate of the calls get 429
	FaultAcceptThenHang = "accept_then_hang" // a CPaaS Provider takes the send, answers after AnswerAfter (0: never)
	FaultFlapping       = "flapping"         // Provider down for half of every Period, up for the other half
	FaultRestart        = "restart"          // Process (Instance) killed with Signal, started again after DownFor
	FaultMaintenance    = "maintenance"      // every worker restarted in turn (SIGTERM) over For, while Degraded holds
)

// How an outage or flap fails.
const (
	HowRefuse = "refuse" // the connection is closed without an answer
	How5xx    = "5xx"    // an HTTP error status (Status)
	HowHang   = "hang"   // no answer until the caller gives up
)

// Processes a restart can hit.
const (
	ProcessWorker   = "worker"
	ProcessAPI      = "api"
	ProcessNATS     = "nats"
	ProcessTemporal = "temporal"
)

// Fault is one entry of the timeline.
type Fault struct {
	Kind string
	At   time.Duration
	For  time.Duration // vendor faults and maintenance

	Provider    string
	How         string
	Status      int
	Rate        float64
	Latency     time.Duration
	Factor      float64
	AnswerAfter time.Duration
	Period      time.Duration

	Process  string
	Instance int // 1-based, for workers and apis
	Signal   string
	DownFor  time.Duration

	// Degraded are the vendor faults that hold through a maintenance window.
	Degraded []Fault

	// Line is where the fault is written in the scenario file.
	Line int
	path string
	set  []string // the optional fields written, by their YAML names
}

// IsVendor reports whether f is caused through a fake's fault switch.
func (f Fault) IsVendor() bool {
	switch f.Kind {
	case FaultOutage, FaultSlow, FaultInferenceSpike, FaultRateLimit, FaultAcceptThenHang, FaultFlapping:
		return true
	}
	return false
}

// End is when the fault is over: its window, or its process back.
func (f Fault) End() time.Duration {
	if f.Kind == FaultRestart {
		return f.At + f.DownFor
	}
	return f.At + f.For
}

// Label names the fault for the progress line and the report.
func (f Fault) Label() string {
	switch f.Kind {
	case FaultOutage:
		return fmt.Sprintf("%s outage (%s)", f.Provider, f.How)
	case FaultSlow:
		return fmt.Sprintf("%s slow (%s)", f.Provider, f.Latency)
	case FaultInferenceSpike:
		return fmt.Sprintf("%s inference spike (×%g)", f.Provider, f.Factor)
	case FaultRateLimit:
		return fmt.Sprintf("%s 429 storm (%.0f%%)", f.Provider, f.Rate*100)
	case FaultAcceptThenHang:
		return f.Provider + " accepts then hangs"
	case FaultFlapping:
		return fmt.Sprintf("%s flapping (%s every %s)", f.Provider, f.How, f.Period)
	case FaultRestart:
		sig := "kill -9"
		if f.Signal == "term" {
			sig = "SIGTERM"
		}
		return fmt.Sprintf("%s %s, back after %s", sig, f.ProcessName(), f.DownFor)
	case FaultMaintenance:
		var d []string
		for _, g := range f.Degraded {
			d = append(d, g.Label())
		}
		if len(d) == 0 {
			return "maintenance: rolling restart of the workers"
		}
		return "maintenance: rolling restart of the workers while " + strings.Join(d, ", ")
	}
	return f.Kind
}

// ProcessName is the process a restart hits: worker-2, api-1, nats, temporal.
func (f Fault) ProcessName() string {
	if f.Process == ProcessWorker || f.Process == ProcessAPI {
		return fmt.Sprintf("%s-%d", f.Process, f.Instance)
	}
	return f.Process
}

// Ingresses are the ways a customer writes in: Twilio and Vonage webhooks on SMS
// and WhatsApp, and the JSON API's web chat.
var Ingresses = []string{"twilio_sms", "twilio_whatsapp", "vonage_sms", "vonage_whatsapp", "api_chat"}

// ingress splits an Ingresses entry into its vendor and channel.
func ingress(name string) (vendor, channel string) {
	vendor, channel, _ = strings.Cut(name, "_")
	return vendor, channel
}

// Defaults of the fields a scenario may leave out.
const (
	DefaultSettle   = 3 * time.Minute
	DefaultWorkers  = 2
	DefaultAPIs     = 1
	DefaultRetryFor = time.Minute
	DefaultDownFor  = 2 * time.Second
	DefaultPeriod   = 4 * time.Second
	DefaultEvery    = 2 * time.Second
	DefaultHold     = 5 * time.Second
)

// MaxScenarioBytes bounds a scenario file.
const MaxScenarioBytes = 1 << 20

// LoadFile reads and parses the scenario file at path. The result is not yet checked
// against a policy or a target: see Validate.
func LoadFile(path string) (*Scenario, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("scenario: %w", err)
	}
	return Parse(path, data)
}

// Parse parses a scenario strictly: an unknown field, a repeated key, a value of the
// wrong type or out of range is an error that names its line. name is the file's
// name, for the errors.
func Parse(name string, data []byte) (*Scenario, error) {
	src := &source{file: name}
	errs := &errorList{src: src}
	if len(data) > MaxScenarioBytes {
		errs.at("", "the file is %d bytes; a scenario may not exceed %d", len(data), MaxScenarioBytes)
		return nil, errs.err()
	}
	f, err := parser.ParseBytes(data, 0)
	if err != nil {
		return nil, yamlError(name, err)
	}
	src.ast = f
	var raw rawScenario
	if err := yaml.UnmarshalWithOptions(data, &raw, yaml.Strict(), yaml.DisallowUnknownField()); err != nil {
		return nil, yamlError(name, err)
	}
	if len(f.Docs) != 1 || f.Docs[0].Body == nil {
		errs.at("", "the file must hold one YAML document: the scenario")
		return nil, errs.err()
	}
	s := raw.build(errs)
	s.File, s.src = name, src
	if err := errs.err(); err != nil {
		return nil, err
	}
	return s, nil
}

// Error is one problem in a scenario, at a line of its file.
type Error struct {
	File   string
	Line   int
	Column int
	Path   string // the field, e.g. faults[2].provider
	Msg    string
}

func (e *Error) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File + ":")
	}
	if e.Line > 0 {
		fmt.Fprintf(&b, "%d:", e.Line)
		if e.Column > 0 {
			fmt.Fprintf(&b, "%d:", e.Column)
		}
	}
	if b.Len() > 0 {
		b.WriteString(" ")
	}
	if e.Path != "" {
		b.WriteString(e.Path + ": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

func yamlError(file string, err error) error {
	e := &Error{File: file, Msg: err.Error()}
	var ye yaml.Error
	if errors.As(err, &ye) {
		e.Msg = ye.GetMessage()
		if tk := ye.GetToken(); tk != nil && tk.Position != nil {
			e.Line, e.Column = tk.Position.Line, tk.Position.Column
		}
	}
	return e
}

// source finds the line of a field path in the parsed file.
type source struct {
	file string
	ast  *ast.File
}

func (s *source) position(path string) (line, col int) {
	if s == nil || s.ast == nil {
		return 0, 0
	}
	for p := path; ; p = parentPath(p) {
		yp := "$"
		if p != "" {
			yp = "$." + p
		}
		if q, err := yaml.PathString(yp); err == nil {
			if n, err := q.FilterFile(s.ast); err == nil && n != nil && n.GetToken() != nil {
				return n.GetToken().Position.Line, n.GetToken().Position.Column
			}
		}
		if p == "" {
			return 0, 0
		}
	}
}

// parentPath: faults[2].provider → faults[2] → faults → "".
func parentPath(p string) string {
	if strings.HasSuffix(p, "]") {
		if i := strings.LastIndexByte(p, '['); i >= 0 {
			return p[:i]
		}
	}
	if i := strings.LastIndexByte(p, '.'); i >= 0 {
		return p[:i]
	}
	return ""
}

type errorList struct {
	src  *source
	errs []*Error
}

func (l *errorList) at(path, format string, args ...any) {
	e := &Error{Path: path, Msg: fmt.Sprintf(format, args...)}
	if l.src != nil {
		e.File = l.src.file
		e.Line, e.Column = l.src.position(path)
	}
	l.errs = append(l.errs, e)
}

func (l *errorList) err() error {
	if len(l.errs) == 0 {
		return nil
	}
	sort.SliceStable(l.errs, func(i, j int) bool {
		if l.errs[i].Line != l.errs[j].Line {
			return l.errs[i].Line < l.errs[j].Line
		}
		return l.errs[i].Column < l.errs[j].Column
	})
	out := make([]error, len(l.errs))
	for i, e := range l.errs {
		out[i] = e
	}
	return errors.Join(out...)
}

// ---------------------------------------------------------------------------------
// The file as written. Durations are strings, so that a bad one is reported at its
// line; pointers tell "not written" from zero.

type rawScenario struct {
	Name        string      `yaml:"name"`
	Description string      `yaml:"description"`
	Duration    string      `yaml:"duration"`
	Settle      string      `yaml:"settle"`
	Seed        *uint64     `yaml:"seed"`
	Topology    rawTopology `yaml:"topology"`
	Load        rawLoad     `yaml:"load"`
	Agents      rawAgents   `yaml:"agents"`
	Faults      []rawFault  `yaml:"faults"`
}

type rawTopology struct {
	Workers    *int   `yaml:"workers"`
	APIs       *int   `yaml:"apis"`
	Policy     string `yaml:"policy"`
	NLULatency string `yaml:"nlu_latency"`
}

type rawLoad struct {
	Conversations int                `yaml:"conversations"`
	Rate          []rawRatePoint     `yaml:"rate"`
	Channels      map[string]float64 `yaml:"channels"`
	Texts         map[string]float64 `yaml:"texts"`
	RetryFor      string             `yaml:"retry_for"`
}

type rawRatePoint struct {
	At             string   `yaml:"at"`
	TurnsPerSecond *float64 `yaml:"turns_per_second"`
}

type rawAgents struct {
	Count int    `yaml:"count"`
	Every string `yaml:"every"`
	Hold  string `yaml:"hold"`
}

type rawFault struct {
	Kind        string     `yaml:"kind"`
	At          string     `yaml:"at"`
	For         string     `yaml:"for"`
	Provider    string     `yaml:"provider"`
	How         string     `yaml:"how"`
	Status      int        `yaml:"status"`
	Rate        *float64   `yaml:"rate"`
	Latency     string     `yaml:"latency"`
	Factor      float64    `yaml:"factor"`
	AnswerAfter string     `yaml:"answer_after"`
	Period      string     `yaml:"period"`
	Process     string     `yaml:"process"`
	Instance    int        `yaml:"instance"`
	Signal      string     `yaml:"signal"`
	DownFor     string     `yaml:"down_for"`
	Degraded    []rawFault `yaml:"degraded"`
}

// duration parses a duration field; "" gives def.
func duration(errs *errorList, path, s string, def time.Duration) time.Duration {
	if s == "" {
		return def
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		errs.at(path, "%q is not a duration (write it like 30s, 2m or 1m30s)", s)
		return def
	}
	if d < 0 {
		errs.at(path, "must not be negative")
		return def
	}
	return d
}

func (r *rawScenario) build(errs *errorList) *Scenario {
	s := &Scenario{Name: r.Name, Description: strings.TrimSpace(r.Description)}
	s.Duration = duration(errs, "duration", r.Duration, 0)
	s.Settle = duration(errs, "settle", r.Settle, DefaultSettle)
	if r.Seed != nil {
		s.Seed = *r.Seed
	}
	t := r.Topology
	s.Topology = TopologySpec{Workers: DefaultWorkers, APIs: DefaultAPIs, Policy: t.Policy,
		NLULatency: duration(errs, "topology.nlu_latency", t.NLULatency, 0)}
	if t.Workers != nil {
		s.Topology.Workers = *t.Workers
	}
	if t.APIs != nil {
		s.Topology.APIs = *t.APIs
	}
	l := r.Load
	s.Load = Load{Conversations: l.Conversations, Channels: l.Channels, Texts: l.Texts,
		RetryFor: duration(errs, "load.retry_for", l.RetryFor, DefaultRetryFor)}
	for i, p := range l.Rate {
		path := fmt.Sprintf("load.rate[%d]", i)
		pt := RatePoint{At: duration(errs, path+".at", p.At, 0)}
		if p.At == "" {
			errs.at(path, "at is required: when the load reaches this rate")
		}
		if p.TurnsPerSecond == nil {
			errs.at(path, "turns_per_second is required")
		} else {
			pt.TurnsPerSecond = *p.TurnsPerSecond
		}
		s.Load.Rate = append(s.Load.Rate, pt)
	}
	s.Agents = Agents{Count: r.Agents.Count,
		Every: duration(errs, "agents.every", r.Agents.Every, DefaultEvery),
		Hold:  duration(errs, "agents.hold", r.Agents.Hold, DefaultHold)}
	for i, rf := range r.Faults {
		s.Faults = append(s.Faults, rf.build(errs, fmt.Sprintf("faults[%d]", i), true))
	}
	return s
}

// build reads one fault; timed is false for a maintenance window's degraded
// faults, which take the window's time.
func (r *rawFault) build(errs *errorList, path string, timed bool) Fault {
	f := Fault{
		Kind: r.Kind, Provider: r.Provider, How: r.How, Status: r.Status, Factor: r.Factor,
		Process: r.Process, Instance: r.Instance, Signal: r.Signal, path: path,
		Latency:     duration(errs, path+".latency", r.Latency, 0),
		AnswerAfter: duration(errs, path+".answer_after", r.AnswerAfter, 0),
		Period:      duration(errs, path+".period", r.Period, DefaultPeriod),
		DownFor:     duration(errs, path+".down_for", r.DownFor, DefaultDownFor),
	}
	if errs.src != nil {
		f.Line, _ = errs.src.position(path)
	}
	for _, w := range []struct {
		name string
		set  bool
	}{
		{"for", r.For != ""}, {"provider", r.Provider != ""}, {"how", r.How != ""}, {"status", r.Status != 0},
		{"rate", r.Rate != nil}, {"latency", r.Latency != ""}, {"factor", r.Factor != 0},
		{"answer_after", r.AnswerAfter != ""}, {"period", r.Period != ""}, {"process", r.Process != ""},
		{"instance", r.Instance != 0}, {"signal", r.Signal != ""}, {"down_for", r.DownFor != ""},
		{"degraded", len(r.Degraded) > 0},
	} {
		if w.set {
			f.set = append(f.set, w.name)
		}
	}
	if timed {
		f.At = duration(errs, path+".at", r.At, 0)
		f.For = duration(errs, path+".for", r.For, 0)
		if r.At == "" {
			errs.at(path, "at is required: when the fault begins, from the start of the load")
		}
	} else if r.At != "" || r.For != "" {
		errs.at(path, "a degraded fault holds for the whole maintenance window: it takes no at or for")
	}
	if r.Rate != nil {
		f.Rate = *r.Rate
	} else if f.Kind == FaultRateLimit {
		f.Rate = 1
	}
	if f.Kind == FaultOutage || f.Kind == FaultFlapping {
		if f.How == "" {
			f.How = HowRefuse
		}
		if f.How == How5xx && f.Status == 0 {
			f.Status = 503
		}
	}
	if f.Kind == FaultRestart {
		if f.Signal == "" {
			f.Signal = "kill"
		}
		if f.Instance == 0 && (f.Process == ProcessWorker || f.Process == ProcessAPI) {
			f.Instance = 1
		}
	}
	for i, d := range r.Degraded {
		f.Degraded = append(f.Degraded, d.build(errs, fmt.Sprintf("%s.degraded[%d]", path, i), false))
	}
	return f
}

// PolicyPath is the scenario's policy file, resolved against the scenario's
// directory; "" for the dev policy.
func (s *Scenario) PolicyPath() string {
	if s.Topology.Policy == "" || filepath.IsAbs(s.Topology.Policy) || s.File == "" {
		return s.Topology.Policy
	}
	return filepath.Join(filepath.Dir(s.File), s.Topology.Policy)
}
