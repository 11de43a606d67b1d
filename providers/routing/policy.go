package routing

import (
	"errors"
	"fmt"
	"os"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
	"github.com/goccy/go-yaml/token"

	"github.com/switchboard-cc/switchboard/internal/streams"
	"github.com/switchboard-cc/switchboard/internal/turn"
	"github.com/switchboard-cc/switchboard/providers"
	"github.com/switchboard-cc/switchboard/workflows"
)

// A routing policy is a YAML file, written by the people who run Switchboard, that
// says which providers serve each channel and in what order, how hard each provider is
// tried, when its circuit breaker opens, which address each business replies from on
// each vendor, and what the customer hears when things go wrong.
// deploy/policy.example.yaml documents every field.
//
// Parse and Load decode strictly (an unknown field is an error, not a silent no-op),
// fill each provider's settings from the defaults, and validate. Every error names the
// line and column, and the field path, and all errors are reported at once.

// PolicyVersion is the only schema version this package reads.
const PolicyVersion = 1

// Provider kinds.
const (
	KindDialogflowCX = "dialogflowcx"
	KindOpenAI       = "openai"
	KindLocal        = "local"
	KindTwilio       = "twilio"
	KindVonage       = "vonage"
	KindWebhook      = "webhook" // a business's own backend, e.g. a web chat (webhook.go)
)

// Role is what a provider does for a turn.
type Role string

// Roles of providers.
const (
	RoleNLU   Role = "nlu"   // understands the customer: dialogflowcx, openai, local
	RoleCPaaS Role = "cpaas" // delivers the reply: twilio, vonage, webhook
)

var kindRoles = map[string]Role{
	KindDialogflowCX: RoleNLU,
	KindOpenAI:       RoleNLU,
	KindLocal:        RoleNLU,
	KindTwilio:       RoleCPaaS,
	KindVonage:       RoleCPaaS,
	KindWebhook:      RoleCPaaS,
}

// Kinds lists the provider kinds a policy may use.
func Kinds() []string {
	return []string{KindDialogflowCX, KindOpenAI, KindLocal, KindTwilio, KindVonage, KindWebhook}
}

// RoleOf returns the role of a provider kind, or "" for an unknown kind.
func RoleOf(kind string) Role { return kindRoles[kind] }

// Built-in defaults, used where the policy's defaults section is silent.
var builtinDefaults = Settings{
	AttemptTimeout: 5 * time.Second,
	Retries:        1,
	Breaker: Breaker{
		ConsecutiveFailures: 5,
		FailureRate:         0.5,
		Window:              time.Minute,
		MinCalls:            10,
		SlowCall:            0, // not written anywhere: BuiltinSlowCall of the provider's attempt_timeout
		OpenFor:             30 * time.Second,
		HalfOpenProbes:      3,
	},
	ProbeInterval: 10 * time.Second,
}

// BuiltinSlowCall is the slow-call threshold of a provider whose policy writes no
// breaker.slow_call, neither under defaults nor under the provider: 60% of its
// attempt_timeout (3s for the built-in 5s). Off by default, a provider that hangs
// just short of its timeout would answer every call "successfully" and never trip
// its breaker, every turn paying the wait; tied to the timeout, the threshold
// follows a provider whose timeout is raised or lowered. Write slow_call: 0 to
// switch slow-call counting off.
func BuiltinSlowCall(attemptTimeout time.Duration) time.Duration {
	return attemptTimeout * 3 / 5
}

// LongAttemptTimeout is the attempt_timeout from which Warnings reports a provider
// whose slow-call counting is off: a provider that hangs this long on every call,
// without failing, would stay in rotation.
const LongAttemptTimeout = 5 * time.Second

// Defaults for top-level fields the policy may leave out.
const (
	DefaultLanguage   = "en"
	DefaultStuckAfter = 10 * time.Minute
	DefaultStaleAfter = 15 * time.Minute
	DefaultApology    = "Sorry for the late reply. "
	DefaultCanaryText = "switchboard canary"
)

// Policy is a parsed, resolved and validated routing policy. Treat it as read-only:
// one Policy is shared by every turn routed while it is current.
type Policy struct {
	Version int
	// Language is the default NLU language code ("en", "en-US", "es"...).
	Language string
	// Defaults are the resolved default settings (built-ins overlaid by the file's
	// defaults section). Each provider's own settings are already resolved.
	Defaults   Settings
	Providers  map[string]*Provider
	Businesses []Business
	Channels   map[string]*Channel
	// Escalation is nil when the policy has no escalation section.
	Escalation *Escalation
	Replies    Replies
	// StuckAfter: a conversation whose oldest pending turn waited longer than this is
	// reported as stuck.
	StuckAfter time.Duration
	// StaleReply says what becomes of a reply to a turn that waited longer than
	// StaleReply.After (after an outage, or when a stuck conversation is replayed).
	StaleReply StaleReply
	// Canary is the synthetic customer the stack canary talks as; nil: no canary.
	Canary *Canary

	src *source // where each field came from; nil for a Policy built in Go
}

// Settings are the per-provider knobs that defaults sets for every provider and a
// provider may override field by field.
type Settings struct {
	// AttemptTimeout bounds one attempt on the provider.
	AttemptTimeout time.Duration
	// Retries is the number of extra attempts on the same provider before failing
	// over to the next one.
	Retries int
	Breaker Breaker
	// ProbeInterval is how often an open or half-open provider is probed.
	ProbeInterval time.Duration
}

// MaxAttempts is the number of attempts on one provider for one turn: Retries+1.
func (s Settings) MaxAttempts() int32 { return int32(s.Retries) + 1 }

// Attempt is the workflow's bound on one provider: timeout and attempts.
func (s Settings) Attempt() workflows.Attempt {
	return workflows.Attempt{Timeout: s.AttemptTimeout, MaxAttempts: s.MaxAttempts()}
}

// Breaker configures a provider's circuit breaker. It opens after
// ConsecutiveFailures failures in a row, or when at least MinCalls calls were made in
// Window and FailureRate of them failed. A call slower than SlowCall counts as failed
// (0 switches that off). It stays open for OpenFor, then lets calls through half-open
// until HalfOpenProbes of them succeeded in a row.
type Breaker struct {
	ConsecutiveFailures int
	FailureRate         float64
	Window              time.Duration
	MinCalls            int
	SlowCall            time.Duration
	OpenFor             time.Duration
	HalfOpenProbes      int
}

// Provider is one named provider instance. A vendor may appear several times under
// different names, e.g. two Dialogflow CX locations.
type Provider struct {
	Name string
	Kind string
	// Dialogflow CX only. Location is required; Project, Agent and Endpoint may
	// instead come from the command line or environment of the service.
	Location string
	Project  string
	Agent    string
	Endpoint string
	// OpenAI only.
	Model string
	// Webhook only: where replies are posted and how they are signed.
	Webhook Webhook
	// Settings are resolved: the provider's own values over the policy's defaults
	// over the built-in defaults.
	Settings
	// Classify overrides how a failed call's HTTP status maps to a kind of failure
	// (providers.ErrUnavailable, ErrRateLimited, ErrTimeout, ErrRejected). Statuses
	// not listed keep providers.KindOfHTTPStatus.
	Classify map[int]error
}

// Role of the provider: NLU or CPaaS.
func (p *Provider) Role() Role { return RoleOf(p.Kind) }

// ErrorKind classifies a failed call's HTTP status with the provider's overrides.
func (p *Provider) ErrorKind(status int) error {
	if k, ok := p.Classify[status]; ok {
		return k
	}
	return providers.KindOfHTTPStatus(status)
}

