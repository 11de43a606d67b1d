package routing

import (
	"fmt"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/switchboard-cc/switchboard/internal/turn"
)

// PlanInput describes a turn to route and the providers' health.
type PlanInput struct {
	// Channel the conversation is on: sms, whatsapp, chat or voice.
	Channel string
	// Vendor the conversation came in on: twilio, vonage, or "api" for the JSON API.
	Vendor string
	// Business is the business address the customer wrote to (the inbound To).
	Business string
	// Down reports a provider that must not be tried (its breaker is open, say).
	// nil means every provider is healthy.
	Down func(provider string) bool
	// ChannelDown reports a CPaaS provider that is healthy but cannot deliver on one
	// channel, e.g. WhatsApp during an outage at Meta. Optional.
	ChannelDown func(provider, channel string) bool
}

// Plan is who would be tried for a turn, in order, and who was left out and why.
type Plan struct {
	Channel         string
	Vendor          string
	BusinessAddress string
	// Business is the name of the business that owns BusinessAddress ("" if none).
	Business string
	NLU      []NLUStep
	CPaaS    []CPaaSStep
	Skipped  []Skip
	// FallbackChannel is the channel's fallback_channel, if it has one. Its CPaaS
	// providers come after the channel's own, as a last resort.
	FallbackChannel string
	// ChannelFallback is true when none of the channel's own CPaaS providers could be
	// tried, so the reply is planned on FallbackChannel.
	ChannelFallback bool
	FallbackReply   string
	LanguageCode    string
	// StaleReply is the policy's stale_reply section as the workflow takes it.
	StaleReply turn.StaleReply
	// Escalation is the policy's escalation section as the workflow takes it (empty
	// when the policy has none: the workflow then only logs that it wanted a human).
	Escalation turn.EscalationPolicy
	// Warnings explain a plan that can't serve the turn fully.
	Warnings []string
}

// NLUStep is one NLU provider to try.
type NLUStep struct {
	Provider string
	Kind     string
	Attempt  turn.Attempt
	// HedgeAfter is the provider's hedge_after: HedgeAuto, 0 (never) or a delay.
	HedgeAfter time.Duration
}

// CPaaSStep is one CPaaS provider to try, on a delivery channel, from the business's
// address on that provider.
type CPaaSStep struct {
	Provider string
	Kind     string
	// Channel the reply is delivered on: whatsapp, or sms (CPaaS vendors carry text
	// replies of sms, chat and voice conversations as SMS); a webhook provider
	// delivers on the conversation's own channel (deliveredOn).
	Channel string
	From    string
	Attempt turn.Attempt
	// Fallback marks a step of the fallback channel.
	Fallback bool
}

// Skip is a provider left out of the plan.
type Skip struct {
	Provider string
	Role     Role
	Channel  string // the delivery channel, for CPaaS
	Reason   string
	// Fallback marks a CPaaS provider of the fallback channel.
	Fallback bool
}

// deliveryChannel is the channel a CPaaS vendor delivers a reply of a conversation
// on channel c.
func deliveryChannel(c string) string {
	if c == turn.ChannelWhatsApp {
		return turn.ChannelWhatsApp
	}
	return turn.ChannelSMS
}

