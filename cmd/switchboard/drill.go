package main

import (
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/switchboard-cc/switchboard/deploy"
	"github.com/switchboard-cc/switchboard/internal/drill"
	"github.com/switchboard-cc/switchboard/internal/testmsg"
	"github.com/switchboard-cc/switchboard/providers/routing"
)

func drillCommand() *cobra.Command {
	var (
		out, policyFile string
		dryRun          bool
		target          drill.Target
	)
	cmd := &cobra.Command{
		Use:   "drill SCENARIO.yaml",
		Short: "Rehearse an outage: run a scenario of load and faults, check every promise, write a report",
		Long: `drill runs a scenario (deploy/drills/ holds the shipped ones): a load of customers writing
in through Twilio, Vonage and the JSON API, and a timeline of faults (vendor outages, slow
calls, inference spikes, 429 storms, accept-then-hang, flapping; kill -9 of a worker or an
api, NATS and Temporal restarts, maintenance windows).

By default it starts its own topology from this binary, every part its own process: NATS,
Temporal, the fake vendors, the scenario's workers and apis. With --api (and --dev, the
fakes' /dev URL) it drills an existing stack instead, where only vendor faults can be caused;
the scenario is refused, fault by fault, otherwise. Tokens come from SWITCHBOARD_OPS_TOKEN,
SWITCHBOARD_AGENT_TOKEN and SWITCHBOARD_INGRESS_TOKEN (or file:/path).

Once the stack has settled it checks what happened: every accepted turn has exactly one
reply (or a human who acknowledged its escalation), in order, and nothing was sent that no
turn asked for. It prints a summary, writes <name>.html (self-contained), <name>.json and
<name>.history.json (the record the verdict was decided from) into --out, and exits
non-zero when a promise was broken.`,
		Example: `  switchboard drill deploy/drills/ci.yaml
  switchboard drill --dry-run deploy/drills/cpaas-outage.yaml
  switchboard drill deploy/drills/cpaas-outage.yaml --api http://127.0.0.1:8080 --dev http://127.0.0.1:8080`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := bindEnv(cmd); err != nil {
				return err
			}
			for name, v := range map[string]*string{"ops-token": &target.OpsToken, "agent-token": &target.AgentToken, "ingress-token": &target.IngressToken,
				"twilio-auth-token": &target.TwilioAuthToken, "vonage-signature-secret": &target.VonageSignatureSecret} {
				if err := readSecret(name, v); err != nil {
					return err
				}
			}
			sc, err := drill.LoadFile(args[0])
			if err != nil {
				return err
			}
			if policyFile == "" {
				policyFile = sc.PolicyPath()
			}
			policyData := deploy.DevPolicy
			if policyFile != "" {
				if policyData, err = os.ReadFile(policyFile); err != nil {
					return fmt.Errorf("routing policy: %w", err)
				}
			}
			pol, err := routing.ParseFile(policyFile, policyData)
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			var t *drill.Target
			if len(target.APIs) > 0 || target.Dev != "" {
				if err := target.Check(); err != nil {
					return err
				}
				if err := target.Discover(ctx); err != nil {
					return err
				}
				t = &target
			}
			if err := sc.Validate(pol, t); err != nil {
				return err
			}
			if dryRun {
				printPlan(sc, t)
				return nil
			}
			if out == "" {
				out = filepath.Join("drills", sc.Name+"-"+time.Now().Format("20060102-150405"))
			}
			bin, err := os.Executable()
			if err != nil {
				return err
			}
			r, err := drill.Run(ctx, sc, drill.Options{
				Binary: bin, Dir: out, Target: t, Policy: pol, PolicyData: policyData,
				Progress: os.Stderr, Terminal: isTerminal(os.Stderr),
			})
			if r != nil {
				drill.WriteSummary(os.Stdout, r)
			}
			if err != nil {
				return err
			}
			if !r.Verdict.Pass {
				return errors.New("drill " + sc.Name + " failed: a promise was broken (see the problems above)")
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&out, "out", "", "directory for the reports and the topology's data and logs (default drills/<scenario>-<time>)")
	f.BoolVar(&dryRun, "dry-run", false, "check the scenario (against the target, with --api) and print its timeline, without running it")
	f.StringVar(&policyFile, "policy", "", "the routing policy the stack runs (default: the scenario's topology.policy, else the dev policy)")
	f.StringSliceVar(&target.APIs, "api", nil, "drill an existing stack: its api base URLs (repeated or comma-separated)")
	f.StringVar(&target.Dev, "dev", "", "with --api: the base URL of its fakes' /dev/outbox and /dev/faults")
	f.StringVar(&target.NATS, "nats-url", "", "with --api: its NATS URL, to read escalations and know when the stack has settled")
	f.StringVar(&target.PublicURL, "public-url", "", "with --api: the base URL its Twilio webhook signatures cover (default the first --api)")
	f.StringVar(&target.OpsToken, "ops-token", "", "with --api: an ops bearer token (secret: environment or file:/path)")
	f.StringVar(&target.AgentToken, "agent-token", "", "with --api: an agent bearer token, for the scenario's agents")
	f.StringVar(&target.IngressToken, "ingress-token", "", "with --api: an ingress bearer token for POST /v1/turns (default the ops token)")
	f.StringVar(&target.TwilioAccountSID, "twilio-account-sid", testmsg.DevTwilioAccountSID, "with --api: the Twilio account the webhooks come from")
	f.StringVar(&target.TwilioAuthToken, "twilio-auth-token", testmsg.DevTwilioAuthToken, "with --api: signs the Twilio webhooks")
	f.StringVar(&target.VonageSignatureSecret, "vonage-signature-secret", testmsg.DevVonageSignatureSecret, "with --api: signs the Vonage webhooks")
	return cmd
}

// printPlan prints the scenario's timeline.
func printPlan(sc *drill.Scenario, t *drill.Target) {
	where := fmt.Sprintf("its own topology: %d worker(s), %d api(s)", sc.Topology.Workers, sc.Topology.APIs)
	if t != nil {
		where = "the existing stack at " + t.APIs[0]
	}
	fmt.Printf("scenario %s is valid: %s of load on %s, settling for up to %s\n", sc.Name, sc.Duration, where, sc.Settle)
	faults := append([]drill.Fault(nil), sc.Faults...)
	sort.SliceStable(faults, func(i, j int) bool { return faults[i].At < faults[j].At })
	for _, f := range faults {
		fmt.Printf("  %8s – %-8s %s (line %d)\n", f.At, f.End(), f.Label(), f.Line)
	}
}

// isTerminal reports whether f is a terminal, where a progress line can be redrawn.
func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
