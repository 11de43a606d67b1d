package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/switchboard-cc/switchboard/providers/health"
)

func providersCommand() *cobra.Command {
	var apiURL, token string
	cmd := &cobra.Command{
		Use:   "providers",
		Short: "Show the providers' circuit breakers, or override one",
		Example: `  switchboard providers
  switchboard providers --api http://switchboard.internal:8080
  switchboard providers override twilio open`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := bindEnv(cmd); err != nil {
				return err
			}
			var list []health.Status
			if err := callAPI(cmd.Context(), http.MethodGet, apiURL, token, "/v1/providers", nil, &list, 10*time.Second); err != nil {
				return err
			}
			return printProviders(cmd.OutOrStdout(), list, time.Now())
		},
	}
	apiFlags(cmd, &apiURL, &token)

	override := &cobra.Command{
		Use:   "override NAME open|closed|auto",
		Short: "Force a provider's breaker open or closed on every worker, or hand it back (auto)",
		Long: `Force a provider's breaker on every worker:
  open    take the provider out of rotation, whatever its results
  closed  keep it in rotation and stop counting its failures
  auto    let the breaker decide again`,
		Example: `  switchboard providers override dialogflowcx open
  switchboard providers override dialogflowcx auto`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := bindEnv(cmd); err != nil {
				return err
			}
			mode, err := health.ParseMode(args[1])
			if err != nil {
				return err
			}
			body, err := json.Marshal(map[string]string{"state": string(mode)})
			if err != nil {
				return err
			}
			var s health.Status
			path := "/v1/providers/" + url.PathEscape(args[0]) + "/override"
			if err := callAPI(cmd.Context(), http.MethodPost, apiURL, token, path, body, &s, 10*time.Second); err != nil {
				return err
			}
			return printProviders(cmd.OutOrStdout(), []health.Status{s}, time.Now())
		},
	}
	cmd.AddCommand(override)
	return cmd
}

// printProviders writes one line per provider:
//
//	NAME          STATE  OVERRIDE  REASON                                       SINCE    ERRORS  P95    CALLS
//	dialogflowcx  open   auto      5 consecutive failures: provider unavailable  42s ago  83.3%   5.0s   12
func printProviders(w io.Writer, list []health.Status, now time.Time) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tSTATE\tOVERRIDE\tREASON\tSINCE\tERRORS\tP95\tCALLS")
	for _, s := range list {
		reason := s.Reason
		if reason == "" {
			reason = "-"
		}
		since := "-"
		if !s.Since.IsZero() {
			since = max(0, now.Sub(s.Since)).Round(time.Second).String() + " ago"
		}
		errRate, p95 := "-", "-"
		if s.Calls > 0 {
			errRate = fmt.Sprintf("%.1f%%", s.ErrorRate*100)
			p95 = roundLatency(s.P95).String()
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\n",
			s.Name, s.State, s.Override, reason, since, errRate, p95, s.Calls)
	}
	return tw.Flush()
}

// roundLatency keeps two or three significant digits: 1.234567s → 1.23s, 87.6543ms → 87.7ms.
func roundLatency(d time.Duration) time.Duration {
	switch {
	case d >= time.Second:
		return d.Round(10 * time.Millisecond)
	case d >= time.Millisecond:
		return d.Round(100 * time.Microsecond)
	default:
		return d.Round(time.Microsecond)
	}
}
