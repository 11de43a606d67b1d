package main

import (
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/switchboard-cc/switchboard/workers"
)

func subcommand(t *testing.T, name string) *cobra.Command {
	t.Helper()
	cmd, _, err := newRootCommand().Find([]string{name})
	if err != nil || cmd.Name() != name {
		t.Fatalf("no subcommand %s: %v", name, err)
	}
	return cmd
}

func flagsOf(cmd *cobra.Command) map[string]*pflag.Flag {
	m := map[string]*pflag.Flag{}
	cmd.Flags().VisitAll(func(f *pflag.Flag) { m[f.Name] = f })
	return m
}

// serve runs both roles: its flags are exactly those of api and worker, defined
// once, so a setting means the same in all three.
func TestServiceCommands_ServeHasTheFlagsOfAPIAndWorker_DefinedAlike(t *testing.T) {
	serve, api, worker := flagsOf(subcommand(t, "serve")), flagsOf(subcommand(t, "api")), flagsOf(subcommand(t, "worker"))
	for role, flags := range map[string]map[string]*pflag.Flag{"api": api, "worker": worker} {
		for name, f := range flags {
			s, ok := serve[name]
			switch {
			case !ok:
				t.Errorf("%s has --%s, serve does not", role, name)
			case s.DefValue != f.DefValue || s.Value.Type() != f.Value.Type():
				t.Errorf("--%s: serve %s %q, %s %s %q", name, s.Value.Type(), s.DefValue, role, f.Value.Type(), f.DefValue)
			case strings.Contains(s.Usage, "file:/path") != strings.Contains(f.Usage, "file:/path"):
				t.Errorf("--%s is a secret in one of serve and %s only", name, role)
			}
		}
	}
	for name := range serve {
		if api[name] == nil && worker[name] == nil {
			t.Errorf("serve has --%s, neither api nor worker has", name)
		}
	}
	// Each role takes only what it uses.
	for _, name := range []string{"public-url", "agent-token", "ingress-token", "insecure-anonymous-turns", "vonage-signature-secret", "vonage-jwt-max-age", "replay-rate"} {
		if api[name] == nil || worker[name] != nil {
			t.Errorf("--%s: want it on api only", name)
		}
	}
	for _, name := range []string{"provider-url", "send-claim-grace", "agent-file", "twilio-account-sid", "openai-api-key", "vonage-api-secret"} {
		if worker[name] == nil || api[name] != nil {
			t.Errorf("--%s: want it on worker only", name)
		}
	}
	for _, name := range []string{"http-addr", "nats-url", "temporal-address", "task-queue", "policy", "ops-token", "twilio-auth-token", "instance"} {
		if worker[name] == nil || api[name] == nil {
			t.Errorf("--%s: want it on both", name)
		}
	}
	if d, want := worker["send-claim-grace"].DefValue, workers.NewSendLedger(nil).Grace.String(); d != want {
		t.Errorf("--send-claim-grace defaults to %s, the send ledger to %s", d, want)
	}
}

// Issue 12, item 7: `--provider-url vonage=...` on the command line replaced the
// whole list that infra.env's SWITCHBOARD_PROVIDER_URL holds, so twilio silently
// went to the real api.twilio.com. The sources merge per provider: the command line
// wins for the names it gives, then the environment, then the --config file.
func TestWorker_ProviderURLFlagAddsToTheEnvironmentsList_PerProvider(t *testing.T) {
	t.Setenv("SWITCHBOARD_CONFIG", writeConfig(t, `provider-url: {twilio: "http://file:1", openai-fast: "http://file:4"}`+"\n"))
	t.Setenv("SWITCHBOARD_PROVIDER_URL", "twilio=http://127.0.0.1:1,cx-global=http://127.0.0.1:2")
	cmd := subcommand(t, "worker")
	if err := cmd.ParseFlags([]string{"--provider-url", "vonage=http://127.0.0.1:3", "--provider-url", "cx-global=http://flag:2"}); err != nil {
		t.Fatal(err)
	}
	if err := bindEnv(cmd); err != nil {
		t.Fatal(err)
	}
	got, err := cmd.Flags().GetStringToString("provider-url")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"twilio":      "http://127.0.0.1:1", // the environment over the file
		"cx-global":   "http://flag:2",      // the command line over the environment
		"vonage":      "http://127.0.0.1:3", // the command line only
		"openai-fast": "http://file:4",      // the file only
	}
	if !maps.Equal(got, want) {
		t.Errorf("--provider-url %v, want %v", got, want)
	}

	// Without the flag, the environment's list over the file's.
	cmd = subcommand(t, "worker")
	if err := bindEnv(cmd); err != nil {
		t.Fatal(err)
	}
	if got := cmd.Flags().Lookup("provider-url").Value.String(); got != "[cx-global=http://127.0.0.1:2,openai-fast=http://file:4,twilio=http://127.0.0.1:1]" {
		t.Errorf("SWITCHBOARD_PROVIDER_URL: %s", got)
	}
}

