package devstack

import (
	"context"
	"errors"
	"os"
	"testing"

	"github.com/switchboard-cc/switchboard/deploy"
	"github.com/switchboard-cc/switchboard/deploy/agent"
	"github.com/switchboard-cc/switchboard/internal/app"
	"github.com/switchboard-cc/switchboard/internal/testmsg"
	"github.com/switchboard-cc/switchboard/internal/turn"
	"github.com/switchboard-cc/switchboard/providers"
	"github.com/switchboard-cc/switchboard/providers/fake"
	"github.com/switchboard-cc/switchboard/providers/localnlu"
	"github.com/switchboard-cc/switchboard/providers/routing"
)

// The dev stack's webchat reaches its fake chat receiver: the reply by the
// provider URL dev gives it, the policy's probe_url moved onto that host, both
// signed with the secret the fake verifies.
func TestDevFakes_WebchatSendsAndProbesReachTheFakeChatReceiver(t *testing.T) {
	unsetEnv(t, "SWITCHBOARD_WEBCHAT_SECRET")
	pol := devPolicy(t)
	fakes, set := startDevProviders(t, pol)
	s, _ := set.Sender("webchat")
	r, err := s.Send(t.Context(), turn.Message{Channel: "chat", From: "+15550001000", To: "+15552220001", Body: "hi", IdempotencyKey: "api-x/run/1"})
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	if sent := fakes.Outbox.List(); len(sent) != 1 || sent[0].Vendor != "webchat" || sent[0].MessageID != r.MessageID {
		t.Errorf("outbox %+v, want the one chat reply", sent)
	}
	probe, ok := set.Prober("webchat")
	if !ok {
		t.Fatal("no prober for webchat")
	}
	if err := probe.Probe(t.Context()); err != nil {
		t.Errorf("probe of the fake receiver: %v", err)
	}
	if err := fakes.Faults.Set(fake.Fault{Provider: "webchat", Mode: fake.ModeDown}); err != nil {
		t.Fatal(err)
	}
	if err := probe.Probe(t.Context()); !errors.Is(err, providers.ErrUnavailable) {
		t.Errorf("probe of the fake receiver down = %v, want unavailable", err)
	}

	// --only-infra hands the secret on to the worker processes under the
	// policy's secret_env.
	env := webhookSecretEnv(pol)
	if len(env) != 1 || env[0].Name != "SWITCHBOARD_WEBCHAT_SECRET" || env[0].Value != DevWebhookSecret {
		t.Errorf("infra env %+v, want SWITCHBOARD_WEBCHAT_SECRET with the dev secret", env)
	}
	// An operator's own secret is used, and never written out.
	t.Setenv("SWITCHBOARD_WEBCHAT_SECRET", "the-operators-own-secret")
	if env := webhookSecretEnv(pol); len(env) != 0 {
		t.Errorf("infra env %+v, want the operator's secret left out", env)
	}
}

// startDevProviders starts the dev stack's fakes for pol, with the demo agent, and
// the clients of every provider of pol pointed at them.
func startDevProviders(t *testing.T, pol *routing.Policy) (*Fakes, *app.ProviderSet) {
	t.Helper()
	demo, err := localnlu.ParseAgent(agent.Demo)
	if err != nil {
		t.Fatal(err)
	}
	fakes, err := StartFakes(pol, demo, testmsg.DevTwilioAuthToken)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(fakes.Stop)
	set, err := app.BuildProviders(context.Background(), pol, fakes.Connections())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(set.Close)
	return fakes, set
}

func devPolicy(t *testing.T) *routing.Policy {
	t.Helper()
	p, err := routing.ParseFile("policy.dev.yaml", deploy.DevPolicy)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// unsetEnv removes name for the test, restoring it after.
func unsetEnv(t *testing.T, name string) {
	t.Helper()
	t.Setenv(name, "")
	os.Unsetenv(name)
}
