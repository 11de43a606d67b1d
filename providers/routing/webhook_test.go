package routing

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const chatSecretEnv = "SWITCHBOARD_TEST_WEBCHAT_SECRET"

// chatPolicy is basePolicy with a webhook provider serving the chat channel.
func chatPolicy(t *testing.T, webchat string) string {
	t.Helper()
	src := edit(t, basePolicy(t), "  vonage:    {kind: vonage, breaker: {consecutive_failures: 3}}\n",
		"  vonage:    {kind: vonage, breaker: {consecutive_failures: 3}}\n  webchat:   "+webchat+"\n")
	return edit(t, src, "chat:     {nlu: [cx-global, local], cpaas: [twilio]}", "chat:     {nlu: [cx-global, local], cpaas: [webchat]}")
}

func warningLines(p *Policy) []string {
	var out []string
	for _, w := range p.Warnings() {
		out = append(out, w.Error())
	}
	return out
}

func TestAChatChannelServedByAWebhookRepliesOnChatFromTheAddressWrittenTo(t *testing.T) {
	t.Setenv(chatSecretEnv, "a-signing-secret-of-some-length")
	p := mustParse(t, chatPolicy(t, `{kind: webhook, url: "https://chat.example.com/replies", secret_env: `+chatSecretEnv+`, attempt_timeout: 4s}`))
	pr := p.Provider("webchat")
	if pr.Role() != RoleCPaaS || pr.Webhook.URL != "https://chat.example.com/replies" || pr.AttemptTimeout.String() != "4s" {
		t.Fatalf("webchat = %+v, want a CPaaS provider with its URL and own attempt timeout", pr)
	}
	// No business names an address on webchat: the reply leaves from the one the
	// customer wrote to, on the conversation's own channel.
	pl := p.Plan(PlanInput{Channel: "chat", Vendor: "api", Business: "+15550001001"})
	if len(pl.CPaaS) != 1 || pl.CPaaS[0].Provider != "webchat" || pl.CPaaS[0].Channel != "chat" || pl.CPaaS[0].From != "+15550001001" {
		t.Fatalf("plan CPaaS = %+v, want webchat on chat from +15550001001", pl.CPaaS)
	}
	if w := warningLines(p); len(w) != 0 {
		t.Errorf("warnings of a chat channel on a webhook: %q, want none", w)
	}
	// Twilio still carries SMS replies of sms conversations.
	if pl := p.Plan(PlanInput{Channel: "sms", Vendor: "twilio", Business: "+15550001000"}); pl.CPaaS[0].Channel != "sms" {
		t.Errorf("sms plan = %+v", pl.CPaaS)
	}
}

func TestAChatChannelThatRepliesBySMSIsAWarning(t *testing.T) {
	t.Setenv(chatSecretEnv, "a-signing-secret-of-some-length")
	// The base policy's chat channel lists twilio, written there on purpose or not.
	w := warningLines(mustParse(t, basePolicy(t)))
	if len(w) != 1 || !strings.HasPrefix(w[0], "policy.yaml:22:") || !strings.Contains(w[0], `channels.chat.cpaas[0]: "twilio" is an SMS vendor (twilio): chat replies routed to it leave as an SMS`) {
		t.Fatalf("warnings %q, want one for twilio in chat's cpaas at line 22", w)
	}
	// Through a fallback channel, the same.
	src := chatPolicy(t, `{kind: webhook, url: "https://chat.example.com/replies", secret_env: `+chatSecretEnv+`}`)
	src = edit(t, src, "cpaas: [webchat]}", "cpaas: [webchat], fallback_channel: sms}")
	w = warningLines(mustParse(t, src))
	if len(w) != 1 || !strings.Contains(w[0], `channels.chat.fallback_channel: chat replies fall back to sms, whose "twilio" is an SMS vendor`) {
		t.Fatalf("warnings %q, want one for the fallback to sms", w)
	}
}