// Plan routes one turn: the NLU providers of the channel in order, then the CPaaS
// providers that may deliver the reply. Providers that are down are left out, with
// the reason.
//
// CPaaS order: the provider the conversation came in on goes first if the channel
// lists it and it is healthy, then the channel's list in order. If the channel has a
// fallback_channel, that channel's CPaaS providers follow (same rule) and deliver on
// it: they are tried only once all of the channel's own have failed, and
// ChannelFallback says whether the channel's own were all down already. Each reply
// leaves from the business's address on the provider; the business is the one that
// owns the inbound To address, on any provider.
func (p *Policy) Plan(in PlanInput) Plan {
	pl := Plan{
		Channel: in.Channel, Vendor: in.Vendor, BusinessAddress: in.Business,
		FallbackReply: p.Replies.Fallback, LanguageCode: p.Language,
		StaleReply: turn.StaleReply{After: p.StaleReply.After, Suppress: p.StaleReply.Action == StaleSuppress, Apology: p.StaleReply.Apology},
	}
	if e := p.Escalation; e != nil {
		pl.Escalation = turn.EscalationPolicy{
			HandoffIntents: slices.Clone(e.HandoffIntents), MaxNoMatch: e.MaxNoMatch,
			Queues: slices.Clone(e.Queues), EscalatingReply: p.Replies.Escalating, FinalMessage: e.FinalMessage,
		}
	}
	down := func(string) bool { return false }
	if in.Down != nil {
		down = in.Down
	}
	chDown := func(string, string) bool { return false }
	if in.ChannelDown != nil {
		chDown = in.ChannelDown
	}
	b := p.BusinessByAddress(in.Business)
	if b != nil {
		pl.Business = b.Name
		if b.Language != "" {
			pl.LanguageCode = b.Language
		}
	} else if in.Vendor == turn.VendorTwilio || in.Vendor == turn.VendorVonage {
		pl.Warnings = append(pl.Warnings, fmt.Sprintf("no business has the address %s: the reply can leave only from it, through %s, the vendor the conversation came in on", orNone(in.Business), in.Vendor))
	} else {
		pl.Warnings = append(pl.Warnings, fmt.Sprintf("no business has the address %s: no CPaaS provider has an address to send from", orNone(in.Business)))
	}
	c := p.Channels[in.Channel]
	if c == nil {
		pl.Warnings = append(pl.Warnings, fmt.Sprintf("channel %q is not in the policy (channels: %s): nothing can serve this turn", in.Channel, strings.Join(p.ChannelNames(), ", ")))
		return pl
	}

	for _, name := range c.NLU {
		pr := p.Providers[name]
		if pr == nil {
			pl.Skipped = append(pl.Skipped, Skip{Provider: name, Role: RoleNLU, Reason: "not defined in the policy"})
			continue
		}
		if down(name) {
			pl.Skipped = append(pl.Skipped, Skip{Provider: name, Role: RoleNLU, Reason: "down"})
			continue
		}
		pl.NLU = append(pl.NLU, NLUStep{Provider: name, Kind: pr.Kind, Attempt: pr.Attempt(), HedgeAfter: pr.HedgeAfter})
	}
	if in.Channel == turn.ChannelVoice && p.Voice != nil {
		VoiceAttempts(p.Voice.Budget, pl.NLU)
		if b == nil || b.Language == "" {
			pl.LanguageCode = p.Voice.Language
		}
	}
	if len(pl.NLU) == 0 {
		pl.Warnings = append(pl.Warnings, "no NLU provider can be tried: the customer gets the fallback reply")
	}

	cpaas := func(ch *Channel, fallback bool) int {
		n := 0
		inboundUsed := false // an unknown business's address is known on one provider only
		for _, name := range p.inboundFirst(ch.CPaaS, in.Vendor, in.Business) {
			pr := p.Providers[name]
			dch := deliveredOn(pr, ch.Name)
			skip := func(reason string) {
				pl.Skipped = append(pl.Skipped, Skip{Provider: name, Role: RoleCPaaS, Channel: dch, Reason: reason, Fallback: fallback})
			}
			if pr == nil {
				skip("not defined in the policy")
				continue
			}
			if down(name) {
				skip("down")
				continue
			}
			if chDown(name, dch) {
				skip(dch + " is down on " + name)
				continue
			}
			from := ""
			switch {
			case b != nil && b.Addresses[name] != "":
				from = b.Addresses[name]
			case pr.Kind == KindWebhook && in.Business != "":
				from = in.Business // the address the customer wrote to
			case b != nil:
				skip(fmt.Sprintf("business %s has no address on %s", b.Name, name))
				continue
			case in.Business != "" && pr.Kind == in.Vendor && !inboundUsed:
				from, inboundUsed = in.Business, true
			default:
				skip(fmt.Sprintf("no business owns %s, so there is no address to send from on %s", orNone(in.Business), name))
				continue
			}
			pl.CPaaS = append(pl.CPaaS, CPaaSStep{Provider: name, Kind: pr.Kind, Channel: dch, From: from, Attempt: pr.Attempt(), Fallback: fallback})
			n++
		}
		return n
	}
	own := cpaas(c, false)
	if fb := p.Channels[c.FallbackChannel]; fb != nil && c.FallbackChannel != c.Name {
		pl.FallbackChannel = fb.Name
		if cpaas(fb, true) > 0 && own == 0 {
			pl.ChannelFallback = true
		}
	}
	if len(pl.CPaaS) == 0 {
		pl.Warnings = append(pl.Warnings, "no CPaaS provider can be tried: the reply cannot be sent")
	}
	return pl
}

// hedging says when the next provider starts beside the step's attempts; the
// local NLU is never a hedge.
func hedging(s NLUStep, nextRemote bool) string {
	switch {
	case !nextRemote || s.Kind == KindLocal:
		return ""
	case s.HedgeAfter == HedgeAuto:
		return fmt.Sprintf(", hedged after %d× its p95 (at least %s)", HedgeP95Factor, FormatDuration(HedgeFloor))
	case s.HedgeAfter == 0:
		return ", never hedged"
	}
	return ", hedged after " + FormatDuration(s.HedgeAfter)
}

func orNone(s string) string {
	if s == "" {
		return "(no address)"
	}
	return s
}