// Business is one sender identity: the address its replies leave from on each CPaaS
// provider. An inbound message's To address finds the business, on any provider.
type Business struct {
	Name string
	// Addresses maps a CPaaS provider name to the business's address on it.
	Addresses map[string]string
	// Language overrides the policy's language for this business's turns.
	Language string
}

// Channel lists, in order, the providers that serve turns of one channel.
type Channel struct {
	Name  string
	NLU   []string
	CPaaS []string
	// FallbackChannel, when set, is the channel whose CPaaS providers deliver the
	// reply if none of this channel's can. One hop: its own fallback is not followed.
	FallbackChannel string
}

// Escalation says when a conversation goes to a person and where.
type Escalation struct {
	// HandoffIntents escalate as soon as the NLU recognises them.
	HandoffIntents []string
	// MaxNoMatch escalates after this many no-match turns in a row (0: never).
	MaxNoMatch int
	// Queues are tried in order; each has AckSLA to acknowledge before the next.
	Queues []Queue
	// FinalMessage is sent when no queue acknowledged in time.
	FinalMessage string
}

// Queue is an agent queue with the time it has to acknowledge an escalation.
type Queue = turn.Queue

// Replies are the texts Switchboard itself sends.
type Replies struct {
	// Fallback is the reply when no NLU provider answered.
	Fallback string
	// Escalating is the reply when the conversation is handed to a person.
	Escalating string
}

// Stale reply actions.
const (
	StaleApologize = "apologize" // the reply is prefixed with StaleReply.Apology
	StaleSuppress  = "suppress"  // the reply is not sent; the outcome says why
)

// StaleReply is what happens to a reply to a turn older than After.
type StaleReply struct {
	After   time.Duration
	Action  string // StaleApologize or StaleSuppress
	Apology string // prefixed to stale replies when Action is StaleApologize
}

// Canary is the synthetic conversation of the stack canary: a turn from Customer to
// the business's address on Channel, every minute, through the real stack. The reply
// goes to Customer through the real CPaaS providers: make it a number ops own.
type Canary struct {
	Business string // a business name
	Channel  string
	Customer string
	Text     string
}

// Provider returns the named provider, or nil.
func (p *Policy) Provider(name string) *Provider { return p.Providers[name] }

// Business returns the named business, or nil.
func (p *Policy) Business(name string) *Business {
	for i := range p.Businesses {
		if p.Businesses[i].Name == name {
			return &p.Businesses[i]
		}
	}
	return nil
}

// Channel returns the named channel, or nil when the policy doesn't serve it.
func (p *Policy) Channel(name string) *Channel { return p.Channels[name] }

// ProviderNames lists the providers' names, sorted.
func (p *Policy) ProviderNames() []string { return sortedKeys(p.Providers) }

// ChannelNames lists the configured channels in the order sms, whatsapp, chat, voice.
func (p *Policy) ChannelNames() []string {
	var out []string
	for _, c := range turn.Channels() {
		if p.Channels[c] != nil {
			out = append(out, c)
		}
	}
	return out
}

// Source is the file the policy was loaded from ("" when parsed from bytes).
func (p *Policy) Source() string {
	if p.src == nil {
		return ""
	}
	return p.src.file
}

// BusinessByAddress finds the business that owns addr on any provider. Addresses
// compare without a "whatsapp:" prefix and without a leading "+".
func (p *Policy) BusinessByAddress(addr string) *Business {
	want := normAddr(addr)
	if want == "" {
		return nil
	}
	for i := range p.Businesses {
		for _, a := range p.Businesses[i].Addresses {
			if normAddr(a) == want {
				return &p.Businesses[i]
			}
		}
	}
	return nil
}

func normAddr(a string) string {
	a = strings.TrimSpace(a)
	a = strings.TrimPrefix(a, "whatsapp:")
	return strings.TrimPrefix(a, "+")
}

// ---------------------------------------------------------------------------------
// Errors

// Error is one problem in a policy, at a line and column of its file.
type Error struct {
	File   string // "" when parsed from bytes
	Line   int    // 0 when unknown (a Policy built in Go)
	Column int
	Path   string // the field, e.g. channels.sms.nlu[2]; "" for YAML syntax errors
	Msg    string
}

func (e *Error) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		b.WriteString(":")
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
		b.WriteString(e.Path)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Errors returns the policy errors in err (as Parse, Load and Validate join them),
// in the order reported: file order for a parsed policy.
func Errors(err error) []*Error {
	switch e := err.(type) {
	case nil:
		return nil
	case *Error:
		return []*Error{e}
	case interface{ Unwrap() []error }:
		var out []*Error
		for _, x := range e.Unwrap() {
			out = append(out, Errors(x)...)
		}
		return out
	}
	var pe *Error
	if errors.As(err, &pe) {
		return []*Error{pe}
	}
	return nil
}

// source remembers where each field of a parsed policy sits in the file.
type source struct {
	file   string
	pos    map[string]token.Position // field path → its value
	keyPos map[string]token.Position // field path → its key
	// origin maps a resolved provider setting (providers.x.breaker.open_for) to the
	// path it was written at (defaults.breaker.open_for), when it was inherited.
	origin map[string]string
	// bad holds paths that failed to decode; validation stays quiet below them.
	bad map[string]bool
}

func (s *source) position(path string) (token.Position, bool) {
	if s == nil {
		return token.Position{}, false
	}
	if o, ok := s.origin[path]; ok {
		if pos, ok := s.position(o); ok {
			return pos, true
		}
	}
	if pos, ok := s.pos[path]; ok {
		return pos, true
	}
	if pos, ok := s.keyPos[path]; ok {
		return pos, true
	}
	if path == "" {
		return token.Position{Line: 1, Column: 1}, true
	}
	// Not written: the entry that should hold it.
	return s.keyPosition(parentPath(path))
}

// keyPosition prefers the key of path: for "this entry is missing a field".
func (s *source) keyPosition(path string) (token.Position, bool) {
	if s != nil {
		if pos, ok := s.keyPos[path]; ok {
			return pos, true
		}
	}
	return s.position(path)
}

// written reports whether path was written in the file. For a Policy built in Go,
// every field counts as written.
func (s *source) written(path string) bool {
	if s == nil {
		return true
	}
	_, ok := s.pos[path]
	return ok
}

func (s *source) quiet(path string) bool {
	if s == nil {
		return false
	}
	for p := path; ; p = parentPath(p) {
		if s.bad[p] {
			return true
		}
		if p == "" {
			return false
		}
	}
}

// parentPath: channels.sms.nlu[2] → channels.sms.nlu → channels.sms → channels → "".
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

// at reports a problem with the value at path.
func (l *errorList) at(path, format string, args ...any) {
	l.add(path, false, format, args...)
}

// in reports a problem with the entry at path as a whole (a missing field, say), at
// the line of its key.
func (l *errorList) in(path, format string, args ...any) {
	l.add(path, true, format, args...)
}

func (l *errorList) add(path string, key bool, format string, args ...any) {
	if l.src.quiet(path) {
		return
	}
	e := &Error{Path: path, Msg: fmt.Sprintf(format, args...)}
	if l.src != nil {
		e.File = l.src.file
		var pos token.Position
		var ok bool
		if key {
			pos, ok = l.src.keyPosition(path)
		} else {
			pos, ok = l.src.position(path)
		}
		if ok {
			e.Line, e.Column = pos.Line, pos.Column
		}
	}
	l.errs = append(l.errs, e)
}