func TestProbe(t *testing.T) {
	status := http.StatusOK
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/readyz" && r.URL.Path != "/healthz" {
			http.NotFound(w, r)
			return
		}
		w.WriteHeader(status)
		_, _ = w.Write([]byte(`{"status":"not ready","error":"Temporal: unavailable"}`))
	}))
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")
	run := func(args ...string) error {
		root := newRootCommand()
		root.SetArgs(append([]string{"probe"}, args...))
		return root.Execute()
	}
	if err := run("--http-addr", addr); err != nil {
		t.Errorf("ready: %v", err)
	}
	status = http.StatusServiceUnavailable
	if err := run("--http-addr", addr); err == nil || !strings.Contains(err.Error(), "Temporal: unavailable") {
		t.Errorf("not ready: %v", err)
	}
	status = http.StatusOK
	t.Setenv("SWITCHBOARD_HTTP_ADDR", addr) // as in a container, beside the process it checks
	if err := run("/healthz"); err != nil {
		t.Errorf("from the environment: %v", err)
	}
	if err := run("/nope"); err == nil {
		t.Error("404 passed")
	}
	if err := run("healthz"); err == nil {
		t.Error("a path without / passed")
	}

	for in, want := range map[string]string{
		"0.0.0.0:8080":   "http://127.0.0.1:8080/readyz",
		"[::]:8080":      "http://127.0.0.1:8080/readyz",
		":8080":          "http://127.0.0.1:8080/readyz",
		"10.1.2.3:9000":  "http://10.1.2.3:9000/readyz",
		"localhost:8081": "http://localhost:8081/readyz",
	} {
		if got, err := probeURL(in, "/readyz"); err != nil || got != want {
			t.Errorf("%s: %s %v, want %s", in, got, err, want)
		}
	}
}

func TestAPIAndServe_RefuseToStartWithTheTurnEndpointOpenByAccident(t *testing.T) {
	t.Setenv("SWITCHBOARD_OPS_TOKEN", "ops-token-0123456789")
	t.Setenv("SWITCHBOARD_TWILIO_AUTH_TOKEN", "twilio-auth-token")
	t.Setenv("SWITCHBOARD_VONAGE_SIGNATURE_SECRET", "vonage-signature-secret")
	run := func(args ...string) error {
		root := newRootCommand()
		root.SetArgs(args)
		root.SetOut(io.Discard)
		root.SetErr(io.Discard)
		return root.Execute()
	}
	// Both fail before connecting to anything: the configuration is checked first.
	for _, role := range []string{"api", "serve"} {
		err := run(role, "--nats-url", "nats://127.0.0.1:1", "--temporal-address", "127.0.0.1:1")
		if err == nil || !strings.Contains(err.Error(), "--ingress-token (SWITCHBOARD_INGRESS_TOKEN)") || !strings.Contains(err.Error(), "--insecure-anonymous-turns") {
			t.Errorf("%s without an ingress token: %v, want the flag and variable named", role, err)
		}
	}
	t.Setenv("SWITCHBOARD_INGRESS_TOKEN", "ingress-token-0123456789")
	t.Setenv("SWITCHBOARD_INSECURE_ANONYMOUS_TURNS", "true")
	if err := run("api", "--nats-url", "nats://127.0.0.1:1"); err == nil || !strings.Contains(err.Error(), "exclude each other") {
		t.Errorf("api with an ingress token and anonymous turns: %v", err)
	}
}
