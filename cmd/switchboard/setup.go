package main

import (
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/switchboard-cc/switchboard/internal/app"
	"github.com/switchboard-cc/switchboard/internal/conversations"
	"github.com/switchboard-cc/switchboard/workflows"
)

// defaultSetupWait is how long `setup --wait` keeps trying.
const defaultSetupWait = 5 * time.Minute

func setupCommand() *cobra.Command {
	var (
		cfg      app.Config
		wait     = waitFlag(0)
		settle   time.Duration
		logLevel string
	)
	cmd := &cobra.Command{
		Use:   "setup",
		Short: "Prepare an external Temporal namespace for Switchboard: register its search attributes",
		Long: `setup registers the search attributes that the conversation workflows keep up to date
(` + conversations.DescribeSearchAttributes(workflows.SearchAttributes()) + `)
on a Temporal namespace, through the operator service. Run it once per namespace before the
first ` + "`switchboard serve`" + `, and on every deploy: it is idempotent. An attribute that already exists
with another type is an error that names it; nothing is changed then.

It connects as serve does (the same --temporal-* flags and SWITCHBOARD_* variables). The
namespace must exist. With --wait it keeps trying while Temporal does not answer or the
namespace does not exist yet (a compose service or a Kubernetes Job started alongside
Temporal), for 5 minutes, or as long as --wait=DURATION says.

Every flag can also be set with SWITCHBOARD_<FLAG>. Secrets (the API key) should come from
the environment, or from a file: a value "file:/path" is read from that file.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := bindEnv(cmd); err != nil {
				return err
			}
			if err := readSecret("temporal-api-key", &cfg.TemporalAPIKey); err != nil {
				return err
			}
			log := newLogger(logLevel)
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			want := workflows.SearchAttributes()
			topts, err := app.TemporalClientOptions(cfg, log)
			if err != nil {
				return err
			}
			added, err := conversations.Setup(ctx, topts, conversations.SetupOptions{
				SearchAttributes: want, Wait: time.Duration(wait), Settle: settle,
			}, log)
			if err != nil {
				return fmt.Errorf("setup of namespace %s at %s: %w", cfg.Namespace, cfg.TemporalAddr, err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "switchboard setup: namespace %s at %s has its %d search attributes (%d added, %d already there)\n",
				cfg.Namespace, cfg.TemporalAddr, len(want), len(added), len(want)-len(added))
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.TemporalAddr, "temporal-address", "127.0.0.1:7233", "Temporal frontend host:port")
	f.StringVar(&cfg.Namespace, "temporal-namespace", "default", "Temporal namespace")
	f.BoolVar(&cfg.TemporalTLS, "temporal-tls", false, "dial Temporal over TLS")
	f.StringVar(&cfg.TemporalCAFile, "temporal-ca", "", "CA bundle for Temporal TLS")
	f.StringVar(&cfg.TemporalAPIKey, "temporal-api-key", "", "Temporal API key (secret: environment or file:/path)")
	f.Var(&wait, "wait", "keep trying while Temporal does not answer or the namespace does not exist yet: --wait (5m) or --wait=DURATION")
	f.Lookup("wait").NoOptDefVal = "true"
	f.DurationVar(&settle, "settle", 10*time.Second, "after adding attributes, wait this long for every Temporal service to reload the namespace (longer than the cluster's system.namespaceCacheRefreshInterval)")
	f.StringVar(&logLevel, "log-level", "info", "debug, info, warn or error")
	return cmd
}

// waitFlag is a duration that also accepts true (the default wait) and false (none),
// so that --wait and SWITCHBOARD_WAIT=true both work.
type waitFlag time.Duration

func (w *waitFlag) String() string { return time.Duration(*w).String() }
func (w *waitFlag) Type() string   { return "duration" }

func (w *waitFlag) Set(s string) error {
	if b, err := strconv.ParseBool(strings.TrimSpace(s)); err == nil {
		*w = 0
		if b {
			*w = waitFlag(defaultSetupWait)
		}
		return nil
	}
	d, err := time.ParseDuration(strings.TrimSpace(s))
	if err != nil || d < 0 {
		return fmt.Errorf("want true, false or a duration such as 10m, got %q", s)
	}
	*w = waitFlag(d)
	return nil
}