func (l *errorList) err() error {
	if len(l.errs) == 0 {
		return nil
	}
	sort.SliceStable(l.errs, func(i, j int) bool {
		a, b := l.errs[i], l.errs[j]
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		if a.Column != b.Column {
			return a.Column < b.Column
		}
		return a.Path < b.Path
	})
	errs := make([]error, 0, len(l.errs))
	seen := map[string]bool{}
	for _, e := range l.errs {
		if s := e.Error(); !seen[s] {
			seen[s] = true
			errs = append(errs, e)
		}
	}
	return errors.Join(errs...)
}

// ---------------------------------------------------------------------------------
// Loading

// MaxPolicyBytes bounds a policy file.
const MaxPolicyBytes = 1 << 20

// Load reads, parses and validates the policy file at path. Errors name the file.
func Load(path string) (*Policy, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("routing policy: %w", err)
	}
	return ParseFile(path, data)
}

// Parse parses and validates a policy. Errors carry line:column but no file name;
// see ParseFile.
func Parse(data []byte) (*Policy, error) { return ParseFile("", data) }

// ParseFile parses and validates a policy read from the file name (used in errors).
func ParseFile(name string, data []byte) (*Policy, error) {
	src := &source{
		file:   name,
		pos:    map[string]token.Position{},
		keyPos: map[string]token.Position{},
		origin: map[string]string{},
		bad:    map[string]bool{},
	}
	errs := &errorList{src: src}
	if len(data) > MaxPolicyBytes {
		errs.at("", "the file is %d bytes; a policy may not exceed %d", len(data), MaxPolicyBytes)
		return nil, errs.err()
	}
	f, err := parser.ParseBytes(data, 0)
	if err != nil {
		e := &Error{File: name, Msg: err.Error()}
		var ye yaml.Error
		if errors.As(err, &ye) {
			e.Msg = ye.GetMessage()
			if tk := ye.GetToken(); tk != nil && tk.Position != nil {
				e.Line, e.Column = tk.Position.Line, tk.Position.Column
			}
		}
		return nil, errors.Join(e)
	}
	var bodies []ast.Node
	for _, doc := range f.Docs {
		if doc != nil && doc.Body != nil {
			bodies = append(bodies, doc.Body)
		}
	}
	if len(bodies) == 0 {
		errs.at("", "the policy is empty: it needs at least version, providers, businesses, channels and replies")
		return nil, errs.err()
	}
	body := bodies[0]
	if len(bodies) > 1 {
		e := &Error{File: name, Msg: fmt.Sprintf("the file holds %d YAML documents; a policy is one", len(bodies))}
		if pos, ok := tokenPos(bodies[1]); ok {
			e.Line, e.Column = pos.Line, pos.Column
		}
		return nil, errors.Join(e)
	}

	d := &decoder{src: src, errs: errs, anchors: map[string]ast.Node{}}
	ast.Walk(d, body)
	var raw rawPolicy
	d.decode(body, "", reflect.ValueOf(&raw).Elem())

	p := build(&raw, src, errs)
	p.src = src
	p.validate(errs)
	if err := errs.err(); err != nil {
		return nil, err
	}
	return p, nil
}

// ---------------------------------------------------------------------------------
// The file as written. Pointers tell "not written" from zero.

type rawPolicy struct {
	Version    *int                   `yaml:"version"`
	Language   string                 `yaml:"language"`
	Defaults   rawSettings            `yaml:"defaults"`
	Providers  map[string]rawProvider `yaml:"providers"`
	Businesses []rawBusiness          `yaml:"businesses"`
	Channels   map[string]rawChannel  `yaml:"channels"`
	Escalation *rawEscalation         `yaml:"escalation"`
	Replies    rawReplies             `yaml:"replies"`
	StuckAfter *time.Duration         `yaml:"stuck_after"`
	StaleReply rawStaleReply          `yaml:"stale_reply"`
	Canary     *rawCanary             `yaml:"canary"`
}

type rawStaleReply struct {
	After   *time.Duration `yaml:"after"`
	Action  string         `yaml:"action"`
	Apology *string        `yaml:"apology"`
}

type rawCanary struct {
	Business string `yaml:"business"`
	Channel  string `yaml:"channel"`
	Customer string `yaml:"customer"`
	Text     string `yaml:"text"`
}

type rawSettings struct {
	AttemptTimeout *time.Duration `yaml:"attempt_timeout"`
	Retries        *int           `yaml:"retries"`
	Breaker        rawBreaker     `yaml:"breaker"`
	ProbeInterval  *time.Duration `yaml:"probe_interval"`
}

type rawBreaker struct {
	ConsecutiveFailures *int           `yaml:"consecutive_failures"`
	FailureRate         *float64       `yaml:"failure_rate"`
	Window              *time.Duration `yaml:"window"`
	MinCalls            *int           `yaml:"min_calls"`
	SlowCall            *time.Duration `yaml:"slow_call"`
	OpenFor             *time.Duration `yaml:"open_for"`
	HalfOpenProbes      *int           `yaml:"half_open_probes"`
}

type rawProvider struct {
	Kind        string `yaml:"kind"`
	Location    string `yaml:"location"`
	Project     string `yaml:"project"`
	Agent       string `yaml:"agent"`
	Endpoint    string `yaml:"endpoint"`
	Model       string `yaml:"model"`
	rawWebhook  `yaml:",inline"`
	rawSettings `yaml:",inline"`
	Classify    rawClassify `yaml:"classify"`
}

type rawClassify struct {
	Unavailable []int `yaml:"unavailable"`
	RateLimited []int `yaml:"rate_limited"`
	Timeout     []int `yaml:"timeout"`
	Rejected    []int `yaml:"rejected"`
}

type rawBusiness struct {
	Name      string            `yaml:"name"`
	Addresses map[string]string `yaml:"addresses"`
	Language  string            `yaml:"language"`
}

type rawChannel struct {
	NLU             []string `yaml:"nlu"`
	CPaaS           []string `yaml:"cpaas"`
	FallbackChannel string   `yaml:"fallback_channel"`
}

type rawEscalation struct {
	HandoffIntents []string   `yaml:"handoff_intents"`
	MaxNoMatch     *int       `yaml:"max_no_match"`
	Queues         []rawQueue `yaml:"queues"`
	FinalMessage   string     `yaml:"final_message"`
}

type rawQueue struct {
	Name   string         `yaml:"name"`
	AckSLA *time.Duration `yaml:"ack_sla"`
}

type rawReplies struct {
	Fallback   string `yaml:"fallback"`
	Escalating string `yaml:"escalating"`
}

// ---------------------------------------------------------------------------------
// Resolution: defaults into providers.

