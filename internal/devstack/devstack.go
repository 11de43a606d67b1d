package devstack

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"

	"go.temporal.io/sdk/worker"

	"github.com/switchboard-cc/switchboard/deploy"
	"github.com/switchboard-cc/switchboard/deploy/agent"
	"github.com/switchboard-cc/switchboard/internal/app"
	"github.com/switchboard-cc/switchboard/internal/auth"
	"github.com/switchboard-cc/switchboard/internal/devstack/devnats"
	"github.com/switchboard-cc/switchboard/internal/devstack/devtemporal"
	"github.com/switchboard-cc/switchboard/internal/testmsg"
	"github.com/switchboard-cc/switchboard/providers/fake"
	"github.com/switchboard-cc/switchboard/providers/localnlu"
	"github.com/switchboard-cc/switchboard/providers/routing"
	"github.com/switchboard-cc/switchboard/workers"
	"github.com/switchboard-cc/switchboard/workflows"
)

// Config configures `switchboard dev`.
type Config struct {
	DataDir      string
	HTTPAddr     string
	TemporalPort int
	UIPort       int
	DisableUI    bool
	NATSPort     int
	PublicURL    string
	// TwilioAuthToken signs Twilio webhooks and opens the fake Twilio.
	TwilioAuthToken       string
	VonageSignatureSecret string
	// AgentFile overrides the embedded demo agent.
	AgentFile string
	// PolicyFile is the routing policy. Empty: <data-dir>/policy.yaml, created from
	// the embedded dev policy on first start.
	PolicyFile string
	// OpsToken, AgentToken and IngressToken authenticate the ops, agent-desk and
	// turn (POST /v1/turns) endpoints (comma-separated for several). Empty: the
	// token kept in <DataDir>/tokens.json, or a random one generated and kept
	// there, so that a restart keeps it.
	OpsToken, AgentToken, IngressToken string
	// InMemory keeps NATS and Temporal state in memory (tests only).
	InMemory bool
	// Workflow options for conversations.
	Workflow workflows.Options
	// OnlyInfra runs NATS, Temporal and the fake vendors, with the fakes' /dev/ API
	// on HTTPAddr, but no API, bridge or worker: `switchboard api` and `switchboard
	// worker` processes run against it with the settings of DevReady.Env.
	OnlyInfra bool
}

// Ready describes a started dev stack.
type Ready struct {
	// API is the HTTP API's URL; with OnlyInfra, the URL of the fakes' /dev/ API.
	API, PublicURL, TemporalUI, Temporal, NATS string
	// OpsToken, AgentToken and IngressToken are the bearer tokens in force
	// (generated if not given).
	OpsToken, AgentToken, IngressToken string
	Outbox                             *fake.Outbox
	Faults                             *fake.Faults
	// Set with OnlyInfra only:
	//   - PolicyFile and AgentFile, the routing policy and the agent the stack uses
	//     (the embedded demo agent is written to <data-dir>/agent.json);
	//   - ProviderURLs, the fake vendors' addresses by provider name, as
	//     --provider-url takes them;
	//   - Env, the settings (SWITCHBOARD_<FLAG>) that point `switchboard api` and
	//     `switchboard worker` at this stack: NATS, Temporal, the policy, the agent,
	//     the fakes and their credentials, the bearer tokens.
	PolicyFile, AgentFile string
	ProviderURLs          map[string]string
	Env                   []EnvVar
}

// EnvVar is one environment variable.
type EnvVar struct{ Name, Value string }

