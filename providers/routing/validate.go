package routing

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/switchboard-cc/switchboard/internal/turn"
)

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
	minHedgeAfter     = 10 * time.Millisecond
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

	if p.Voice != nil {
		p.validateVoice(errs, p.Voice)
	} else if p.Channels[turn.ChannelVoice] != nil {
		errs.in("channels.voice", "needs the voice section: the budget, the holding prompt and the hand-off options of a call")
	}
	p.validateStaleReply(errs)
	if p.Canary != nil {
		p.validateCanary(errs, p.Canary)
	}

	// Stuck detection must not flag a healthy but slow turn.
	if p.StuckAfter < 10*time.Second || p.StuckAfter > 24*time.Hour {
		errs.at("stuck_after", "%s is out of range: between 10s and 24h", FormatDuration(p.StuckAfter))
	} else {
		var slow []string
		for _, name := range p.ChannelNames() {
			if worst := p.worstTurn(name); worst >= p.StuckAfter {
				slow = append(slow, fmt.Sprintf("%s %s", name, FormatDuration(worst)))
			}
		}
		if len(slow) > 0 {
			errs.at("stuck_after", "%s is not longer than the slowest turn when every provider uses every attempt (%s): such turns would be reported as stuck; raise it, or lower attempt_timeout or retries", FormatDuration(p.StuckAfter), strings.Join(slow, ", "))
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
			l.at("providers."+name+".breaker.slow_call", "slow-call counting is off while attempt_timeout is %s: a provider that hangs up to %s on every call, and then answers, never trips its breaker, and every turn routed to it waits; set slow_call below attempt_timeout (the built-in is %s)", FormatDuration(pr.AttemptTimeout), FormatDuration(pr.AttemptTimeout), FormatDuration(BuiltinSlowCall(pr.AttemptTimeout)))
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
			errs.at(prefix+field, "%s is out of range: between %s and %s", FormatDuration(d), FormatDuration(lo), FormatDuration(hi))
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
	if h := s.HedgeAfter; h != HedgeAuto && h != 0 && check("hedge_after") {
		switch {
		case h < minHedgeAfter:
			errs.at(prefix+"hedge_after", "%s is out of range: 0 (never hedge), or at least %s; leave it out to derive it from the provider's latency", FormatDuration(h), FormatDuration(minHedgeAfter))
		case h >= s.AttemptTimeout:
			errs.at(prefix+"hedge_after", "%s is not shorter than attempt_timeout (%s): the attempt would time out first; lower it, or write 0 to switch hedging off", FormatDuration(h), FormatDuration(s.AttemptTimeout))
		}
	}
	intIn("hedge_max_in_flight", s.HedgeMaxInFlight, 1, 10000)
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
			errs.at(prefix+"breaker.slow_call", "%s is negative; 0 switches slow-call counting off", FormatDuration(b.SlowCall))
		}
	case b.SlowCall > 0 && b.SlowCall >= s.AttemptTimeout && (check("breaker.slow_call") || check("attempt_timeout")):
		if check("breaker.slow_call") {
			errs.at(prefix+"breaker.slow_call", "%s is not shorter than attempt_timeout (%s), so no call could ever count as slow: lower it, or write 0 to switch slow-call counting off", FormatDuration(b.SlowCall), FormatDuration(s.AttemptTimeout))
		} else {
			errs.at(prefix+"attempt_timeout", "%s is not longer than breaker.slow_call (%s, from defaults), so no call could ever count as slow: raise it, or set this provider's breaker.slow_call lower or to 0", FormatDuration(s.AttemptTimeout), FormatDuration(b.SlowCall))
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
	if pr.Role() == RoleCPaaS {
		for _, f := range []string{"hedge_after", "hedge_max_in_flight"} {
			if p.src != nil && p.src.written(path+"."+f) {
				errs.at(path+"."+f, "applies only to NLU providers: a reply is never hedged, two sends are two messages")
			}
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
		case !turn.ValidQueueName(q.Name):
			errs.at(at+".name", "%q is not a queue name: 1-64 characters of A-Z, a-z, 0-9, _ and - (it becomes a NATS subject token)", q.Name)
		default:
			if j, dup := names[q.Name]; dup {
				errs.at(at+".name", "queue %q is already defined at escalation.queues[%d]", q.Name, j)
			}
			names[q.Name] = i
		}
		switch {
		case q.AckSLA == 0:
			errs.in(at+".ack_sla", "is required: how long the queue has to acknowledge before the next one is tried (at least %s)", FormatDuration(minAckSLA))
		case q.AckSLA < minAckSLA || q.AckSLA > 24*time.Hour:
			errs.at(at+".ack_sla", "%s is out of range: between %s and 24h", FormatDuration(q.AckSLA), FormatDuration(minAckSLA))
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
		errs.at("stale_reply.after", "%s is out of range: between 1m and 168h", FormatDuration(s.After))
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
		// The workflow's ScheduleToClose: attempts × (timeout + grace + backoff) + 1s.
		return time.Duration(pr.MaxAttempts())*(pr.AttemptTimeout+turn.AttemptGrace+time.Second) + time.Second
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

// FormatDuration prints 90s as 1m30s and 2m0s as 2m.
func FormatDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