func build(raw *rawPolicy, src *source, errs *errorList) *Policy {
	p := &Policy{
		Language:   raw.Language,
		Providers:  map[string]*Provider{},
		Channels:   map[string]*Channel{},
		Replies:    Replies(raw.Replies),
		StuckAfter: DefaultStuckAfter,
	}
	if raw.Version != nil {
		p.Version = *raw.Version
	}
	if p.Language == "" {
		p.Language = DefaultLanguage
	}
	if raw.StuckAfter != nil {
		p.StuckAfter = *raw.StuckAfter
	}
	p.StaleReply = StaleReply{After: DefaultStaleAfter, Action: raw.StaleReply.Action, Apology: DefaultApology}
	if p.StaleReply.Action == "" {
		p.StaleReply.Action = StaleApologize
	}
	if raw.StaleReply.After != nil {
		p.StaleReply.After = *raw.StaleReply.After
	}
	if raw.StaleReply.Apology != nil {
		p.StaleReply.Apology = *raw.StaleReply.Apology
	}
	if rc := raw.Canary; rc != nil {
		p.Canary = &Canary{Business: rc.Business, Channel: rc.Channel, Customer: rc.Customer, Text: rc.Text}
		if p.Canary.Text == "" {
			p.Canary.Text = DefaultCanaryText
		}
	}
	p.Defaults = overlay(builtinDefaults, raw.Defaults, "", "", src)
	slowCallWritten := raw.Defaults.Breaker.SlowCall != nil
	if !slowCallWritten {
		p.Defaults.Breaker.SlowCall = BuiltinSlowCall(p.Defaults.AttemptTimeout)
	}
	for name, rp := range raw.Providers {
		path := "providers." + name
		pr := &Provider{
			Name: name, Kind: rp.Kind,
			Location: rp.Location, Project: rp.Project, Agent: rp.Agent, Endpoint: rp.Endpoint,
			Model:    rp.Model,
			Webhook:  Webhook(rp.rawWebhook),
			Settings: overlay(p.Defaults, rp.rawSettings, path+".", "defaults.", src),
		}
		if !slowCallWritten && rp.Breaker.SlowCall == nil {
			pr.Settings.Breaker.SlowCall = BuiltinSlowCall(pr.Settings.AttemptTimeout)
		}
		for _, c := range []struct {
			field    string
			kind     error
			statuses []int
		}{
			{"unavailable", providers.ErrUnavailable, rp.Classify.Unavailable},
			{"rate_limited", providers.ErrRateLimited, rp.Classify.RateLimited},
			{"timeout", providers.ErrTimeout, rp.Classify.Timeout},
			{"rejected", providers.ErrRejected, rp.Classify.Rejected},
		} {
			for i, st := range c.statuses {
				at := fmt.Sprintf("%s.classify.%s[%d]", path, c.field, i)
				if st < 100 || st > 599 {
					errs.at(at, "%d is not an HTTP status (100-599)", st)
					continue
				}
				if pr.Classify == nil {
					pr.Classify = map[int]error{}
				}
				if prev, dup := pr.Classify[st]; dup {
					errs.at(at, "status %d is already classified as %s", st, kindName(prev))
					continue
				}
				pr.Classify[st] = c.kind
			}
		}
		p.Providers[name] = pr
	}
	for _, rb := range raw.Businesses {
		p.Businesses = append(p.Businesses, Business(rb))
	}
	for name, rc := range raw.Channels {
		p.Channels[name] = &Channel{Name: name, NLU: rc.NLU, CPaaS: rc.CPaaS, FallbackChannel: rc.FallbackChannel}
	}
	if re := raw.Escalation; re != nil {
		e := &Escalation{HandoffIntents: re.HandoffIntents, FinalMessage: re.FinalMessage}
		if re.MaxNoMatch != nil {
			e.MaxNoMatch = *re.MaxNoMatch
		}
		for _, q := range re.Queues {
			qq := Queue{Name: q.Name}
			if q.AckSLA != nil {
				qq.AckSLA = *q.AckSLA
			}
			e.Queues = append(e.Queues, qq)
		}
		p.Escalation = e
	}
	return p
}

func kindName(k error) string {
	switch k {
	case providers.ErrUnavailable:
		return "unavailable"
	case providers.ErrRateLimited:
		return "rate_limited"
	case providers.ErrTimeout:
		return "timeout"
	case providers.ErrRejected:
		return "rejected"
	}
	return k.Error()
}

// overlay lays the written settings r over base. For every field it takes from base,
// it records where base's value was written, so errors point at the right line.
func overlay(base Settings, r rawSettings, prefix, basePrefix string, src *source) Settings {
	s := base
	inherit := func(field string) {
		if prefix == "" {
			return
		}
		from := basePrefix + field
		if _, written := src.pos[from]; written {
			src.origin[prefix+field] = from
		}
	}
	setDur := func(dst *time.Duration, v *time.Duration, field string) {
		if v != nil {
			*dst = *v
		} else {
			inherit(field)
		}
	}
	setInt := func(dst *int, v *int, field string) {
		if v != nil {
			*dst = *v
		} else {
			inherit(field)
		}
	}
	setDur(&s.AttemptTimeout, r.AttemptTimeout, "attempt_timeout")
	setInt(&s.Retries, r.Retries, "retries")
	setDur(&s.ProbeInterval, r.ProbeInterval, "probe_interval")
	b := r.Breaker
	setInt(&s.Breaker.ConsecutiveFailures, b.ConsecutiveFailures, "breaker.consecutive_failures")
	if b.FailureRate != nil {
		s.Breaker.FailureRate = *b.FailureRate
	} else {
		inherit("breaker.failure_rate")
	}
	setDur(&s.Breaker.Window, b.Window, "breaker.window")
	setInt(&s.Breaker.MinCalls, b.MinCalls, "breaker.min_calls")
	setDur(&s.Breaker.SlowCall, b.SlowCall, "breaker.slow_call")
	setDur(&s.Breaker.OpenFor, b.OpenFor, "breaker.open_for")
	setInt(&s.Breaker.HalfOpenProbes, b.HalfOpenProbes, "breaker.half_open_probes")
	return s
}

// ---------------------------------------------------------------------------------
// Validation

var (
	namePattern     = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)
	languagePattern = regexp.MustCompile(`^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$`)
	// E.164 (+ and 7 to 15 digits) or a short code (3 to 8 digits).
	addressPattern = regexp.MustCompile(`^(\+[1-9][0-9]{6,14}|[0-9]{3,8})$`)
)

// Bounds that keep a policy sane.
const (
	minAttemptTimeout = 100 * time.Millisecond
	maxAttemptTimeout = time.Minute
	maxRetries        = 5
	maxReplyBytes     = 1600 // Twilio's and Vonage's limit for one message body
	minAckSLA         = 10 * time.Second
)

// Validate checks a policy and reports every problem found, joined. Parse and Load
// call it; call it yourself on a Policy built in Go.
func (p *Policy) Validate() error {
	errs := &errorList{src: p.src}
	p.validate(errs)
	return errs.err()
}

func (p *Policy) validate(errs *errorList) {
	switch {
	case p.Version == 0:
		errs.at("version", "is required: write version: %d at the top of the file", PolicyVersion)
	case p.Version != PolicyVersion:
		errs.at("version", "version %d is not supported; this Switchboard reads version %d", p.Version, PolicyVersion)
	}
	if !languagePattern.MatchString(p.Language) {
		errs.at("language", "%q is not a language code (e.g. en, en-US, es)", p.Language)
	}
	p.validateSettings(errs, "defaults.", p.Defaults)

	// Providers.
	if len(p.Providers) == 0 {
		errs.at("providers", "at least one NLU and one CPaaS provider are required")
	}
	for _, name := range p.ProviderNames() {
		p.validateProvider(errs, p.Providers[name])
	}

	// Businesses.
	p.validateBusinesses(errs)

	// Channels.
	if len(p.Channels) == 0 {
		errs.at("channels", "at least one channel is required (%s)", strings.Join(turn.Channels(), ", "))
	}
	for _, name := range sortedKeys(p.Channels) {
		p.validateChannel(errs, name, p.Channels[name])
	}

	// Escalation and replies.
	if e := p.Escalation; e != nil {
		p.validateEscalation(errs, e)
		if strings.TrimSpace(p.Replies.Escalating) == "" {
			errs.in("replies.escalating", "is required when escalation is configured: it is what the customer hears when handed to a person")
		}
	}
	if strings.TrimSpace(p.Replies.Fallback) == "" {
		errs.in("replies.fallback", "is required: it is what the customer hears when no NLU provider answered")
	}
	checkText(errs, "replies.fallback", p.Replies.Fallback)
	checkText(errs, "replies.escalating", p.Replies.Escalating)

	p.validateStaleReply(errs)
	if p.Canary != nil {
		p.validateCanary(errs, p.Canary)
	}

	// Stuck detection must not flag a healthy but slow turn.
	if p.StuckAfter < 10*time.Second || p.StuckAfter > 24*time.Hour {
		errs.at("stuck_after", "%s is out of range: between 10s and 24h", fmtDur(p.StuckAfter))
	} else {
		var slow []string
		for _, name := range p.ChannelNames() {
			if worst := p.worstTurn(name); worst >= p.StuckAfter {
				slow = append(slow, fmt.Sprintf("%s %s", name, fmtDur(worst)))
			}
		}
		if len(slow) > 0 {
			errs.at("stuck_after", "%s is not longer than the slowest turn when every provider uses every attempt (%s): such turns would be reported as stuck; raise it, or lower attempt_timeout or retries", fmtDur(p.StuckAfter), strings.Join(slow, ", "))
		}
	}
}

