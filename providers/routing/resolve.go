package routing

import (
	"fmt"
	"time"

	"github.com/switchboard-cc/switchboard/internal/turn"
	"github.com/switchboard-cc/switchboard/providers"
)

// Resolution: the file as written (rawPolicy) into a Policy, each provider's
// settings filled from the defaults.

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
			qq := turn.Queue{Name: q.Name}
			if q.AckSLA != nil {
				qq.AckSLA = *q.AckSLA
			}
			e.Queues = append(e.Queues, qq)
		}
		p.Escalation = e
	}
	p.Voice = buildVoice(raw.Voice, p)
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
	setDur(&s.HedgeAfter, r.HedgeAfter, "hedge_after")
	setInt(&s.HedgeMaxInFlight, r.HedgeMax, "hedge_max_in_flight")
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
