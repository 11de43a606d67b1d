package app

import (
	"fmt"
	"maps"
	"net/url"

	"github.com/switchboard-cc/switchboard/providers/routing"
	"github.com/switchboard-cc/switchboard/providers/webhook"
)

// withWebhookSecrets returns c with the signing secret of every webhook provider of
// pol: the one given in c.WebhookSecrets, else the one the policy points at. A
// secret that cannot be read fails the start, naming the provider.
func (c Connections) withWebhookSecrets(pol *routing.Policy) (Connections, error) {
	secrets := maps.Clone(c.WebhookSecrets)
	if secrets == nil {
		secrets = map[string][]byte{}
	}
	for _, name := range pol.ProviderNames() {
		if pol.Provider(name).Kind != routing.KindWebhook || secrets[name] != nil {
			continue
		}
		s, err := pol.WebhookSecret(name)
		if err != nil {
			return c, fmt.Errorf("provider %s (%s): %w", name, routing.KindWebhook, err)
		}
		secrets[name] = s
	}
	c.WebhookSecrets = secrets
	return c, nil
}

// newWebhook is the client of a webhook provider: the policy's URL, or the
// --provider-url of its name, with the probe_url moved to that URL's scheme and
// host.
func newWebhook(p *routing.Provider, c Connections) (*webhook.Sender, error) {
	cfg := webhook.Config{
		Name: p.Name, URL: p.Webhook.URL, ProbeURL: p.Webhook.ProbeURL,
		Secret: c.WebhookSecrets[p.Name], InsecureHTTP: p.Webhook.InsecureHTTP, Timeout: p.AttemptTimeout,
	}
	if u := c.ProviderURLs[p.Name]; u != "" {
		cfg.URL = u
		if cfg.ProbeURL != "" {
			probe, perr := url.Parse(cfg.ProbeURL)
			to, terr := url.Parse(u)
			if perr != nil || terr != nil {
				return nil, fmt.Errorf("provider URL or probe_url is not a URL")
			}
			probe.Scheme, probe.Host = to.Scheme, to.Host
			cfg.ProbeURL = probe.String()
		}
	}
	return webhook.New(cfg)
}