// Warnings reports what is valid but probably not meant, in the form of errors
// (file, line, field, message) but without refusing the policy: a provider whose
// slow-call counting is off (breaker.slow_call: 0) while its attempt_timeout is
// LongAttemptTimeout or more, and the webhook warnings of webhookWarnings (a chat
// channel replying by SMS, a signing secret this environment cannot read).
// `switchboard policy validate` prints them.
func (p *Policy) Warnings() []*Error {
	l := &errorList{src: p.src}
	for _, name := range p.ProviderNames() {
		pr := p.Providers[name]
		if pr.Breaker.SlowCall == 0 && pr.AttemptTimeout >= LongAttemptTimeout {
			l.at("providers."+name+".breaker.slow_call", "slow-call counting is off while attempt_timeout is %s: a provider that hangs up to %s on every call, and then answers, never trips its breaker, and every turn routed to it waits; set slow_call below attempt_timeout (the built-in is %s)", fmtDur(pr.AttemptTimeout), fmtDur(pr.AttemptTimeout), fmtDur(BuiltinSlowCall(pr.AttemptTimeout)))
		}
	}
	p.webhookWarnings(l)
	return l.errs
}

func checkText(errs *errorList, path, s string) {
	if len(s) > maxReplyBytes {
		errs.at(path, "is %d bytes; a message body may not exceed %d", len(s), maxReplyBytes)
	}
}

// validateSettings checks resolved settings. For a provider, a value it inherited
// was already checked where it was written (under defaults), so only the provider's
// own values, and combinations involving them, are reported.
func (p *Policy) validateSettings(errs *errorList, prefix string, s Settings) {
	check := func(field string) bool { return prefix == "defaults." || p.src.written(prefix+field) }
	durIn := func(field string, d, lo, hi time.Duration) {
		if check(field) && (d < lo || d > hi) {
			errs.at(prefix+field, "%s is out of range: between %s and %s", fmtDur(d), fmtDur(lo), fmtDur(hi))
		}
	}
	intIn := func(field string, n, lo, hi int) {
		if check(field) && (n < lo || n > hi) {
			errs.at(prefix+field, "%d is out of range: between %d and %d", n, lo, hi)
		}
	}
	durIn("attempt_timeout", s.AttemptTimeout, minAttemptTimeout, maxAttemptTimeout)
	intIn("retries", s.Retries, 0, maxRetries)
	durIn("probe_interval", s.ProbeInterval, time.Second, time.Hour)
	b := s.Breaker
	intIn("breaker.consecutive_failures", b.ConsecutiveFailures, 1, 1000)
	if check("breaker.failure_rate") && !(b.FailureRate > 0 && b.FailureRate <= 1) {
		errs.at(prefix+"breaker.failure_rate", "%v is out of range: a share of calls, above 0 and at most 1 (0.5 = half)", b.FailureRate)
	}
	durIn("breaker.window", b.Window, time.Second, time.Hour)
	intIn("breaker.min_calls", b.MinCalls, 1, 100000)
	switch {
	case b.SlowCall < 0:
		if check("breaker.slow_call") {
			errs.at(prefix+"breaker.slow_call", "%s is negative; 0 switches slow-call counting off", fmtDur(b.SlowCall))
		}
	case b.SlowCall > 0 && b.SlowCall >= s.AttemptTimeout && (check("breaker.slow_call") || check("attempt_timeout")):
		if check("breaker.slow_call") {
			errs.at(prefix+"breaker.slow_call", "%s is not shorter than attempt_timeout (%s), so no call could ever count as slow: lower it, or write 0 to switch slow-call counting off", fmtDur(b.SlowCall), fmtDur(s.AttemptTimeout))
		} else {
			errs.at(prefix+"attempt_timeout", "%s is not longer than breaker.slow_call (%s, from defaults), so no call could ever count as slow: raise it, or set this provider's breaker.slow_call lower or to 0", fmtDur(s.AttemptTimeout), fmtDur(b.SlowCall))
		}
	}
	durIn("breaker.open_for", b.OpenFor, time.Second, time.Hour)
	intIn("breaker.half_open_probes", b.HalfOpenProbes, 1, 100)
}

func (p *Policy) validateProvider(errs *errorList, pr *Provider) {
	path := "providers." + pr.Name
	switch {
	case !namePattern.MatchString(pr.Name):
		errs.in(path, "provider names are 1-63 characters of a-z, 0-9, _ and -, starting with a letter or digit")
	case pr.Name == "fallback":
		errs.in(path, `the name "fallback" is reserved: transcripts name it as the NLU provider of turns no provider answered`)
	}
	switch {
	case pr.Kind == "":
		errs.in(path+".kind", "is required (one of %s)", strings.Join(Kinds(), ", "))
	case RoleOf(pr.Kind) == "":
		errs.at(path+".kind", "unknown kind %q (known: %s)", pr.Kind, strings.Join(Kinds(), ", "))
	}
	only := func(field, value, kind string) {
		if value != "" && pr.Kind != kind && RoleOf(pr.Kind) != "" {
			errs.at(path+"."+field, "applies only to %s providers; this one is %s", kind, pr.Kind)
		}
	}
	only("location", pr.Location, KindDialogflowCX)
	only("project", pr.Project, KindDialogflowCX)
	only("agent", pr.Agent, KindDialogflowCX)
	only("endpoint", pr.Endpoint, KindDialogflowCX)
	only("model", pr.Model, KindOpenAI)
	p.validateWebhook(errs, pr)
	switch pr.Kind {
	case KindDialogflowCX:
		if strings.TrimSpace(pr.Location) == "" {
			errs.in(path+".location", "is required for dialogflowcx (global, or a region such as europe-west1): a CX agent is only reachable through its own location")
		} else if !regexp.MustCompile(`^[a-z0-9-]+$`).MatchString(pr.Location) {
			errs.at(path+".location", "%q is not a Dialogflow CX location (global, us-central1, europe-west1...)", pr.Location)
		}
	case KindOpenAI:
		if strings.TrimSpace(pr.Model) == "" {
			errs.in(path+".model", "is required for openai (e.g. gpt-4o-mini)")
		}
	}
	if len(pr.Classify) > 0 && (pr.Kind == KindDialogflowCX || pr.Kind == KindLocal) {
		errs.at(path+".classify", "classify maps HTTP statuses and applies to openai, twilio, vonage and webhook; %s errors are classified by the client", pr.Kind)
	}
	p.validateSettings(errs, path+".", pr.Settings)
}

