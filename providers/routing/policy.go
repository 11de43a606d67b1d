package routing

import (
	"sort"
	"strings"
	"time"

	"github.com/switchboard-cc/switchboard/internal/turn"
	"github.com/switchboard-cc/switchboard/providers"
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
	ProbeInterval:    10 * time.Second,
	HedgeAfter:       HedgeAuto,
	HedgeMaxInFlight: DefaultHedgeMaxInFlight,
}

// Hedging of NLU attempts (see workflows/hedge.go): an attempt on a provider that
// has not answered within its hedge_after gets the next remote candidate started
// beside it, and the first answer wins.
const (
	// HedgeAuto is the HedgeAfter of a provider whose policy writes no
	// hedge_after: the delay is derived from the provider's observed latency, the
	// larger of HedgeP95Factor × the p95 of its successful calls and HedgeFloor,
	// so that a healthy provider is almost never hedged.
	HedgeAuto      time.Duration = -1
	HedgeP95Factor               = 2
	HedgeFloor                   = 100 * time.Millisecond
	// DefaultHedgeMaxInFlight bounds the hedges in flight to one provider, per
	// worker process: past it a hedge is refused and the slow attempt goes on
	// alone, so a slow primary cannot double the load on the next provider
	// without limit.
	DefaultHedgeMaxInFlight = 20
)

// HedgeDelay is the hedge delay of a provider configured with hedge_after (or
// HedgeAuto), whose successful calls have the p95 latency p95 (0: unknown).
func HedgeDelay(configured, p95 time.Duration) time.Duration {
	if configured != HedgeAuto {
		return configured
	}
	return max(HedgeP95Factor*p95, HedgeFloor)
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
	// Voice is how phone calls are answered (voice.go); nil: the policy takes no
	// calls.
	Voice *Voice

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
	// HedgeAfter is how long an NLU attempt may go unanswered before the next
	// remote candidate starts beside it: HedgeAuto when not written, 0 for never.
	HedgeAfter time.Duration
	// HedgeMaxInFlight bounds the hedges in flight to the provider, per worker.
	HedgeMaxInFlight int
}

// MaxAttempts is the number of attempts on one provider for one turn: Retries+1.
func (s Settings) MaxAttempts() int32 { return int32(s.Retries) + 1 }

// Attempt is the workflow's bound on one provider: timeout and attempts.
func (s Settings) Attempt() turn.Attempt {
	return turn.Attempt{Timeout: s.AttemptTimeout, MaxAttempts: s.MaxAttempts()}
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
	Queues []turn.Queue
	// FinalMessage is sent when no queue acknowledged in time.
	FinalMessage string
}

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

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
