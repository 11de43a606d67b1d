package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/url"
	"slices"
	"strings"

	"github.com/switchboard-cc/switchboard/providers/dialogflowcx"
	"github.com/switchboard-cc/switchboard/providers/health"
	"github.com/switchboard-cc/switchboard/providers/llm"
	"github.com/switchboard-cc/switchboard/providers/localnlu"
	"github.com/switchboard-cc/switchboard/providers/messaging"
	"github.com/switchboard-cc/switchboard/providers/nlu"
	"github.com/switchboard-cc/switchboard/providers/routing"
	"github.com/switchboard-cc/switchboard/providers/twilio"
	"github.com/switchboard-cc/switchboard/providers/vonage"
)

// Connections say how to reach each vendor: endpoints and credentials, which come from
// flags, the environment or files. The policy says which provider instances exist.
type Connections struct {
	// Dialogflow CX: project and agent unless the policy names them per provider.
	DialogflowProject string
	DialogflowAgent   string

	// OpenAI-compatible NLU: base URL and key.
	OpenAIBaseURL string
	OpenAIAPIKey  string

	// LocalAgent is the cached flows the local NLU (and the LLM's prompt) use.
	LocalAgent *localnlu.Agent

	Twilio twilio.Config
	Vonage vonage.Config

	// WebhookSecrets are signing secrets of webhook providers given in-process (the
	// dev stack's), by provider name; the others are read where the policy says
	// (routing.Policy.WebhookSecret).
	WebhookSecrets map[string][]byte

	// ProviderURLs override where named providers are reached (--provider-url):
	//   - dialogflowcx: the gRPC endpoint, host:port (TLS), or http://host:port
	//     without TLS (local fakes only); without one, the location's Google endpoint
	//     or the policy's endpoint;
	//   - openai: the base URL (over OpenAIBaseURL);
	//   - twilio, vonage: the API base URL;
	//   - webhook: the reply URL (over the policy's url); a probe_url moves to its
	//     scheme and host.
	// A name the policy does not have, or a local provider, is an error.
	ProviderURLs map[string]string
}

// checkProviderURLs reports a ProviderURLs entry that no provider of pol can use.
func (c Connections) checkProviderURLs(pol *routing.Policy) error {
	for _, name := range slices.Sorted(maps.Keys(c.ProviderURLs)) {
		p := pol.Provider(name)
		switch {
		case p == nil:
			return fmt.Errorf("provider URL for %q: the routing policy has no such provider (it has %s)", name, strings.Join(pol.ProviderNames(), ", "))
		case p.Kind == routing.KindLocal:
			return fmt.Errorf("provider URL for %q: a local provider runs in the worker and has no URL", name)
		case c.ProviderURLs[name] == "":
			return fmt.Errorf("provider URL for %q is empty", name)
		}
	}
	return nil
}

// VendorDefault is how LogEndpoints names a provider reached where its vendor's
// client goes by default (api.twilio.com, api.nexmo.com, Google's endpoint).
const VendorDefault = "vendor default"

// Endpoints says where each provider of pol that has a URL is reached: the
// --provider-url of its name, else the setting of its kind (the policy's endpoint,
// --openai-base-url, a Twilio or Vonage base URL), else VendorDefault. Local
// providers are left out. URLs lose their user info and query, so that no secret
// in them is logged.
func (c Connections) Endpoints(pol *routing.Policy) map[string]string {
	m := map[string]string{}
	for _, name := range pol.ProviderNames() {
		p := pol.Provider(name)
		var u string
		switch p.Kind {
		case routing.KindLocal:
			continue
		case routing.KindDialogflowCX:
			u = orElse(c.ProviderURLs[name], p.Endpoint)
		case routing.KindOpenAI:
			u = orElse(c.ProviderURLs[name], c.OpenAIBaseURL)
		case routing.KindTwilio:
			u = orElse(c.ProviderURLs[name], c.Twilio.BaseURL)
		case routing.KindVonage:
			u = orElse(c.ProviderURLs[name], c.Vonage.BaseURL)
		case routing.KindWebhook:
			u = orElse(c.ProviderURLs[name], p.Webhook.URL)
		}
		m[name] = orElse(redactURL(u), VendorDefault)
	}
	return m
}

// LogEndpoints logs at start where each provider of pol is reached (Endpoints).
func (c Connections) LogEndpoints(log *slog.Logger, pol *routing.Policy) {
	eps := c.Endpoints(pol)
	for _, name := range slices.Sorted(maps.Keys(eps)) {
		log.Info("provider endpoint", "provider", name, "kind", pol.Provider(name).Kind, "url", eps[name])
	}
}

// redactURL drops the user info, query and fragment of u (host:port stays as is).
func redactURL(u string) string {
	if !strings.Contains(u, "://") {
		return u
	}
	p, err := url.Parse(u)
	if err != nil {
		return "(unparsable URL)"
	}
	p.User, p.RawQuery, p.ForceQuery, p.Fragment, p.RawFragment = nil, "", false, "", ""
	return p.String()
}

// dialogflowEndpoint splits a Dialogflow CX provider URL into the gRPC endpoint and
// whether it is dialled without TLS.
func dialogflowEndpoint(u string) (endpoint string, insecure bool) {
	if rest, ok := strings.CutPrefix(u, "http://"); ok {
		return strings.TrimSuffix(rest, "/"), true
	}
	return strings.TrimSuffix(strings.TrimPrefix(u, "https://"), "/"), false
}

