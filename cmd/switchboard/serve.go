package main

import (
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/switchboard-cc/switchboard/internal/app"
	"github.com/switchboard-cc/switchboard/providers/localnlu"
)

func serveCommand() *cobra.Command {
	var (
		cfg        app.Config
		agentFile  string
		opsToken   string
		agentToken string
		logLevel   string
		secrets    = map[string]*string{}
	)
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the API, the bridge and the worker against external NATS and Temporal",
		Long: `serve runs Switchboard in production: the HTTP API, the JetStream bridge and the Temporal
worker, against a NATS cluster with JetStream and a Temporal cluster. Run several replicas:
breaker state is shared through NATS KV and turns through JetStream.

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
			cfg.API.Tokens = app.Tokens(opsToken, agentToken)
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
				log.Info("switchboard ready", "api", "http://"+r.HTTPAddr, "nats", cfg.NATSURL, "temporal", cfg.TemporalAddr, "namespace", cfg.Namespace)
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.HTTPAddr, "http-addr", "0.0.0.0:8080", "address of the HTTP API")
	f.StringVar(&cfg.PublicURL, "public-url", "", "base URL vendors call; webhook signatures are computed over it (required behind a proxy)")
	f.StringVar(&cfg.NATSURL, "nats-url", "nats://127.0.0.1:4222", "NATS server URLs, comma-separated")
	f.StringVar(&cfg.NATSCredsFile, "nats-creds", "", "NATS credentials file")
	f.StringVar(&cfg.NATSCAFile, "nats-ca", "", "CA bundle for NATS TLS")
	f.IntVar(&cfg.Streams.Replicas, "stream-replicas", 3, "JetStream replicas of Switchboard's streams and buckets (1 on a single server)")
	f.StringVar(&cfg.TemporalAddr, "temporal-address", "127.0.0.1:7233", "Temporal frontend host:port")
	f.StringVar(&cfg.Namespace, "temporal-namespace", "default", "Temporal namespace")
	f.StringVar(&cfg.TaskQueue, "task-queue", "switchboard-conversations", "Temporal task queue of the conversation workflows")
	f.BoolVar(&cfg.TemporalTLS, "temporal-tls", false, "dial Temporal over TLS")
	f.StringVar(&cfg.TemporalCAFile, "temporal-ca", "", "CA bundle for Temporal TLS")
	f.StringVar(&cfg.PolicyFile, "policy", "/etc/switchboard/policy.yaml", "routing policy file, reloaded on change")
	f.StringVar(&agentFile, "agent-file", "", "the agent's cached flows, a JSON file like deploy/agent/demo-agent.json (local NLU, LLM prompt)")
	f.StringVar(&cfg.Instance, "instance", "", "name of this replica in shared breaker state (default host-random)")
	f.StringVar(&cfg.Connections.DialogflowProject, "dialogflow-project", "", "Dialogflow CX project, unless the policy names it")
	f.StringVar(&cfg.Connections.DialogflowAgent, "dialogflow-agent", "", "Dialogflow CX agent id, unless the policy names it")
	f.StringVar(&cfg.Connections.OpenAIBaseURL, "openai-base-url", "", "OpenAI-compatible API base URL (OpenAI, Azure OpenAI, vLLM, Ollama)")
	f.StringVar(&cfg.Connections.Twilio.AccountSID, "twilio-account-sid", "", "Twilio account SID")
	f.StringVar(&cfg.Connections.Vonage.APIKey, "vonage-api-key", "", "Vonage API key")
	secret := func(p *string, name, usage string) {
		f.StringVar(p, name, "", usage+" (secret: environment or file:/path)")
		secrets[name] = p
	}
	secret(&cfg.TemporalAPIKey, "temporal-api-key", "Temporal API key")
	secret(&opsToken, "ops-token", "bearer token(s) of the ops role, comma-separated, at least 16 characters each; required")
	secret(&agentToken, "agent-token", "bearer token(s) of the agent-desk role, comma-separated")
	secret(&cfg.Connections.OpenAIAPIKey, "openai-api-key", "OpenAI-compatible API key")
	secret(&cfg.Connections.Twilio.AuthToken, "twilio-auth-token", "Twilio auth token: sends and verifies webhook signatures")
	secret(&cfg.Connections.Vonage.APISecret, "vonage-api-secret", "Vonage API secret")
	secret(&cfg.VonageSignatureSecret, "vonage-signature-secret", "Vonage signature secret: verifies inbound webhook JWTs")
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