func (p *Policy) validateBusinesses(errs *errorList) {
	if len(p.Businesses) == 0 {
		errs.at("businesses", "at least one business is required: it names the address each reply leaves from on each CPaaS provider")
	}
	names := map[string]int{}
	owner := map[string]string{} // normalised address → path of its first use
	// Which channels list each CPaaS provider, to say why an address is needed.
	usedBy := map[string][]string{}
	for _, ch := range p.ChannelNames() {
		for _, pr := range p.Channels[ch].CPaaS {
			if !slices.Contains(usedBy[pr], ch) {
				usedBy[pr] = append(usedBy[pr], ch)
			}
		}
	}
	for i, b := range p.Businesses {
		path := fmt.Sprintf("businesses[%d]", i)
		switch {
		case strings.TrimSpace(b.Name) == "":
			errs.in(path+".name", "is required")
		default:
			if j, dup := names[b.Name]; dup {
				errs.at(path+".name", "business %q is already defined at businesses[%d]", b.Name, j)
			} else {
				names[b.Name] = i
			}
		}
		if b.Language != "" && !languagePattern.MatchString(b.Language) {
			errs.at(path+".language", "%q is not a language code (e.g. en, en-US, es)", b.Language)
		}
		for _, prov := range sortedKeys(b.Addresses) {
			addr := b.Addresses[prov]
			at := path + ".addresses." + prov
			pr := p.Providers[prov]
			switch {
			case pr == nil:
				errs.in(at, "provider %q is not defined (CPaaS providers: %s)", prov, strings.Join(p.namesOfRole(RoleCPaaS), ", "))
			case pr.Role() == RoleNLU:
				errs.in(at, "provider %q is an NLU provider (%s); addresses are for CPaaS providers (%s)", prov, pr.Kind, strings.Join(p.namesOfRole(RoleCPaaS), ", "))
			}
			if !addressPattern.MatchString(addr) {
				errs.at(at, "%q is not an address replies can leave from: write E.164 in quotes, e.g. \"+15550001000\", or a short code", addr)
				continue
			}
			if first, dup := owner[normAddr(addr)]; dup {
				errs.at(at, "%s is already the address at %s: an inbound message to it must identify one business", addr, first)
			} else {
				owner[normAddr(addr)] = at
			}
		}
		for _, prov := range sortedKeys(usedBy) {
			if _, ok := b.Addresses[prov]; !ok && p.Providers[prov] != nil && p.Providers[prov].needsAddress() {
				name := b.Name
				if name == "" {
					name = path
				}
				errs.in(path+".addresses", "business %q has no address on %s, which channel %s lists: replies through %s would have no sender", name, prov, strings.Join(usedBy[prov], ", "), prov)
			}
		}
	}
}

func (p *Policy) namesOfRole(r Role) []string {
	var out []string
	for _, n := range p.ProviderNames() {
		if p.Providers[n].Role() == r {
			out = append(out, n)
		}
	}
	return out
}

func (p *Policy) validateChannel(errs *errorList, name string, c *Channel) {
	path := "channels." + name
	if !turn.ValidChannel(name) {
		errs.in(path, "unknown channel (channels are %s)", strings.Join(turn.Channels(), ", "))
		return
	}
	check := func(list []string, field string, role Role) {
		at := path + "." + field
		if len(list) == 0 {
			what := "NLU provider (dialogflowcx, openai, local)"
			if role == RoleCPaaS {
				what = "CPaaS provider (twilio, vonage, webhook)"
			}
			errs.in(at, "at least one %s is required", what)
			return
		}
		seen := map[string]bool{}
		for i, prov := range list {
			ai := fmt.Sprintf("%s[%d]", at, i)
			pr := p.Providers[prov]
			switch {
			case pr == nil:
				msg := fmt.Sprintf("provider %q is not defined (known: %s)", prov, strings.Join(p.ProviderNames(), ", "))
				if s := suggest(prov, p.ProviderNames()); s != "" {
					msg += fmt.Sprintf("; did you mean %q?", s)
				}
				errs.at(ai, "%s", msg)
				continue
			case pr.Role() == "":
				continue // its kind is reported at the provider
			case pr.Role() != role:
				if role == RoleNLU {
					errs.at(ai, "%q is a CPaaS provider (%s), which delivers replies; nlu lists only NLU providers (dialogflowcx, openai, local)", prov, pr.Kind)
				} else {
					errs.at(ai, "%q is an NLU provider (%s), which understands messages; cpaas lists only CPaaS providers (twilio, vonage, webhook)", prov, pr.Kind)
				}
				continue
			}
			if seen[prov] {
				errs.at(ai, "%q is listed twice", prov)
			}
			seen[prov] = true
			if pr.Kind == KindLocal && i < len(list)-1 {
				errs.at(ai, "%q is a local provider, which always answers, so %s after it would never be tried: put it last", prov, strings.Join(list[i+1:], ", "))
			}
		}
	}
	check(c.NLU, "nlu", RoleNLU)
	check(c.CPaaS, "cpaas", RoleCPaaS)
	if fb := c.FallbackChannel; fb != "" {
		at := path + ".fallback_channel"
		switch {
		case fb == name:
			errs.at(at, "a channel cannot fall back to itself")
		case !turn.ValidChannel(fb):
			errs.at(at, "unknown channel %q (channels are %s)", fb, strings.Join(turn.Channels(), ", "))
		case p.Channels[fb] == nil:
			errs.at(at, "channel %q is not configured under channels (configured: %s)", fb, strings.Join(p.ChannelNames(), ", "))
		}
	}
}

func (p *Policy) validateEscalation(errs *errorList, e *Escalation) {
	seen := map[string]bool{}
	for i, in := range e.HandoffIntents {
		at := fmt.Sprintf("escalation.handoff_intents[%d]", i)
		switch {
		case strings.TrimSpace(in) == "":
			errs.at(at, "an intent name is required")
		case seen[in]:
			errs.at(at, "%q is listed twice", in)
		}
		seen[in] = true
	}
	if e.MaxNoMatch < 0 || e.MaxNoMatch > 20 {
		errs.at("escalation.max_no_match", "%d is out of range: between 0 (never) and 20", e.MaxNoMatch)
	}
	if len(e.Queues) == 0 {
		errs.in("escalation.queues", "at least one queue is required, e.g. [{name: tier1, ack_sla: 2m}]")
	}
	names := map[string]int{}
	for i, q := range e.Queues {
		at := fmt.Sprintf("escalation.queues[%d]", i)
		switch {
		case strings.TrimSpace(q.Name) == "":
			errs.in(at+".name", "is required")
		case !streams.ValidQueueName(q.Name):
			errs.at(at+".name", "%q is not a queue name: 1-64 characters of A-Z, a-z, 0-9, _ and - (it becomes a NATS subject token)", q.Name)
		default:
			if j, dup := names[q.Name]; dup {
				errs.at(at+".name", "queue %q is already defined at escalation.queues[%d]", q.Name, j)
			}
			names[q.Name] = i
		}
		switch {
		case q.AckSLA == 0:
			errs.in(at+".ack_sla", "is required: how long the queue has to acknowledge before the next one is tried (at least %s)", fmtDur(minAckSLA))
		case q.AckSLA < minAckSLA || q.AckSLA > 24*time.Hour:
			errs.at(at+".ack_sla", "%s is out of range: between %s and 24h", fmtDur(q.AckSLA), fmtDur(minAckSLA))
		}
	}
	if strings.TrimSpace(e.FinalMessage) == "" {
		errs.in("escalation.final_message", "is required: it is what the customer hears when no queue acknowledged in time")
	}
	checkText(errs, "escalation.final_message", e.FinalMessage)
}

