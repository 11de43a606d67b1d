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
	"github.com/switchboard-cc/switchboard/providers/routing"
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
//	NAME    STATE  OVERRIDE  REASON                                       SINCE    PROBES                    ERRORS             P95    CALLS
//	twilio  open   auto      3 consecutive failures: provider unavailable  42s ago  4 failed, last 2s ago     3.0% of 100 in 1m  5.0s   100
//
// REASON is the last transition's, followed by why the breaker tripped when that
// is another (a half-open breaker's); ERRORS is the share of the calls made within
// the breaker's window that failed, so read it with CALLS: an open breaker makes
// none.
func printProviders(w io.Writer, list []health.Status, now time.Time) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tSTATE\tOVERRIDE\tREASON\tSINCE\tPROBES\tERRORS\tP95\tCALLS")
	ago := func(t time.Time) string { return max(0, now.Sub(t)).Round(time.Second).String() + " ago" }
	for _, s := range list {
		reason := s.Reason
		if s.TripReason != "" && s.TripReason != s.Reason {
			reason += "; tripped: " + s.TripReason
		}
		if reason == "" {
			reason = "-"
		}
		since := "-"
		if !s.Since.IsZero() {
			since = ago(s.Since)
		}
		probes := "-"
		switch {
		case s.LastProbe.IsZero():
		case s.ProbeFailures > 0:
			probes = fmt.Sprintf("%d failed, last %s", s.ProbeFailures, ago(s.LastProbe))
		default:
			probes = "ok " + ago(s.LastProbe)
		}
		window := routing.FormatDuration(s.Window)
		errRate, p95 := "no calls in "+window, "-"
		if s.Calls > 0 {
			errRate = fmt.Sprintf("%.1f%% of %d in %s", s.ErrorRate*100, s.Calls, window)
			p95 = roundLatency(s.P95).String()
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\n",
			s.Name, s.State, s.Override, reason, since, probes, errRate, p95, s.Calls)
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
