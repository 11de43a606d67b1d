//go:build !slim

package main

import (
	"fmt"
	"maps"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/switchboard-cc/switchboard/internal/devstack"
	"github.com/switchboard-cc/switchboard/internal/testmsg"
)

func devCommand() *cobra.Command {
	var dc devstack.Config
	var logLevel string
	cmd := &cobra.Command{
		Use:   "dev",
		Short: "Run everything in one process: NATS, Temporal and its UI, fake vendors, worker and API",
		Long: `dev runs the whole stack on this machine, with no Docker and no accounts: an embedded
NATS server with JetStream and an embedded Temporal server on SQLite (state in --data-dir,
kept across restarts), the Temporal web UI, fake Dialogflow CX, Twilio and Vonage servers on
loopback, the worker and the HTTP API.

With --only-infra it runs NATS, Temporal (and its UI) and the fake vendors only, with the
fakes' /dev/outbox and /dev/faults on --http-addr, and prints the settings that point
` + "`switchboard api`" + ` and ` + "`switchboard worker`" + ` processes at them. It also writes them to
<data-dir>/infra.env, rewritten at every start (the fakes' ports change):

  switchboard dev --only-infra
  set -a; . ./.switchboard/infra.env; set +a
  switchboard api --http-addr 127.0.0.1:8081 &
  switchboard worker --http-addr 127.0.0.1:8091 &

Every flag can also be set with SWITCHBOARD_<FLAG>, e.g. SWITCHBOARD_DATA_DIR.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := bindEnv(cmd); err != nil {
				return err
			}
			for name, v := range map[string]*string{"ops-token": &dc.OpsToken, "agent-token": &dc.AgentToken, "ingress-token": &dc.IngressToken} {
				if err := readSecret(name, v); err != nil {
					return err
				}
			}
			generated := dc.OpsToken == "" || dc.AgentToken == "" || dc.IngressToken == ""
			log := newLogger(logLevel)
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			err := devstack.Run(ctx, dc, log, func(r devstack.Ready) {
				if dc.OnlyInfra {
					printInfra(r, dc.DataDir, generated)
					return
				}
				fmt.Printf("switchboard ready: api %s  temporal-ui %s  temporal %s  nats %s  data %s\n",
					r.API, r.TemporalUI, r.Temporal, r.NATS, dc.DataDir)
				if generated {
					// Printed, not logged: only the person who started dev sees them.
					fmt.Printf("bearer tokens (generated, kept in %s; set --ops-token/--agent-token/--ingress-token to choose them): ops %s  agent %s  ingress %s\n",
						filepath.Join(dc.DataDir, devstack.TokensFile), r.OpsToken, r.AgentToken, r.IngressToken)
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
	f.BoolVar(&dc.DisableUI, "no-ui", false, "do not run the Temporal web UI")
	f.BoolVar(&dc.OnlyInfra, "only-infra", false, "run NATS, Temporal and the fake vendors only, for separate switchboard api and switchboard worker processes; prints their settings and writes them to <data-dir>/infra.env")
	f.IntVar(&dc.NATSPort, "nats-port", 4222, "NATS client port")
	f.StringVar(&dc.PublicURL, "public-url", "", "base URL vendors call, which webhook signatures cover (default http://<http-addr>)")
	f.StringVar(&dc.TwilioAuthToken, "twilio-auth-token", testmsg.DevTwilioAuthToken, "Twilio auth token: verifies webhook signatures and opens the fake Twilio")
	f.StringVar(&dc.VonageSignatureSecret, "vonage-signature-secret", testmsg.DevVonageSignatureSecret, "Vonage signature secret: verifies inbound webhook JWTs")
	f.StringVar(&dc.AgentFile, "agent-file", "", "Dialogflow CX agent the fake serves (default: the embedded demo agent, deploy/agent/demo-agent.json)")
	f.StringVar(&dc.PolicyFile, "policy", "", "routing policy file, reloaded on change (default <data-dir>/policy.yaml, created from the dev policy on first start)")
	f.StringVar(&dc.OpsToken, "ops-token", "", "bearer token(s) of the ops role, comma-separated (secret: environment or file:/path; default: generated and printed)")
	f.StringVar(&dc.AgentToken, "agent-token", "", "bearer token(s) of the agent role (default: generated and printed)")
	f.StringVar(&dc.IngressToken, "ingress-token", "", "bearer token(s) that may POST /v1/turns (as may the ops token; default: generated and printed)")
	f.StringVar(&logLevel, "log-level", "info", "debug, info, warn or error")
	return cmd
}

// printInfra reports a dev stack started with --only-infra, and writes the settings
// of its api and worker processes to <data-dir>/infra.env (owner-only: it holds the
// bearer tokens).
func printInfra(r devstack.Ready, dataDir string, generated bool) {
	ui := r.TemporalUI
	if ui == "" {
		ui = "off"
	}
	fmt.Printf("switchboard infra ready: nats %s  temporal %s  temporal-ui %s  dev %s (/dev/outbox, /dev/faults)  data %s\n",
		r.NATS, r.Temporal, ui, r.API, dataDir)
	fmt.Printf("policy %s  agent %s\n", r.PolicyFile, r.AgentFile)
	var fakes []string
	for _, name := range slices.Sorted(maps.Keys(r.ProviderURLs)) {
		fakes = append(fakes, name+" "+r.ProviderURLs[name])
	}
	fmt.Printf("fake vendors: %s\n", strings.Join(fakes, "  "))
	var env strings.Builder
	env.WriteString("# Settings of `switchboard api` and `switchboard worker` against `switchboard dev --only-infra`.\n")
	env.WriteString("# Rewritten at every start. Load with: set -a; . " + filepath.Join(dataDir, infraEnvFile) + "; set +a\n")
	for _, v := range r.Env {
		fmt.Fprintf(&env, "%s=%s\n", v.Name, shellQuote(v.Value))
	}
	file := filepath.Join(dataDir, infraEnvFile)
	if err := os.WriteFile(file, []byte(env.String()), 0o600); err != nil {
		fmt.Fprintf(os.Stderr, "switchboard: could not write %s: %v\n", file, err)
	} else {
		fmt.Printf("settings for switchboard api and switchboard worker (in %s; load with: set -a; . %s; set +a):\n", file, file)
	}
	for _, v := range r.Env {
		if !generated && (v.Name == "SWITCHBOARD_OPS_TOKEN" || v.Name == "SWITCHBOARD_AGENT_TOKEN" || v.Name == "SWITCHBOARD_INGRESS_TOKEN") {
			continue // chosen by the user: written to the file only
		}
		fmt.Printf("  %s=%s\n", v.Name, shellQuote(v.Value))
	}
}

// infraEnvFile is where --only-infra writes the settings of api and worker processes.
const infraEnvFile = "infra.env"

// shellQuote quotes s for a POSIX shell, unless it needs none.
func shellQuote(s string) string {
	safe := s != ""
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("@%+=:,./_-", c)) {
			safe = false
			break
		}
	}
	if safe {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
