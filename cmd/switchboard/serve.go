package main

import (
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/switchboard-cc/switchboard/internal/app"
	"github.com/switchboard-cc/switchboard/internal/auth"
	"github.com/switchboard-cc/switchboard/providers/localnlu"
	"github.com/switchboard-cc/switchboard/providers/vonage"
	"github.com/switchboard-cc/switchboard/workers"
	"github.com/switchboard-cc/switchboard/workflows"
)

func serveCommand() *cobra.Command {
	return serviceCommand(app.RolesAll, "serve",
		"Run the API, the bridge and the worker against external NATS and Temporal",
		`serve runs Switchboard in production: the HTTP API, the JetStream bridge and the Temporal
worker, against a NATS cluster with JetStream and a Temporal cluster. Run several replicas:
breaker state is shared through NATS KV and turns through JetStream. To scale the API and
the workers apart, run `+"`switchboard api`"+` and `+"`switchboard worker`"+` instead.`)
}

func apiCommand() *cobra.Command {
	return serviceCommand(app.RoleAPI, "api",
		"Run the HTTP API only: webhooks, turns, conversations, agent desk, providers, policy",
		`api runs the API role of serve: vendor webhooks and POST /v1/turns (stored in JetStream),
conversations and the agent desk (through Temporal), /v1/providers, /v1/policy, /metrics,
/healthz and /readyz. It calls no vendor and runs no workflow: `+"`switchboard worker`"+`
processes do. /readyz answers 200 while NATS is connected and Temporal answers.`)
}

func workerCommand() *cobra.Command {
	return serviceCommand(app.RoleWorker, "worker",
		"Run the Temporal worker and the JetStream bridge only, with the provider clients",
		`worker runs the worker role of serve: the JetStream bridge that hands turns to their
conversation workflows, the Temporal worker that runs them, the vendor clients and their
health probes. Its HTTP listener (--http-addr) serves only /healthz, /readyz (NATS
connected, Temporal answering, this worker polling its task queue) and /metrics (ops token).`)
}

