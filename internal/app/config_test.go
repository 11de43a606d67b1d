package app

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-cc/switchboard/deploy"
	"github.com/switchboard-cc/switchboard/internal/auth"
	"github.com/switchboard-cc/switchboard/internal/metrics"
	"github.com/switchboard-cc/switchboard/providers/routing"
	"github.com/switchboard-cc/switchboard/providers/twilio"
	"github.com/switchboard-cc/switchboard/providers/vonage"
)

const (
	testOps     = "ops-token-0123456789"
	testAgent   = "agent-token-0123456789"
	testIngress = "ingress-token-0123456789"
)

func baseConfig(roles Roles) Config {
	return Config{
		Roles: roles, HTTPAddr: "127.0.0.1:0", NATSURL: "nats://127.0.0.1:4222", TemporalAddr: "127.0.0.1:7233",
		PolicyFile: "policy.yaml",
	}
}

func TestValidate_EachRoleAsksForWhatItUses(t *testing.T) {
	// The API verifies webhooks: it needs both vendors' secrets and an ops token.
	c := baseConfig(RoleAPI)
	c.API.Tokens = auth.FromLists(testOps, "", "")
	c.Connections.Twilio.AuthToken = "tw"
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "VonageSignatureSecret") {
		t.Fatalf("api without the Vonage signature secret: %v", err)
	}
	c.VonageSignatureSecret = "vg"
	// POST /v1/turns is closed by default: an ingress token, or the explicit flag.
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "--ingress-token") {
		t.Fatalf("api without an ingress token: %v", err)
	}
	c.API.Tokens.Add(auth.RoleIngress, testIngress)
	if err := c.Validate(); err != nil {
		t.Fatalf("api: %v", err)
	}
	if c.Streams.WebhookTokenTTL != vonage.ReplayWindow(vonage.DefaultMaxTokenAge) {
		t.Errorf("api: seen webhook tokens are kept %s, want the replay window of the default maximum age", c.Streams.WebhookTokenTTL)
	}
	if c.API.PublicURL != "http://127.0.0.1:0" {
		t.Errorf("api: PublicURL defaults to %q", c.API.PublicURL)
	}
	if c.Bridge.TaskQueue != "switchboard-conversations" {
		t.Errorf("api: replays hand turns over through the bridge, whose task queue is %q", c.Bridge.TaskQueue)
	}

	// The worker verifies nothing, but its /metrics needs an ops token.
	w := baseConfig(RoleWorker)
	if err := w.Validate(); err == nil || !strings.Contains(err.Error(), "ops token") {
		t.Fatalf("worker without an ops token: %v", err)
	}
	w.API.Tokens = auth.FromLists("short", "", "")
	if err := w.Validate(); err == nil || !strings.Contains(err.Error(), "16 characters") {
		t.Fatalf("worker with a short token: %v", err)
	}
	w.API.Tokens = auth.FromLists(testOps, "", "")
	if err := w.Validate(); err != nil {
		t.Fatalf("worker: %v", err)
	}
	if w.Streams.WebhookTokenTTL != 0 {
		t.Errorf("worker: sets the seen-token bucket's TTL to %s; it verifies no webhook", w.Streams.WebhookTokenTTL)
	}
	if w.Bridge.TaskQueue != "switchboard-conversations" || w.Worker.TaskQueue != "switchboard-conversations" {
		t.Errorf("worker: task queues %q %q", w.Bridge.TaskQueue, w.Worker.TaskQueue)
	}

	// Zero is both, and then the API's requirements hold.
	b := baseConfig(0)
	b.API.Tokens = auth.FromLists(testOps, "", "")
	if err := b.Validate(); err == nil || !strings.Contains(err.Error(), "TwilioAuthToken") {
		t.Fatalf("both roles without the Twilio auth token: %v", err)
	}
	if b.Roles != RolesAll {
		t.Errorf("zero roles became %s", b.Roles)
	}
	bad := baseConfig(RolesAll << 1)
	if err := bad.Validate(); err == nil {
		t.Error("unknown roles accepted")
	}
	neg := baseConfig(RoleWorker)
	neg.API.Tokens, neg.SendClaimGrace = auth.FromLists(testOps, "", ""), -time.Second
	if err := neg.Validate(); err == nil {
		t.Error("negative send-claim stale delay accepted")
	}
}

func TestRoles_String(t *testing.T) {
	for r, want := range map[Roles]string{RoleAPI: "api", RoleWorker: "worker", RolesAll: "api+worker"} {
		if r.String() != want {
			t.Errorf("%d: %q, want %q", r, r.String(), want)
		}
	}
	if !RolesAll.Has(RoleAPI) || !RolesAll.Has(RoleWorker) || RoleAPI.Has(RoleWorker) || RoleWorker.Has(RolesAll) {
		t.Error("Has")
	}
}

