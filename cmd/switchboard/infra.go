//go:build !slim

package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/switchboard-cc/switchboard/api"
	"github.com/switchboard-cc/switchboard/deploy/agent"
	"github.com/switchboard-cc/switchboard/internal/devstack"
	"github.com/switchboard-cc/switchboard/internal/devstack/devnats"
	"github.com/switchboard-cc/switchboard/internal/devstack/devtemporal"
	"github.com/switchboard-cc/switchboard/internal/testmsg"
	"github.com/switchboard-cc/switchboard/providers/localnlu"
	"github.com/switchboard-cc/switchboard/providers/routing"
	"github.com/switchboard-cc/switchboard/workflows"
)

// infraCommand runs one part of the dev stack as a process of its own: the
// embedded NATS server, the embedded Temporal server, or the fake vendors. It is
// what `switchboard drill` starts, so that each part can be killed and restarted
// alone; it is hidden because `switchboard dev` is how a person runs them.
func infraCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:    "infra",
		Short:  "Run one part of the dev stack alone: nats, temporal or fakes (used by switchboard drill)",
		Hidden: true,
	}
	cmd.AddCommand(infraNATSCommand(), infraTemporalCommand(), infraFakesCommand())
	return cmd
}

// infraReady is the line each part prints on stdout once it serves.
func infraReady(part, addr string) {
	fmt.Printf("switchboard infra %s ready: %s\n", part, addr)
}

func infraNATSCommand() *cobra.Command {
	var (
		port     int
		storeDir string
		logLevel string
	)
	cmd := &cobra.Command{
		Use:   "nats",
		Short: "Run the embedded NATS server with JetStream",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if storeDir == "" {
				return errors.New("--store-dir is required: JetStream keeps its files there across restarts")
			}
			ns, err := devnats.Start(devnats.Config{Port: port, StoreDir: storeDir, Logger: newLogger(logLevel).With("component", "nats")})
			if err != nil {
				return err
			}
			defer ns.Stop()
			infraReady("nats", ns.ClientURL())
			return waitForSignal(cmd.Context())
		},
	}
	cmd.Flags().IntVar(&port, "port", devnats.DefaultPort, "NATS client port (-1: random)")
	cmd.Flags().StringVar(&storeDir, "store-dir", "", "JetStream store directory (required)")
	cmd.Flags().StringVar(&logLevel, "log-level", "warn", "debug, info, warn or error")
	return cmd
}

func infraTemporalCommand() *cobra.Command {
	var (
		port   int
		dbFile string
	)
	cmd := &cobra.Command{
		Use:   "temporal",
		Short: "Run the embedded Temporal server on SQLite, without its UI",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if dbFile == "" {
				return errors.New("--db-file is required: the server keeps its state there across restarts")
			}
			tsrv, err := devtemporal.Start(cmd.Context(), devtemporal.Config{
				FrontendPort: port, DisableUI: true, DBFile: dbFile,
				SearchAttributes: workflows.SearchAttributes(), LogLevel: "error",
			})
			if err != nil {
				return err
			}
			defer tsrv.Stop()
			infraReady("temporal", tsrv.FrontendAddr())
			return waitForSignal(cmd.Context())
		},
	}
	cmd.Flags().IntVar(&port, "port", devtemporal.DefaultFrontendPort, "Temporal frontend gRPC port (-1: random)")
	cmd.Flags().StringVar(&dbFile, "db-file", "", "SQLite database file (required)")
	return cmd
}

func infraFakesCommand() *cobra.Command {
	var (
		httpAddr, policyFile, agentFile, envFile string
		twilioToken, vonageSecret                string
	)
	cmd := &cobra.Command{
		Use:   "fakes",
		Short: "Run a fake vendor for every provider of a policy, with /dev/outbox and /dev/faults",
		Long: `fakes runs one fake vendor per provider of the policy, each on its own loopback port, and
serves their /dev/outbox and /dev/faults on --http-addr. With --env-file it writes the
settings (SWITCHBOARD_<FLAG>) that point a worker at the fakes and let an api verify the
webhooks signed for them, owner-only.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			pol, err := routing.Load(policyFile)
			if err != nil {
				return err
			}
			def := agent.Demo
			if agentFile != "" {
				if def, err = os.ReadFile(agentFile); err != nil {
					return fmt.Errorf("--agent-file: %w", err)
				}
			}
			a, err := localnlu.ParseAgent(def)
			if err != nil {
				return fmt.Errorf("--agent-file: %w", err)
			}
			fakes, err := devstack.StartFakes(pol, a, twilioToken)
			if err != nil {
				return err
			}
			defer fakes.Stop()
			if envFile != "" {
				var b strings.Builder
				for _, v := range fakes.FakesEnv(vonageSecret) {
					fmt.Fprintf(&b, "%s=%s\n", v.Name, shellQuote(v.Value))
				}
				if err := os.WriteFile(filepath.Clean(envFile), []byte(b.String()), 0o600); err != nil {
					return fmt.Errorf("--env-file: %w", err)
				}
			}
			lis, err := net.Listen("tcp", httpAddr)
			if err != nil {
				return fmt.Errorf("--http-addr: %w", err)
			}
			hs := &http.Server{Handler: api.Pretty(fakes.DevHandler(), true), ReadHeaderTimeout: 5 * time.Second}
			go func() { _ = hs.Serve(lis) }()
			infraReady("fakes", "http://"+lis.Addr().String())
			err = waitForSignal(cmd.Context())
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = hs.Shutdown(ctx)
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&httpAddr, "http-addr", "127.0.0.1:0", "address of /dev/outbox and /dev/faults")
	f.StringVar(&policyFile, "policy", "", "routing policy whose providers get a fake (required)")
	f.StringVar(&agentFile, "agent-file", "", "the agent the fake Dialogflow CX and OpenAI servers answer from (default: the embedded demo agent)")
	f.StringVar(&envFile, "env-file", "", "write the workers' and apis' settings for the fakes to this file")
	f.StringVar(&twilioToken, "twilio-auth-token", testmsg.DevTwilioAuthToken, "Twilio auth token the fake Twilio accepts")
	f.StringVar(&vonageSecret, "vonage-signature-secret", testmsg.DevVonageSignatureSecret, "Vonage signature secret written to --env-file for the api")
	_ = cmd.MarkFlagRequired("policy")
	return cmd
}

// waitForSignal returns when the process is asked to stop.
func waitForSignal(ctx context.Context) error {
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	<-ctx.Done()
	return nil
}