func (p *Policy) validateStaleReply(errs *errorList) {
	s := p.StaleReply
	if s.After < time.Minute || s.After > 7*24*time.Hour {
		errs.at("stale_reply.after", "%s is out of range: between 1m and 168h", fmtDur(s.After))
	}
	switch s.Action {
	case StaleApologize:
		if strings.TrimSpace(s.Apology) == "" {
			errs.at("stale_reply.apology", "is required when action is %s: it is prefixed to the late reply", StaleApologize)
		}
		checkText(errs, "stale_reply.apology", s.Apology)
	case StaleSuppress:
	default:
		errs.at("stale_reply.action", "%q is not an action: %s (prefix the apology) or %s (send nothing)", s.Action, StaleApologize, StaleSuppress)
	}
}

func (p *Policy) validateCanary(errs *errorList, c *Canary) {
	if p.Business(c.Business) == nil {
		names := make([]string, 0, len(p.Businesses))
		for _, b := range p.Businesses {
			names = append(names, b.Name)
		}
		errs.at("canary.business", "%q is not a business of this policy (%s)", c.Business, strings.Join(names, ", "))
	}
	if p.Channels[c.Channel] == nil {
		errs.at("canary.channel", "%q is not a channel of this policy (%s)", c.Channel, strings.Join(p.ChannelNames(), ", "))
	}
	if !addressPattern.MatchString(c.Customer) {
		errs.at("canary.customer", "%q is not an address: write E.164 in quotes, e.g. \"+15559990000\" (a number ops own: it gets the canary's replies)", c.Customer)
	}
	checkText(errs, "canary.text", c.Text)
}

// worstTurn is how long a turn of the channel can take when every provider uses every
// attempt up to its timeout, as the workflow bounds it.
func (p *Policy) worstTurn(channel string) time.Duration {
	c := p.Channels[channel]
	if c == nil {
		return 0
	}
	bound := func(name string) time.Duration {
		pr := p.Providers[name]
		if pr == nil {
			return 0
		}
		// The workflow's ScheduleToClose: attempts × (timeout + backoff) + 1s.
		return time.Duration(pr.MaxAttempts())*(pr.AttemptTimeout+time.Second) + time.Second
	}
	var total time.Duration
	for _, n := range c.NLU {
		total += bound(n)
	}
	for _, n := range c.CPaaS {
		total += bound(n)
	}
	if fb := p.Channels[c.FallbackChannel]; fb != nil && c.FallbackChannel != channel {
		for _, n := range fb.CPaaS {
			total += bound(n)
		}
	}
	return total
}