// inboundFirst moves the provider the conversation came in on to the front of list.
// vendor is a kind (twilio, vonage); when several providers of that kind are listed,
// the one on which the business address is the inbound To wins, else the first.
func (p *Policy) inboundFirst(list []string, vendor, to string) []string {
	at := -1
	b := p.BusinessByAddress(to)
	for i, name := range list {
		pr := p.Providers[name]
		if pr == nil || pr.Kind != vendor {
			continue
		}
		if at < 0 {
			at = i
		}
		if b != nil && normAddr(b.Addresses[name]) == normAddr(to) {
			at = i
			break
		}
	}
	if at <= 0 {
		return list
	}
	out := make([]string, 0, len(list))
	out = append(out, list[at])
	out = append(out, list[:at]...)
	return append(out, list[at+1:]...)
}

// Route is the plan as the conversation workflow consumes it. latency, when given,
// is the p95 latency of each provider's successful calls, from which the hedge
// delay of a provider without hedge_after derives (HedgeDelay); without it, such a
// provider hedges after HedgeFloor. The local NLU is never hedged.
func (pl Plan) Route(latency func(provider string) time.Duration) turn.Route {
	r := turn.Route{FallbackReply: pl.FallbackReply, LanguageCode: pl.LanguageCode, Escalation: pl.Escalation, StaleReply: pl.StaleReply}
	for _, s := range pl.NLU {
		c := turn.NLUCandidate{Provider: s.Provider, Attempt: s.Attempt, Local: s.Kind == KindLocal}
		if !c.Local {
			var p95 time.Duration
			if latency != nil && s.HedgeAfter == HedgeAuto {
				p95 = latency(s.Provider)
			}
			c.HedgeAfter = HedgeDelay(s.HedgeAfter, p95)
		}
		r.NLU = append(r.NLU, c)
	}
	for _, s := range pl.CPaaS {
		r.CPaaS = append(r.CPaaS, turn.CPaaSCandidate{Provider: s.Provider, Channel: s.Channel, From: s.From, Attempt: s.Attempt})
	}
	return r
}

// String explains the plan for people: who is tried, in order, who is skipped and why.
func (pl Plan) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "channel %s", pl.Channel)
	if pl.Vendor != "" {
		fmt.Fprintf(&b, ", in on %s", pl.Vendor)
	}
	if pl.BusinessAddress != "" {
		fmt.Fprintf(&b, ", to %s", pl.BusinessAddress)
	}
	if pl.Business != "" {
		fmt.Fprintf(&b, " (business %s)", pl.Business)
	}
	if pl.LanguageCode != "" {
		fmt.Fprintf(&b, ", language %s", pl.LanguageCode)
	}
	b.WriteString("\n")
	attempts := func(a turn.Attempt) string {
		s := "attempts"
		if a.MaxAttempts == 1 {
			s = "attempt"
		}
		return fmt.Sprintf("%d %s of %s", a.MaxAttempts, s, FormatDuration(a.Timeout))
	}
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NLU, tried in order:")
	if len(pl.NLU) == 0 {
		fmt.Fprintf(tw, "  (none: the customer gets the fallback reply %q)\n", pl.FallbackReply)
	}
	for i, s := range pl.NLU {
		fmt.Fprintf(tw, "  %d.\t%s\t%s\t%s%s\n", i+1, s.Provider, s.Kind, attempts(s.Attempt), hedging(s, i+1 < len(pl.NLU) && pl.NLU[i+1].Kind != KindLocal))
	}
	fmt.Fprintln(tw, "CPaaS (the reply), tried in order:")
	if len(pl.CPaaS) == 0 {
		fmt.Fprintln(tw, "  (none: the reply cannot be sent)")
	}
	for i, s := range pl.CPaaS {
		ch := s.Channel
		if s.Fallback {
			ch += " (fallback channel)"
		}
		fmt.Fprintf(tw, "  %d.\t%s\t%s\tfrom %s\t%s\n", i+1, s.Provider, ch, s.From, attempts(s.Attempt))
	}
	_ = tw.Flush()
	if len(pl.Skipped) > 0 {
		b.WriteString("skipped:\n")
		tw = tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
		for _, s := range pl.Skipped {
			what := string(s.Role)
			if s.Channel != "" {
				what += " " + s.Channel
			}
			if s.Fallback {
				what += ", fallback channel"
			}
			fmt.Fprintf(tw, "  %s\t(%s)\t%s\n", s.Provider, what, s.Reason)
		}
		_ = tw.Flush()
	}
	if pl.ChannelFallback {
		fmt.Fprintf(&b, "channel fallback: no %s provider can be tried, so the reply goes by %s\n", deliveryChannel(pl.Channel), deliveryChannel(pl.FallbackChannel))
	}
	for _, w := range pl.Warnings {
		fmt.Fprintf(&b, "warning: %s\n", w)
	}
	return b.String()
}
