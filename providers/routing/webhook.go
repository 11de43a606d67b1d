package routing

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"

	"github.com/switchboard-cc/switchboard/internal/turn"
	"github.com/switchboard-cc/switchboard/providers/webhook"
)

// A webhook provider delivers replies to a business's own backend (a web-chat
// server, say) by posting them, signed, to a URL; providers/webhook documents the
// request and what a receiver does with it. It is a CPaaS provider like any other,
// with its attempt timeout, retries and breaker, so a chat channel lists it under
// cpaas and its replies go to the chat client rather than out as SMS.

// Webhook is where a webhook provider posts replies and how it signs them. The
// signing secret is never in the policy: SecretEnv names the environment variable
// that holds it, or SecretFile the file (relative to the policy file's directory
// unless absolute), exactly one of them.
type Webhook struct {
	URL        string
	ProbeURL   string // optional; without it the probe asks the URL for OPTIONS
	SecretEnv  string
	SecretFile string
	// InsecureHTTP allows an http:// URL to a host other than loopback.
	InsecureHTTP bool
}

type rawWebhook struct {
	URL          string `yaml:"url"`
	ProbeURL     string `yaml:"probe_url"`
	SecretEnv    string `yaml:"secret_env"`
	SecretFile   string `yaml:"secret_file"`
	InsecureHTTP bool   `yaml:"insecure_http"`
}

// maxSecretFileBytes bounds a secret file: a secret is a few dozen bytes.
const maxSecretFileBytes = 64 << 10

var envNamePattern = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// needsAddress reports whether every business must have an address on the
// provider to reply through it. A webhook's reply leaves from the business
// address the customer wrote to, unless the business names one for it.
func (pr *Provider) needsAddress() bool { return pr.Role() == RoleCPaaS && pr.Kind != KindWebhook }

// deliveredOn is the channel on which pr delivers a reply of a conversation on
// channel c: a webhook passes the conversation's channel on to the backend, while
// a CPaaS vendor delivers whatsapp as whatsapp and every other text reply (of sms,
// chat and voice conversations) as SMS.
func deliveredOn(pr *Provider, c string) string {
	if pr != nil && pr.Kind == KindWebhook {
		return c
	}
	return deliveryChannel(c)
}

func (p *Policy) validateWebhook(errs *errorList, pr *Provider) {
	path := "providers." + pr.Name
	w := pr.Webhook
	if pr.Kind != KindWebhook {
		if RoleOf(pr.Kind) == "" {
			return // the kind is reported
		}
		for field, set := range map[string]bool{
			"url": w.URL != "", "probe_url": w.ProbeURL != "", "secret_env": w.SecretEnv != "",
			"secret_file": w.SecretFile != "", "insecure_http": w.InsecureHTTP,
		} {
			if set {
				errs.at(path+"."+field, "applies only to %s providers; this one is %s", KindWebhook, pr.Kind)
			}
		}
		return
	}
	switch {
	case w.URL == "":
		errs.in(path+".url", "is required for webhook: where replies are posted, e.g. https://chat.example.com/switchboard/replies")
	default:
		if err := webhook.CheckURL(w.URL, w.InsecureHTTP); err != nil {
			errs.at(path+".url", "%v", err)
		}
	}
	if w.ProbeURL != "" {
		if err := webhook.CheckURL(w.ProbeURL, w.InsecureHTTP); err != nil {
			errs.at(path+".probe_url", "%v", err)
		}
	}
	switch {
	case w.SecretEnv == "" && w.SecretFile == "":
		errs.in(path+".secret_env", "a webhook provider signs every reply: name the environment variable that holds the signing secret (secret_env) or its file (secret_file); the secret itself never goes in the policy")
	case w.SecretEnv != "" && w.SecretFile != "":
		errs.at(path+".secret_file", "give secret_env or secret_file, not both")
	case w.SecretEnv != "" && !envNamePattern.MatchString(w.SecretEnv):
		errs.at(path+".secret_env", "%q is not an environment variable name (letters, digits and _, not starting with a digit); the secret itself never goes in the policy", w.SecretEnv)
	}
}

// WebhookSecret reads the signing secret of the webhook provider name from where
// the policy says it is, without surrounding white space. The secret is never part
// of an error.
func (p *Policy) WebhookSecret(name string) ([]byte, error) {
	pr := p.Providers[name]
	if pr == nil || pr.Kind != KindWebhook {
		return nil, fmt.Errorf("provider %q is not a webhook provider", name)
	}
	w := pr.Webhook
	var raw []byte
	switch {
	case w.SecretEnv != "":
		v, ok := os.LookupEnv(w.SecretEnv)
		if !ok {
			return nil, fmt.Errorf("the signing secret's environment variable %s is not set", w.SecretEnv)
		}
		raw = []byte(v)
	case w.SecretFile != "":
		file := w.SecretFile
		if !filepath.IsAbs(file) && p.Source() != "" {
			file = filepath.Join(filepath.Dir(p.Source()), file)
		}
		f, err := os.Open(file)
		if err != nil {
			return nil, fmt.Errorf("the signing secret's file: %w", err)
		}
		defer f.Close()
		raw, err = io.ReadAll(io.LimitReader(f, maxSecretFileBytes+1))
		switch {
		case err != nil:
			return nil, fmt.Errorf("the signing secret's file: %w", err)
		case len(raw) > maxSecretFileBytes:
			return nil, fmt.Errorf("the signing secret's file %s is larger than %d bytes", file, maxSecretFileBytes)
		}
	default:
		return nil, errors.New("the policy names no signing secret (secret_env or secret_file)")
	}
	raw = bytes.TrimSpace(raw)
	if len(raw) < webhook.MinSecretBytes {
		return nil, fmt.Errorf("the signing secret is %d bytes; at least %d are required", len(raw), webhook.MinSecretBytes)
	}
	return raw, nil
}

// webhookWarnings adds the warnings of webhook replies to l:
//   - a chat channel whose cpaas (or fallback channel) lists an SMS vendor: its
//     replies would leave as SMS to the chat customer's address, which is meant
//     only where written on purpose;
//   - a webhook provider whose signing secret cannot be read here: a worker
//     started in this environment would refuse to start.
func (p *Policy) webhookWarnings(l *errorList) {
	if c := p.Channels[turn.ChannelChat]; c != nil {
		for i, name := range c.CPaaS {
			if pr := p.Providers[name]; pr != nil && pr.needsAddress() {
				l.at(fmt.Sprintf("channels.%s.cpaas[%d]", c.Name, i), "%q is an SMS vendor (%s): chat replies routed to it leave as an SMS from the business's number to the chat customer's from address, not to the chat client; list it only if that is meant, and put a webhook provider first", name, pr.Kind)
			}
		}
		if fb := p.Channels[c.FallbackChannel]; fb != nil && fb.Name != c.Name {
			for _, name := range fb.CPaaS {
				if pr := p.Providers[name]; pr != nil && pr.needsAddress() {
					l.at("channels."+c.Name+".fallback_channel", "chat replies fall back to %s, whose %q is an SMS vendor (%s): they would leave as an SMS to the chat customer's from address", fb.Name, name, pr.Kind)
					break
				}
			}
		}
	}
	for _, name := range p.ProviderNames() {
		pr := p.Providers[name]
		if pr.Kind != KindWebhook {
			continue
		}
		if _, err := p.WebhookSecret(name); err != nil {
			field := "secret_env"
			if pr.Webhook.SecretEnv == "" {
				field = "secret_file"
			}
			l.at("providers."+name+"."+field, "%v: a worker started in this environment cannot sign this provider's replies and refuses to start", err)
		}
	}
}