// fmtDur prints 90s as 1m30s and 2m0s as 2m.
func fmtDur(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// suggest returns the candidate within edit distance 2 of s, if one is closest.
func suggest(s string, candidates []string) string {
	best, bestD := "", 3
	for _, c := range candidates {
		if d := editDistance(s, c); d < bestD {
			best, bestD = c, d
		}
	}
	return best
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// ---------------------------------------------------------------------------------
// Strict decoding from the YAML syntax tree. Unlike a decoder that stops at the first
// problem, this one reports every unknown field and every mistyped value, each with
// its field path and position.

type decoder struct {
	src     *source
	errs    *errorList
	anchors map[string]ast.Node
	depth   int
	// steps counts values decoded, aliases expanded included, so that aliases
	// nested in aliases (a "billion laughs") end in an error rather than a hang.
	steps     int
	exhausted bool
}

const (
	maxDecodeDepth = 50
	maxDecodeSteps = 100000
)

// step counts one value and reports whether decoding may go on.
func (d *decoder) step(path string, n ast.Node) bool {
	d.steps++
	if d.steps <= maxDecodeSteps {
		return true
	}
	if !d.exhausted {
		d.exhausted = true
		d.fail(path, n, "the policy expands to more than %d values: are aliases nested in aliases?", maxDecodeSteps)
	}
	return false
}

// Visit registers anchors before decoding, so that aliases resolve wherever they are.
func (d *decoder) Visit(n ast.Node) ast.Visitor {
	if a, ok := n.(*ast.AnchorNode); ok && a.Name != nil {
		d.anchors[a.Name.String()] = a.Value
	}
	return d
}

var durationType = reflect.TypeFor[time.Duration]()

func tokenPos(n ast.Node) (token.Position, bool) {
	if n == nil {
		return token.Position{}, false
	}
	// A block mapping's token is the first key's ':'; its first key reads better.
	switch m := n.(type) {
	case *ast.MappingNode:
		if !m.IsFlowStyle && len(m.Values) > 0 {
			return tokenPos(m.Values[0].Key)
		}
	case *ast.MappingValueNode:
		return tokenPos(m.Key)
	}
	tk := n.GetToken()
	if tk == nil || tk.Position == nil {
		return token.Position{}, false
	}
	return *tk.Position, true
}

func (d *decoder) fail(path string, n ast.Node, format string, args ...any) {
	if pos, ok := tokenPos(n); ok {
		if _, seen := d.src.pos[path]; !seen {
			d.src.pos[path] = pos
		}
	}
	d.errs.at(path, format, args...)
	d.src.bad[path] = true
}

// resolve follows anchors, aliases and tags to the node holding the value.
func (d *decoder) resolve(n ast.Node, path string) ast.Node {
	for i := 0; i < 100; i++ {
		switch x := n.(type) {
		case *ast.AnchorNode:
			n = x.Value
		case *ast.AliasNode:
			name := x.Value.String()
			target, ok := d.anchors[name]
			if !ok {
				d.fail(path, x, "alias *%s refers to no anchor &%s", name, name)
				return nil
			}
			n = target
		case *ast.TagNode:
			n = x.Value
		default:
			return n
		}
	}
	d.fail(path, n, "aliases nest too deep")
	return nil
}

func describe(n ast.Node) string {
	if n == nil {
		return "nothing"
	}
	switch n.(type) {
	case *ast.MappingNode, *ast.MappingValueNode:
		return "a mapping"
	case *ast.SequenceNode:
		return "a list"
	case *ast.StringNode, *ast.LiteralNode:
		return "text"
	case *ast.IntegerNode, *ast.FloatNode, *ast.InfinityNode, *ast.NanNode:
		return "a number"
	case *ast.BoolNode:
		return "true/false"
	}
	return strings.ToLower(n.Type().String())
}

// scalarText is a scalar's text as written: +15550001000 stays "+15550001000" rather
// than becoming the number 15550001000.
func scalarText(n ast.Node) (string, bool) {
	switch x := n.(type) {
	case *ast.StringNode:
		return x.Value, true
	case *ast.LiteralNode:
		return x.Value.Value, true
	case *ast.IntegerNode, *ast.FloatNode, *ast.BoolNode, *ast.InfinityNode, *ast.NanNode:
		return n.GetToken().Value, true
	}
	return "", false
}

type entry struct {
	key   string
	keyN  ast.Node
	value ast.Node
}

// entries lists a mapping's keys and values, with merge keys (<<: *anchor) expanded;
// keys written in the mapping win over merged ones.
func (d *decoder) entries(n ast.Node, path string) ([]entry, bool) {
	d.depth++
	defer func() { d.depth-- }()
	if d.depth > maxDecodeDepth {
		d.fail(path, n, "merges (<<) nest too deep: does an anchor merge itself?")
		return nil, true
	}
	if !d.step(path, n) {
		return nil, true
	}
	var values []*ast.MappingValueNode
	switch x := n.(type) {
	case *ast.MappingNode:
		values = x.Values
	case *ast.MappingValueNode:
		values = []*ast.MappingValueNode{x}
	default:
		return nil, false
	}
	var own, merged []entry
	for _, mv := range values {
		if mv.Key.IsMergeKey() {
			src := d.resolve(mv.Value, path)
			var srcs []ast.Node
			if seq, ok := src.(*ast.SequenceNode); ok {
				for _, s := range seq.Values {
					srcs = append(srcs, d.resolve(s, path))
				}
			} else {
				srcs = append(srcs, src)
			}
			for _, s := range srcs {
				if s == nil {
					continue
				}
				es, ok := d.entries(s, path)
				if !ok {
					d.fail(path, mv, "<< merges mappings only, not %s", describe(s))
					continue
				}
				merged = append(merged, es...)
			}
			continue
		}
		var kn ast.Node = mv.Key
		if mk, ok := kn.(*ast.MappingKeyNode); ok {
			kn = mk.Value
		}
		if kn = d.resolve(kn, path); kn == nil {
			continue // reported by resolve
		}
		key, ok := scalarText(kn)
		if !ok {
			d.fail(path, mv.Key, "keys must be plain text, not %s", describe(kn))
			continue
		}
		own = append(own, entry{key: key, keyN: mv.Key, value: mv.Value})
	}
	have := map[string]bool{}
	for _, e := range own {
		have[e.key] = true
	}
	for _, e := range merged {
		if !have[e.key] {
			have[e.key] = true
			own = append(own, e)
		}
	}
	return own, true
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func (d *decoder) decode(n ast.Node, path string, v reflect.Value) {
	d.depth++
	defer func() { d.depth-- }()
	if d.depth > maxDecodeDepth {
		d.fail(path, n, "nested too deep: does an alias refer to a value that holds it?")
		return
	}
	if !d.step(path, n) {
		return
	}
	if pos, ok := tokenPos(n); ok {
		if _, seen := d.src.pos[path]; !seen {
			d.src.pos[path] = pos
		}
	}
	orig := n
	if n = d.resolve(n, path); n == nil {
		return
	}
	if _, null := n.(*ast.NullNode); null {
		return // as if not written
	}
	t := v.Type()
	if t == durationType {
		d.decodeDuration(orig, n, path, v)
		return
	}
	switch t.Kind() {
	case reflect.Pointer:
		elem := reflect.New(t.Elem())
		d.decode(n, path, elem.Elem())
		if !d.src.bad[path] {
			v.Set(elem)
		}
	case reflect.String:
		s, ok := scalarText(n)
		if !ok {
			d.fail(path, orig, "must be text, not %s", describe(n))
			return
		}
		v.SetString(s)
	case reflect.Int:
		x, ok := n.(*ast.IntegerNode)
		if !ok {
			d.fail(path, orig, "must be a whole number, not %s%s", describe(n), quoted(n))
			return
		}
		i, err := strconv.ParseInt(fmt.Sprint(x.Value), 10, 32)
		if err != nil {
			d.fail(path, orig, "%s is too large", x.GetToken().Value)
			return
		}
		v.SetInt(i)
	case reflect.Bool:
		x, ok := n.(*ast.BoolNode)
		if !ok {
			d.fail(path, orig, "must be true or false, not %s%s", describe(n), quoted(n))
			return
		}
		v.SetBool(x.Value)
	case reflect.Float64:
		switch x := n.(type) {
		case *ast.FloatNode:
			v.SetFloat(x.Value)
		case *ast.IntegerNode:
			f, _ := strconv.ParseFloat(fmt.Sprint(x.Value), 64)
			v.SetFloat(f)
		default:
			d.fail(path, orig, "must be a number, not %s%s", describe(n), quoted(n))
		}
	case reflect.Slice:
		seq, ok := n.(*ast.SequenceNode)
		if !ok {
			d.fail(path, orig, "must be a list, e.g. [a, b], not %s%s", describe(n), quoted(n))
			return
		}
		s := reflect.MakeSlice(t, len(seq.Values), len(seq.Values))
		for i, item := range seq.Values {
			d.decode(item, fmt.Sprintf("%s[%d]", path, i), s.Index(i))
		}
		v.Set(s)
	case reflect.Map:
		es, ok := d.entries(n, path)
		if !ok {
			d.fail(path, orig, "must be a mapping of name: value, not %s%s", describe(n), quoted(n))
			return
		}
		m := reflect.MakeMapWithSize(t, len(es))
		for _, e := range es {
			p := join(path, e.key)
			if pos, ok := tokenPos(e.keyN); ok {
				d.src.keyPos[p] = pos
			}
			ev := reflect.New(t.Elem()).Elem()
			d.decode(e.value, p, ev)
			m.SetMapIndex(reflect.ValueOf(e.key), ev)
		}
		v.Set(m)
	case reflect.Struct:
		es, ok := d.entries(n, path)
		if !ok {
			d.fail(path, orig, "must be a mapping of field: value, not %s%s", describe(n), quoted(n))
			return
		}
		fields := structFields(t)
		for _, e := range es {
			p := join(path, e.key)
			if pos, ok := tokenPos(e.keyN); ok {
				d.src.keyPos[p] = pos
			}
			idx, ok := fields[e.key]
			if !ok {
				names := sortedKeys(fields)
				msg := "unknown field"
				if s := suggest(e.key, names); s != "" {
					msg += fmt.Sprintf("; did you mean %s?", s)
				}
				if path == "" {
					msg += fmt.Sprintf(" (top-level fields: %s)", strings.Join(names, ", "))
				} else {
					msg += fmt.Sprintf(" (fields here: %s)", strings.Join(names, ", "))
				}
				if pos, ok := tokenPos(e.keyN); ok {
					d.src.pos[p] = pos
				}
				d.fail(p, e.keyN, "%s", msg)
				continue
			}
			d.decode(e.value, p, v.FieldByIndex(idx))
		}
	default:
		d.fail(path, orig, "cannot decode into %s", t)
	}
}

func quoted(n ast.Node) string {
	if s, ok := scalarText(n); ok {
		if len(s) > 40 {
			s = s[:40] + "…"
		}
		return fmt.Sprintf(" %q", s)
	}
	return ""
}

func (d *decoder) decodeDuration(orig, n ast.Node, path string, v reflect.Value) {
	switch x := n.(type) {
	case *ast.IntegerNode:
		if fmt.Sprint(x.Value) == "0" {
			v.SetInt(0)
			return
		}
		d.fail(path, orig, "%s has no unit: write a duration such as %ss or %sms", x.GetToken().Value, x.GetToken().Value, x.GetToken().Value)
	case *ast.StringNode:
		dur, err := time.ParseDuration(strings.TrimSpace(x.Value))
		if err != nil {
			d.fail(path, orig, "%q is not a duration: write e.g. 500ms, 5s, 2m or 1h30m", x.Value)
			return
		}
		v.SetInt(int64(dur))
	default:
		d.fail(path, orig, "must be a duration such as 5s, not %s%s", describe(n), quoted(n))
	}
}

// structFields maps yaml names to field indexes, following ",inline" embedding.
func structFields(t reflect.Type) map[string][]int {
	out := map[string][]int{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := f.Tag.Get("yaml")
		name, opts, _ := strings.Cut(tag, ",")
		if opts == "inline" {
			for k, idx := range structFields(f.Type) {
				out[k] = append([]int{i}, idx...)
			}
			continue
		}
		if name == "" || name == "-" {
			continue
		}
		out[name] = []int{i}
	}
	return out
}