func TestProbeHandler_HealthOpen_MetricsForOpsOnly_NothingElse(t *testing.T) {
	var notReady error
	ready := func(context.Context) error { return notReady }
	m := metrics.New()
	m.TurnsProcessed.WithLabelValues("replied").Inc()
	srv := httptest.NewServer(probeHandler(ready, auth.FromLists(testOps, testAgent, ""), m))
	defer srv.Close()
	get := func(path, token string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, srv.URL+path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, string(b)
	}
	if code, _ := get("/healthz", ""); code != http.StatusOK {
		t.Errorf("/healthz: %d", code)
	}
	if code, _ := get("/readyz", ""); code != http.StatusOK {
		t.Errorf("/readyz while ready: %d", code)
	}
	notReady = errors.New("the worker is not polling task queue q yet")
	if code, body := get("/readyz", ""); code != http.StatusServiceUnavailable || !strings.Contains(body, "not polling") {
		t.Errorf("/readyz while not ready: %d %s", code, body)
	}
	if code, _ := get("/metrics", ""); code != http.StatusUnauthorized {
		t.Errorf("/metrics without a token: %d", code)
	}
	if code, body := get("/metrics", ""); code != http.StatusUnauthorized || !strings.Contains(body, "a bearer token is required") {
		t.Errorf("/metrics without a token: %d %s", code, body)
	}
	// Issue 12, item 8: a token sent but not accepted is invalid, not missing.
	if code, body := get("/metrics", "ops-token-9999999999"); code != http.StatusUnauthorized || !strings.Contains(body, "invalid token") || strings.Contains(body, "9999") {
		t.Errorf("/metrics with an unknown token: %d %s", code, body)
	}
	if code, _ := get("/metrics", testAgent); code != http.StatusForbidden {
		t.Errorf("/metrics with the agent token: %d", code)
	}
	if code, body := get("/metrics", testOps); code != http.StatusOK || !strings.Contains(body, `switchboard_turns_processed_total{status="replied"} 1`) {
		t.Errorf("/metrics with the ops token: %d\n%s", code, body)
	}
	for _, path := range []string{"/v1/turns", "/v1/providers", "/dev/outbox"} {
		if code, _ := get(path, testOps); code != http.StatusNotFound {
			t.Errorf("%s on the worker's listener: %d", path, code)
		}
	}
}

func devPolicy(t *testing.T) *routing.Policy {
	t.Helper()
	p, err := routing.ParseFile("policy.dev.yaml", deploy.DevPolicy)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestProviderURLs(t *testing.T) {
	pol := devPolicy(t)
	for urls, want := range map[string]string{
		"nobody=http://127.0.0.1:1": `no such provider`,
		"local=http://127.0.0.1:1":  `local provider`,
		"twilio=":                   `empty`,
	} {
		name, u, _ := strings.Cut(urls, "=")
		c := Connections{ProviderURLs: map[string]string{name: u}}
		if err := c.checkProviderURLs(pol); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want an error with %q", urls, err, want)
		}
		if _, err := BuildProviders(context.Background(), pol, c); err == nil {
			t.Errorf("%s: BuildProviders accepted it", urls)
		}
	}
	c := Connections{ProviderURLs: map[string]string{"cx-global": "http://127.0.0.1:1", "twilio": "http://127.0.0.1:2"}}
	if err := c.checkProviderURLs(pol); err != nil {
		t.Error(err)
	}
	for in, want := range map[string]struct {
		endpoint string
		insecure bool
	}{
		"http://127.0.0.1:9000":                               {"127.0.0.1:9000", true},
		"https://europe-west1-dialogflow.googleapis.com:443/": {"europe-west1-dialogflow.googleapis.com:443", false},
		"dialogflow.example.com:443":                          {"dialogflow.example.com:443", false},
	} {
		ep, insecure := dialogflowEndpoint(in)
		if ep != want.endpoint || insecure != want.insecure {
			t.Errorf("%s: %s %v, want %s %v", in, ep, insecure, want.endpoint, want.insecure)
		}
	}
}

// Issue 12, item 7: where each provider is reached is logged at start, a URL or
// "vendor default", and never a secret a URL carries.
func TestProviderEndpoints_EachProviderIsNamed_URLOrVendorDefault_NoSecret(t *testing.T) {
	pol := devPolicy(t)
	c := Connections{
		ProviderURLs: map[string]string{
			"cx-global": "http://127.0.0.1:1",
			"vonage":    "https://key:s3cret-pass@vonage.example.com/v1?api_secret=s3cret-query#x",
		},
		OpenAIAPIKey: "sk-s3cret-key",
		Twilio:       twilio.Config{AuthToken: "s3cret-token"},
	}
	var buf bytes.Buffer
	c.LogEndpoints(slog.New(slog.NewTextHandler(&buf, nil)), pol)
	want := map[string]string{
		"cx-global": "http://127.0.0.1:1",
		"cx-europe": VendorDefault,
		"llm":       VendorDefault,
		"twilio":    VendorDefault,
		"vonage":    "https://vonage.example.com/v1",
		"webchat":   "https://chat.example.com/switchboard/replies", // the policy's url
	}
	if got := c.Endpoints(pol); !maps.Equal(got, want) {
		t.Errorf("endpoints %v, want %v", got, want)
	}
	out := buf.String()
	if strings.Contains(out, "s3cret") {
		t.Errorf("a secret is logged: %s", out)
	}
	for name, u := range want {
		if !strings.Contains(out, "provider="+name+" ") || !strings.Contains(out, u) {
			t.Errorf("no log line for %s at %s: %s", name, u, out)
		}
	}
	if strings.Contains(out, "provider=local") {
		t.Errorf("a local provider has no endpoint: %s", out)
	}
}
