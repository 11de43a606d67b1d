package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/switchboard-cc/switchboard/internal/app"
	"github.com/switchboard-cc/switchboard/internal/devtemporal"
	"github.com/switchboard-cc/switchboard/internal/logging"
)

func devCommand() *cobra.Command {
	var dc app.DevConfig
	var logLevel string
	cmd := &cobra.Command{
		Use:   "dev",
		Short: "Run everything in one process: NATS, Temporal and its UI, fake vendors, worker and API",
		Long: `dev runs the whole stack on this machine, with no Docker and no accounts: an embedded
NATS server with JetStream and an embedded Temporal server on SQLite (state in --data-dir,
kept across restarts), the Temporal web UI, fake Dialogflow CX, Twilio and Vonage servers on
loopback, the worker and the HTTP API.

Every flag can also be set with SWITCHBOARD_<FLAG>, e.g. SWITCHBOARD_DATA_DIR.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := bindEnv(cmd); err != nil {
				return err
			}
			for name, v := range map[string]*string{"ops-token": &dc.OpsToken, "agent-token": &dc.AgentToken} {
				if err := readSecret(name, v); err != nil {
					return err
				}
			}
			generated := dc.OpsToken == "" || dc.AgentToken == ""
			log := newLogger(logLevel)
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			err := app.RunDev(ctx, dc, startTemporal, log, func(r app.DevReady) {
				fmt.Printf("switchboard ready: api %s  temporal-ui %s  temporal %s  nats %s  data %s\n",
					r.API, r.TemporalUI, r.Temporal, r.NATS, dc.DataDir)
				if generated {
					// Printed, not logged: only the person who started dev sees them.
					fmt.Printf("bearer tokens (generated; set --ops-token/--agent-token to choose them): ops %s  agent %s\n", r.OpsToken, r.AgentToken)
				}
			})
			if err == nil {
				fmt.Println("switchboard stopped")
			}
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&dc.DataDir, "data-dir", "./.switchboard", "where NATS and Temporal keep their state")
	f.StringVar(&dc.HTTPAddr, "http-addr", "127.0.0.1:8080", "address of the HTTP API")
	f.IntVar(&dc.TemporalPort, "temporal-port", 7233, "Temporal frontend gRPC port")
	f.IntVar(&dc.UIPort, "ui-port", 8233, "Temporal web UI port")
	f.IntVar(&dc.NATSPort, "nats-port", 4222, "NATS client port")
	f.StringVar(&dc.PublicURL, "public-url", "", "base URL vendors call, which webhook signatures cover (default http://<http-addr>)")
	f.StringVar(&dc.TwilioAuthToken, "twilio-auth-token", app.DevTwilioAuthToken, "Twilio auth token: verifies webhook signatures and opens the fake Twilio")
	f.StringVar(&dc.VonageSignatureSecret, "vonage-signature-secret", app.DevVonageSignatureSecret, "Vonage signature secret: verifies inbound webhook JWTs")
	f.StringVar(&dc.AgentFile, "agent-file", "", "Dialogflow CX agent the fake serves (default: the embedded demo agent, deploy/agent/demo-agent.json)")
	f.StringVar(&dc.PolicyFile, "policy", "", "routing policy file, reloaded on change (default <data-dir>/policy.yaml, created from the dev policy on first start)")
	f.StringVar(&dc.OpsToken, "ops-token", "", "bearer token(s) of the ops role, comma-separated (secret: environment or file:/path; default: generated and printed)")
	f.StringVar(&dc.AgentToken, "agent-token", "", "bearer token(s) of the agent role (default: generated and printed)")
	f.StringVar(&logLevel, "log-level", "info", "debug, info, warn or error")
	return cmd
}

// startTemporal adapts package devtemporal, the only package that imports the
// Temporal server, to the dev stack.
func startTemporal(ctx context.Context, o app.TemporalOptions) (app.EmbeddedTemporal, error) {
	return devtemporal.Start(ctx, devtemporal.Config{
		FrontendPort: o.FrontendPort, UIPort: o.UIPort, DisableUI: o.DisableUI,
		DBFile: o.DBFile, SearchAttributes: o.SearchAttributes, LogLevel: "error",
	})
}

func newLogger(level string) *slog.Logger {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		l = slog.LevelInfo
	}
	return slog.New(logging.Mask(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: l})))
}