func TestAWebhookProviderIsCheckedForItsURLAndSecretSource(t *testing.T) {
	for _, c := range []struct {
		name, webchat, want string
	}{
		{"no url", `{kind: webhook, secret_env: X_SECRET}`, "providers.webchat.url: is required for webhook"},
		{"plain http off loopback", `{kind: webhook, url: "http://chat.example.com/r", secret_env: X_SECRET}`, "providers.webchat.url: must be https outside loopback"},
		{"a query in the url", `{kind: webhook, url: "https://chat.example.com/r?key=1", secret_env: X_SECRET}`, "must not carry credentials, a query or a fragment"},
		{"a bad probe_url", `{kind: webhook, url: "https://chat.example.com/r", probe_url: "ftp://x", secret_env: X_SECRET}`, "providers.webchat.probe_url: scheme must be https"},
		{"no secret source", `{kind: webhook, url: "https://chat.example.com/r"}`, "providers.webchat.secret_env: a webhook provider signs every reply"},
		{"two secret sources", `{kind: webhook, url: "https://chat.example.com/r", secret_env: X, secret_file: x}`, "providers.webchat.secret_file: give secret_env or secret_file, not both"},
		{"a secret written as its env name", `{kind: webhook, url: "https://chat.example.com/r", secret_env: "s3cr3t-value!"}`, "is not an environment variable name"},
		{"insecure_http not a boolean", `{kind: webhook, url: "http://chat.example.com/r", secret_env: X, insecure_http: maybe}`, "providers.webchat.insecure_http: must be true or false"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := ParseFile("policy.yaml", []byte(chatPolicy(t, c.webchat)))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want %q", err, c.want)
			}
			if strings.Contains(err.Error(), "s3cr3t-value!") && !strings.Contains(c.want, "environment variable") {
				t.Errorf("error repeats a secret: %v", err)
			}
		})
	}
	_, err := ParseFile("policy.yaml", []byte(edit(t, basePolicy(t), "twilio:    {kind: twilio}", `twilio:    {kind: twilio, url: "https://x.example.com"}`)))
	if err == nil || !strings.Contains(err.Error(), "providers.twilio.url: applies only to webhook providers") {
		t.Errorf("url on a twilio provider: err = %v", err)
	}
	if _, err := ParseFile("policy.yaml", []byte(chatPolicy(t, `{kind: webhook, url: "http://chat.internal/r", insecure_http: true, secret_env: X}`))); err != nil {
		t.Errorf("plain http allowed with insecure_http: %v", err)
	}
}

func TestTheSigningSecretIsReadFromItsEnvironmentVariableOrItsFile(t *testing.T) {
	dir := t.TempDir()
	policyFile := filepath.Join(dir, "policy.yaml")
	write := func(webchat string) *Policy {
		t.Helper()
		if err := os.WriteFile(policyFile, []byte(chatPolicy(t, webchat)), 0o600); err != nil {
			t.Fatal(err)
		}
		p, err := Load(policyFile)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}

	p := write(`{kind: webhook, url: "https://chat.example.com/r", secret_file: webchat.secret}`)
	if _, err := p.WebhookSecret("webchat"); err == nil {
		t.Fatal("WebhookSecret of a missing file succeeded")
	}
	if w := warningLines(p); len(w) != 1 || !strings.Contains(w[0], "providers.webchat.secret_file: the signing secret's file") || !strings.Contains(w[0], "refuses to start") {
		t.Errorf("warnings %q, want one saying a worker could not start", w)
	}
	// Relative to the policy file's directory, without its trailing newline.
	if err := os.WriteFile(filepath.Join(dir, "webchat.secret"), []byte("file-secret-0123456789\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if s, err := p.WebhookSecret("webchat"); err != nil || string(s) != "file-secret-0123456789" {
		t.Errorf("WebhookSecret = %q, %v; want the file's secret", s, err)
	}
	if w := warningLines(p); len(w) != 0 {
		t.Errorf("warnings %q with the secret file present, want none", w)
	}

	p = write(`{kind: webhook, url: "https://chat.example.com/r", secret_env: ` + chatSecretEnv + `}`)
	t.Setenv(chatSecretEnv, "short")
	if _, err := p.WebhookSecret("webchat"); err == nil || !strings.Contains(err.Error(), "at least 16") || strings.Contains(err.Error(), "short") {
		t.Errorf("WebhookSecret of a short secret: %v, want it refused without the secret", err)
	}
	t.Setenv(chatSecretEnv, "env-secret-0123456789")
	if s, err := p.WebhookSecret("webchat"); err != nil || string(s) != "env-secret-0123456789" {
		t.Errorf("WebhookSecret = %q, %v; want the variable's secret", s, err)
	}
	if _, err := p.WebhookSecret("twilio"); err == nil {
		t.Error("WebhookSecret of a twilio provider succeeded")
	}
}