// ProviderSet holds the clients of every provider instance of the policy the process
// started with. Each client is wrapped so that its failures are classified with the
// policy's overrides and every call feeds the provider's breaker.
type ProviderSet struct {
	detectors map[string]nlu.Detector
	senders   map[string]messaging.Sender
	probers   map[string]health.Prober
	closers   []func() error
}

func (s *ProviderSet) Detector(name string) (nlu.Detector, bool) {
	d, ok := s.detectors[name]
	return d, ok
}

func (s *ProviderSet) Sender(name string) (messaging.Sender, bool) {
	m, ok := s.senders[name]
	return m, ok
}

// Prober is the health probe of provider name, which the breakers call while it is
// open.
func (s *ProviderSet) Prober(name string) (health.Prober, bool) {
	pr, ok := s.probers[name]
	return pr, ok
}

// Has reports whether the set has a client for provider name.
func (s *ProviderSet) Has(name string) bool {
	return s.detectors[name] != nil || s.senders[name] != nil
}

func (s *ProviderSet) Close() {
	for _, c := range s.closers {
		_ = c()
	}
}

// buildProviders creates a client per provider instance of pol.
func BuildProviders(ctx context.Context, pol *routing.Policy, c Connections) (*ProviderSet, error) {
	if err := c.checkProviderURLs(pol); err != nil {
		return nil, err
	}
	s := &ProviderSet{detectors: map[string]nlu.Detector{}, senders: map[string]messaging.Sender{}, probers: map[string]health.Prober{}}
	c, err := c.withWebhookSecrets(pol)
	if err != nil {
		return nil, err
	}
	for _, name := range pol.ProviderNames() {
		p := pol.Provider(name)
		if err := s.add(ctx, p, c); err != nil {
			s.Close()
			return nil, fmt.Errorf("provider %s (%s): %w", name, p.Kind, err)
		}
	}
	return s, nil
}

func (s *ProviderSet) add(ctx context.Context, p *routing.Provider, c Connections) error {
	type prober interface{ Probe(context.Context) error }
	var client any
	switch p.Kind {
	case routing.KindDialogflowCX:
		cfg := dialogflowcx.Config{
			Name: p.Name, Endpoint: p.Endpoint,
			ProjectID: orElse(p.Project, c.DialogflowProject), Location: p.Location, AgentID: orElse(p.Agent, c.DialogflowAgent),
			Timeout: p.AttemptTimeout,
		}
		if u := c.ProviderURLs[p.Name]; u != "" {
			cfg.Endpoint, cfg.Insecure = dialogflowEndpoint(u)
		}
		cx, err := dialogflowcx.New(ctx, cfg)
		if err != nil {
			return err
		}
		s.closers = append(s.closers, cx.Close)
		client = cx
	case routing.KindOpenAI:
		if c.LocalAgent == nil {
			return errors.New("the LLM needs the agent's intents: no local agent file is configured")
		}
		cl, err := llm.New(llm.Config{
			Name: p.Name, BaseURL: orElse(c.ProviderURLs[p.Name], c.OpenAIBaseURL), APIKey: c.OpenAIAPIKey, Model: p.Model,
			Timeout: p.AttemptTimeout, AgentName: c.LocalAgent.DisplayName, Intents: llm.IntentsOf(c.LocalAgent), NoMatchReply: c.LocalAgent.NoMatchReply,
		})
		if err != nil {
			return err
		}
		client = cl
	case routing.KindLocal:
		if c.LocalAgent == nil {
			return errors.New("no local agent file is configured")
		}
		client = &localnlu.Detector{Agent: c.LocalAgent, Name: p.Name}
	case routing.KindTwilio:
		cfg := c.Twilio
		cfg.Name, cfg.Timeout = p.Name, p.AttemptTimeout
		cfg.BaseURL = orElse(c.ProviderURLs[p.Name], cfg.BaseURL)
		tw, err := twilio.New(cfg)
		if err != nil {
			return err
		}
		client = tw
	case routing.KindVonage:
		cfg := c.Vonage
		cfg.Name, cfg.Timeout = p.Name, p.AttemptTimeout
		if u := c.ProviderURLs[p.Name]; u != "" {
			cfg.BaseURL, cfg.AccountBaseURL = u, u
		}
		vg, err := vonage.New(cfg)
		if err != nil {
			return err
		}
		client = vg
	case routing.KindWebhook:
		wh, err := newWebhook(p, c)
		if err != nil {
			return err
		}
		client = wh
	default:
		return fmt.Errorf("unknown kind %q", p.Kind)
	}
	switch v := client.(type) {
	case nlu.Detector:
		s.detectors[p.Name] = v
	case messaging.Sender:
		s.senders[p.Name] = v
	}
	if pr, ok := client.(prober); ok {
		s.probers[p.Name] = pr
	}
	return nil
}

func orElse(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// breakerSettings converts the policy's breaker settings, and each provider's
// probe_interval, for the health registry.
func breakerSettings(pol *routing.Policy) map[string]health.BreakerSettings {
	m := map[string]health.BreakerSettings{}
	for _, name := range pol.ProviderNames() {
		b := pol.Provider(name).Breaker
		m[name] = health.BreakerSettings{
			ConsecutiveFailures: b.ConsecutiveFailures, FailureRate: b.FailureRate, Window: b.Window, MinCalls: b.MinCalls,
			SlowCall: b.SlowCall, OpenFor: b.OpenFor, HalfOpenSuccesses: b.HalfOpenProbes,
			ProbeInterval: pol.Provider(name).ProbeInterval, // each provider's own, also after a reload
		}
	}
	return m
}
