package devstack

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/switchboard-cc/switchboard/api"
	"github.com/switchboard-cc/switchboard/internal/devstack/devtemporal"
)

// serveInfra is `switchboard dev --only-infra` once NATS, Temporal and the fakes run:
// it serves the fakes' /dev/ API on dc.HTTPAddr and reports, in Ready.Env, what
// `switchboard api` and `switchboard worker` need to run against the stack, until ctx
// is cancelled.
func serveInfra(ctx context.Context, dc Config, agentDef []byte, natsURL string, tsrv *devtemporal.Server, fakes *Fakes, log *slog.Logger, onReady func(Ready)) error {
	policyFile, err := filepath.Abs(dc.PolicyFile)
	if err != nil {
		return err
	}
	// The worker reads the agent from a file: the local NLU and the LLM's prompt
	// need it, as the fakes do.
	agentFile := dc.AgentFile
	if agentFile == "" {
		agentFile = filepath.Join(dc.DataDir, "agent.json")
		if err := os.WriteFile(agentFile, agentDef, 0o600); err != nil {
			return fmt.Errorf("agent file: %w", err)
		}
	}
	if agentFile, err = filepath.Abs(agentFile); err != nil {
		return err
	}

	mux := http.NewServeMux()
	mux.Handle("/dev/", api.Pretty(fakes.DevHandler(), true))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"status":"ok"}`+"\n")
	})
	lis, err := net.Listen("tcp", dc.HTTPAddr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", dc.HTTPAddr, err)
	}
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	serveErr := make(chan error, 1)
	go func() { serveErr <- hs.Serve(lis) }()

	conn := fakes.Connections()
	env := []EnvVar{
		{"SWITCHBOARD_NATS_URL", natsURL},
		{"SWITCHBOARD_STREAM_REPLICAS", "1"},
		{"SWITCHBOARD_TEMPORAL_ADDRESS", tsrv.FrontendAddr()},
		{"SWITCHBOARD_POLICY", policyFile},
		{"SWITCHBOARD_AGENT_FILE", agentFile},
	}
	env = append(env, fakes.FakesEnv(dc.VonageSignatureSecret)...)
	env = append(env, EnvVar{"SWITCHBOARD_OPS_TOKEN", dc.OpsToken}, EnvVar{"SWITCHBOARD_AGENT_TOKEN", dc.AgentToken}, EnvVar{"SWITCHBOARD_INGRESS_TOKEN", dc.IngressToken})
	if onReady != nil {
		onReady(Ready{
			API: "http://" + lis.Addr().String(), TemporalUI: tsrv.UIURL(), Temporal: tsrv.FrontendAddr(), NATS: natsURL,
			OpsToken: dc.OpsToken, AgentToken: dc.AgentToken, IngressToken: dc.IngressToken, Outbox: fakes.Outbox, Faults: fakes.Faults,
			PolicyFile: policyFile, AgentFile: agentFile, ProviderURLs: maps.Clone(conn.ProviderURLs),
			Env: env,
		})
	}
	select {
	case <-ctx.Done():
	case err := <-serveErr:
		return fmt.Errorf("HTTP server: %w", err)
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil {
		log.Warn("HTTP shutdown", "error", err)
	}
	return nil
}

// providerURLList writes provider URLs as --provider-url takes them: NAME=URL,
// comma-separated, sorted by name.
func providerURLList(urls map[string]string) string {
	var parts []string
	for _, name := range slices.Sorted(maps.Keys(urls)) {
		parts = append(parts, name+"="+urls[name])
	}
	return strings.Join(parts, ",")
}