// Run runs the whole stack in one process: NATS with JetStream, Temporal with its
// UI, the fake vendors, the worker and the API, until ctx is cancelled.
func Run(ctx context.Context, dc Config, log *slog.Logger, onReady func(Ready)) error {
	if dc.TwilioAuthToken == "" {
		dc.TwilioAuthToken = testmsg.DevTwilioAuthToken
	}
	if dc.VonageSignatureSecret == "" {
		dc.VonageSignatureSecret = testmsg.DevVonageSignatureSecret
	}
	agentDef := agent.Demo
	if dc.AgentFile != "" {
		b, err := os.ReadFile(dc.AgentFile)
		if err != nil {
			return fmt.Errorf("agent file: %w", err)
		}
		agentDef = b
	}
	demo, err := localnlu.ParseAgent(agentDef)
	if err != nil {
		return fmt.Errorf("agent file: %w", err)
	}
	if dc.HTTPAddr == "" {
		return errors.New("HTTPAddr (--http-addr) is required")
	}
	var natsDir, dbFile string
	if dc.InMemory {
		if dc.DataDir == "" {
			dir, err := os.MkdirTemp("", "switchboard-dev-")
			if err != nil {
				return err
			}
			defer os.RemoveAll(dir)
			dc.DataDir = dir
		}
	} else {
		if dc.DataDir == "" {
			return errors.New("DataDir (--data-dir) is required")
		}
		natsDir = filepath.Join(dc.DataDir, "nats")
		dbFile = filepath.Join(dc.DataDir, "temporal.db")
		if err := os.MkdirAll(natsDir, 0o700); err != nil {
			return fmt.Errorf("data dir: %w", err)
		}
	}
	if err := keepTokens(dc.DataDir, &dc); err != nil {
		return err
	}
	if dc.PolicyFile == "" {
		dc.PolicyFile = filepath.Join(dc.DataDir, "policy.yaml")
		if _, err := os.Stat(dc.PolicyFile); errors.Is(err, os.ErrNotExist) {
			if err := os.WriteFile(dc.PolicyFile, deploy.DevPolicy, 0o600); err != nil {
				return fmt.Errorf("dev policy: %w", err)
			}
		}
	}
	pol, err := routing.Load(dc.PolicyFile)
	if err != nil {
		return err
	}
	// Fail before starting anything when the API port is taken.
	if err := checkFree(dc.HTTPAddr); err != nil {
		return err
	}

	ns, err := devnats.Start(devnats.Config{Port: dc.NATSPort, StoreDir: natsDir, Logger: slog.New(minLevel{log.Handler(), slog.LevelWarn}).With("component", "nats")})
	if err != nil {
		return err
	}
	defer ns.Stop()

	// The SDK's workflow cache is process-wide and sized by the first worker to
	// start: the embedded server's system workers come first, so size it now.
	worker.SetStickyWorkflowCacheSize(workers.DefaultCachedConversations)
	tsrv, err := devtemporal.Start(ctx, devtemporal.Config{
		DBFile: dbFile, FrontendPort: dc.TemporalPort, UIPort: dc.UIPort, DisableUI: dc.DisableUI,
		SearchAttributes: workflows.SearchAttributes(), LogLevel: "error",
	})
	if err != nil {
		return err
	}
	defer func() {
		if err := tsrv.Stop(); err != nil {
			log.Warn("temporal shutdown", "error", err)
		}
	}()

	fakes, err := StartFakes(pol, demo, dc.TwilioAuthToken)
	if err != nil {
		return err
	}
	defer fakes.Stop()
	if dc.OnlyInfra {
		return serveInfra(ctx, dc, agentDef, ns.ClientURL(), tsrv, fakes, log, onReady)
	}

	cfg := app.Config{
		HTTPAddr:              dc.HTTPAddr,
		PublicURL:             dc.PublicURL,
		NATSURL:               ns.ClientURL(),
		TemporalAddr:          tsrv.FrontendAddr(),
		VonageSignatureSecret: dc.VonageSignatureSecret,
		Workflow:              dc.Workflow,
		PolicyFile:            dc.PolicyFile,
		TemporalCompression:   "none", // loopback: compression costs CPU and saves nothing
	}
	fakes.Apply(&cfg)
	cfg.API.Tokens = auth.FromLists(dc.OpsToken, dc.AgentToken, dc.IngressToken)
	cfg.Streams.MemoryStorage = dc.InMemory
	return app.Run(ctx, cfg, log, func(r app.Ready) {
		if onReady != nil {
			onReady(Ready{API: "http://" + r.HTTPAddr, PublicURL: r.PublicURL, TemporalUI: tsrv.UIURL(), Temporal: tsrv.FrontendAddr(), NATS: ns.ClientURL(), Outbox: fakes.Outbox, Faults: fakes.Faults, OpsToken: dc.OpsToken, AgentToken: dc.AgentToken, IngressToken: dc.IngressToken})
		}
	})
}

func checkFree(addr string) error {
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("HTTP address %s is not available: %w", addr, err)
	}
	return lis.Close()
}

// minLevel drops records below a level, for chatty embedded servers.
type minLevel struct {
	slog.Handler
	min slog.Level
}

func (h minLevel) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.min && h.Handler.Enabled(ctx, l)
}

func (h minLevel) WithAttrs(a []slog.Attr) slog.Handler {
	return minLevel{h.Handler.WithAttrs(a), h.min}
}
func (h minLevel) WithGroup(n string) slog.Handler { return minLevel{h.Handler.WithGroup(n), h.min} }