// serviceCommand builds serve, api and worker: one set of flag definitions, each
// registered on the commands whose roles use it, and one app.Run.
func serviceCommand(roles app.Roles, use, short, long string) *cobra.Command {
	var (
		cfg          = app.Config{Roles: roles}
		agentFile    string
		opsToken     string
		agentToken   string
		ingressToken string
		logLevel     string
		secrets      = map[string]*string{}
	)
	runsAPI, runsWorker := roles.Has(app.RoleAPI), roles.Has(app.RoleWorker)
	cmd := &cobra.Command{
		Use:   use,
		Short: short,
		Long: long + `

Every flag can also be set with SWITCHBOARD_<FLAG>. Secrets (tokens, keys) should come from
the environment, or from a file: a value "file:/path" is read from that file.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := bindEnv(cmd); err != nil {
				return err
			}
			for name, v := range secrets {
				if err := readSecret(name, v); err != nil {
					return err
				}
			}
			cfg.API.Tokens = auth.FromLists(opsToken, agentToken, ingressToken)
			if agentFile != "" {
				a, err := localnlu.LoadAgent(agentFile)
				if err != nil {
					return err
				}
				cfg.Connections.LocalAgent = a
			}
			log := newLogger(logLevel)
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return app.Run(ctx, cfg, log, func(r app.Ready) {
				log.Info("switchboard ready", "role", r.Roles.String(), "http", "http://"+r.HTTPAddr, "nats", cfg.NATSURL, "temporal", cfg.TemporalAddr, "namespace", cfg.Namespace)
			})
		},
	}
	f := cmd.Flags()
	secret := func(p *string, name, usage string) {
		f.StringVar(p, name, "", usage+" (secret: environment or file:/path)")
		secrets[name] = p
	}
	// Both roles.
	httpUsage := "address of the HTTP API"
	if !runsAPI {
		httpUsage = "address of the HTTP listener for /healthz, /readyz and /metrics"
	}
	f.String("config", "", "YAML file of settings, keyed by flag name (nats-url: ..., provider-url: {twilio: ...}); flags and SWITCHBOARD_<FLAG> win over it")
	f.StringVar(&cfg.HTTPAddr, "http-addr", "0.0.0.0:8080", httpUsage)
	f.StringVar(&cfg.NATSURL, "nats-url", "nats://127.0.0.1:4222", "NATS server URLs, comma-separated")
	f.StringVar(&cfg.NATSCredsFile, "nats-creds", "", "NATS credentials file")
	f.StringVar(&cfg.NATSCAFile, "nats-ca", "", "CA bundle for NATS TLS")
	f.IntVar(&cfg.Streams.Replicas, "stream-replicas", 3, "JetStream replicas of Switchboard's streams and buckets (1 on a single server)")
	f.StringVar(&cfg.TemporalAddr, "temporal-address", "127.0.0.1:7233", "Temporal frontend host:port")
	f.StringVar(&cfg.Namespace, "temporal-namespace", "default", "Temporal namespace")
	f.StringVar(&cfg.TaskQueue, "task-queue", "switchboard-conversations", "Temporal task queue of the conversation workflows (the API's replays hand turns to it too)")
	f.BoolVar(&cfg.TemporalTLS, "temporal-tls", false, "dial Temporal over TLS")
	f.StringVar(&cfg.TemporalCompression, "temporal-compression", "gzip", "gRPC compression of requests to Temporal: gzip, or none (less CPU when Temporal is near)")
	f.StringVar(&cfg.TemporalCAFile, "temporal-ca", "", "CA bundle for Temporal TLS")
	f.StringVar(&cfg.PolicyFile, "policy", "/etc/switchboard/policy.yaml", "routing policy file, reloaded on change")
	f.StringVar(&cfg.Instance, "instance", "", "name of this replica in shared breaker state (default host-random)")
	f.IntVar(&cfg.Workflow.MaxPending, "max-pending-turns", workflows.DefaultMaxPending,
		"turns a conversation may hold unprocessed; past it the next turn waits in JetStream (ConversationBusy) until the conversation catches up. Taken by conversations started from then on")
	secret(&cfg.TemporalAPIKey, "temporal-api-key", "Temporal API key")
	secret(&opsToken, "ops-token", "bearer token(s) of the ops role, comma-separated, at least 16 characters each; required")
	switch {
	case runsAPI && runsWorker:
		secret(&cfg.Connections.Twilio.AuthToken, "twilio-auth-token", "Twilio auth token: sends and verifies webhook signatures")
	case runsAPI:
		secret(&cfg.Connections.Twilio.AuthToken, "twilio-auth-token", "Twilio auth token: verifies webhook signatures")
	default:
		secret(&cfg.Connections.Twilio.AuthToken, "twilio-auth-token", "Twilio auth token: sends")
	}
	if runsAPI {
		f.StringVar(&cfg.PublicURL, "public-url", "", "base URL vendors call; webhook signatures are computed over it (required behind a proxy)")
		secret(&agentToken, "agent-token", "bearer token(s) of the agent-desk role, comma-separated")
		f.Float64Var(&cfg.ReplayRate, "replay-rate", app.DefaultReplayRate, "turns re-driven and replies re-sent per second by the replays of stuck conversations, across this process")
		secret(&ingressToken, "ingress-token", "bearer token(s) that may POST /v1/turns (as may an ops token), comma-separated, at least 16 characters each; required unless --insecure-anonymous-turns")
		f.BoolVar(&cfg.API.AnonymousTurns, "insecure-anonymous-turns", false, "let anyone who reaches the API POST /v1/turns without a token (logged as a warning at start); excludes --ingress-token")
		secret(&cfg.VonageSignatureSecret, "vonage-signature-secret", "Vonage signature secret: verifies inbound webhook JWTs")
		f.DurationVar(&cfg.API.VonageMaxTokenAge, "vonage-jwt-max-age", vonage.DefaultMaxTokenAge, "how old (by its iat) a Vonage webhook JWT may be; older ones, and any jti seen before, are refused")
	}
	if runsWorker {
		f.StringVar(&agentFile, "agent-file", "", "the agent's cached flows, a JSON file like deploy/agent/demo-agent.json (local NLU, LLM prompt)")
		f.StringVar(&cfg.Connections.DialogflowProject, "dialogflow-project", "", "Dialogflow CX project, unless the policy names it")
		f.StringVar(&cfg.Connections.DialogflowAgent, "dialogflow-agent", "", "Dialogflow CX agent id, unless the policy names it")
		f.StringVar(&cfg.Connections.OpenAIBaseURL, "openai-base-url", "", "OpenAI-compatible API base URL (OpenAI, Azure OpenAI, vLLM, Ollama)")
		f.StringVar(&cfg.Connections.Twilio.AccountSID, "twilio-account-sid", "", "Twilio account SID")
		f.StringVar(&cfg.Connections.Vonage.APIKey, "vonage-api-key", "", "Vonage API key")
		f.StringToStringVar(&cfg.Connections.ProviderURLs, "provider-url", nil,
			"where the named providers of the policy are reached, NAME=URL, comma-separated or repeated: a Dialogflow CX gRPC endpoint host:port (http://host:port: without TLS, local fakes only), an OpenAI-compatible base URL, a Twilio or Vonage API base URL, a webhook provider's reply URL (its probe_url moves to that host) (switchboard dev --only-infra prints those of its fakes). Merged per provider with SWITCHBOARD_PROVIDER_URL and --config: for a name in several, the command line wins, then the environment")
		f.DurationVar(&cfg.SendClaimGrace, "send-claim-grace", workers.DefaultClaimGrace,
			"how long past its attempt's deadline a reply's send claim still holds: a worker that vanished mid-send blocks the reply that long; then another worker asks the vendor whether it has the reply before it sends")
		f.DurationVar(&cfg.RedriveInterval, "redrive-interval", app.DefaultRedriveInterval,
			"how often replies no CPaaS provider could send are re-sent by themselves once a provider is back in rotation (negative: never, only by replay)")
		secret(&cfg.Connections.OpenAIAPIKey, "openai-api-key", "OpenAI-compatible API key")
		secret(&cfg.Connections.Vonage.APISecret, "vonage-api-secret", "Vonage API secret")
	}
	f.StringVar(&logLevel, "log-level", "info", "debug, info, warn or error")
	return cmd
}

// readSecret replaces a "file:/path" value by the file's content, trimmed.
func readSecret(name string, v *string) error {
	path, ok := strings.CutPrefix(*v, "file:")
	if !ok {
		return nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("--%s: %w", name, err)
	}
	*v = strings.TrimSpace(string(b))
	return nil
}
