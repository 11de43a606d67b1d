package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/switchboard-cc/switchboard/api"
	"github.com/switchboard-cc/switchboard/internal/conversations"
	"github.com/switchboard-cc/switchboard/internal/turn"
	"github.com/switchboard-cc/switchboard/workflows"
)

func conversationsCommand() *cobra.Command {
	var apiURL, token string
	cmd := &cobra.Command{
		Use:   "conversations",
		Short: "List conversations (the most recent, by customer, by status, or the stuck ones) and show one",
	}
	apiFlags(cmd, &apiURL, &token)
	var (
		stuck    bool
		status   string
		customer string
		asJSON   bool
		limit    int
	)
	list := &cobra.Command{
		Use:   "list",
		Short: "List conversations: the most recent (--limit), or by --customer or --status; --stuck lists those waiting for a replay, oldest first",
		Example: `  switchboard conversations list
  switchboard conversations list --stuck
  switchboard conversations list --status waiting_human
  switchboard conversations list --customer +15551230000 --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := bindEnv(cmd); err != nil {
				return err
			}
			if stuck {
				if status != "" && status != workflows.StatusStuck {
					return errors.New("--stuck and --status disagree")
				}
				status = workflows.StatusStuck
			}
			q := url.Values{}
			if status != "" {
				q.Set("status", status)
			}
			if customer != "" {
				q.Set("customer", customer)
			}
			if limit < 1 || limit > 1000 {
				return errors.New("--limit must be between 1 and 1000")
			}
			if status != workflows.StatusStuck {
				q.Set("limit", fmt.Sprint(limit))
			}
			if status == workflows.StatusStuck {
				got, err := fetchStuck(cmd, apiURL, token, q)
				if asJSON {
					if jerr := json.NewEncoder(cmd.OutOrStdout()).Encode(got.Conversations); jerr != nil {
						return jerr
					}
				} else if perr := printStuck(cmd.OutOrStdout(), got.Conversations, time.Now()); perr != nil {
					return perr
				}
				return err
			}
			var got struct {
				Conversations []conversations.Summary `json:"conversations"`
			}
			if err := callAPI(cmd.Context(), http.MethodGet, apiURL, token, "/v1/conversations?"+q.Encode(), nil, &got, 30*time.Second); err != nil {
				return err
			}
			if asJSON {
				return json.NewEncoder(cmd.OutOrStdout()).Encode(got.Conversations)
			}
			return printSummaries(cmd.OutOrStdout(), got.Conversations)
		},
	}
	list.Flags().BoolVar(&stuck, "stuck", false, "list the stuck conversations (same as --status stuck)")
	list.Flags().StringVar(&status, "status", "", "active, waiting_human, stuck or closed")
	list.Flags().StringVar(&customer, "customer", "", "the customer's address, e.g. +15551230000")
	list.Flags().BoolVar(&asJSON, "json", false, "print JSON instead of a table")
	list.Flags().IntVar(&limit, "limit", api.DefaultRecentLimit, "at most this many conversations (visibility lags a few seconds)")
	cmd.AddCommand(list, showCommand(&apiURL, &token))
	return cmd
}

type stuckList struct {
	Conversations []turn.Stuck `json:"conversations"`
	Problems      []string     `json:"problems"`
}

// fetchStuck gets the stuck list. A partial list (a source unreadable) comes back
// with an error naming what is missing.
func fetchStuck(cmd *cobra.Command, apiURL, token string, q url.Values) (stuckList, error) {
	var got stuckList
	err := callAPI(cmd.Context(), http.MethodGet, apiURL, token, "/v1/conversations?"+q.Encode(), nil, &got, time.Minute)
	if len(got.Problems) > 0 {
		return got, fmt.Errorf("the list is partial: %s", strings.Join(got.Problems, "; "))
	}
	return got, err
}

// printStuck writes one line per stuck conversation, oldest first:
//
//	CONVERSATION                    STUCK FOR  ON          TURNS  DETAIL
//	twilio-sms-2f6c0e1d7a9b41c0d3e5  12m3s      unanswered  2      2 turn(s) unanswered; the last: ...
func printStuck(w io.Writer, list []turn.Stuck, now time.Time) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "CONVERSATION\tSTUCK FOR\tON\tTURNS\tDETAIL")
	for _, s := range list {
		var on []string
		turns := 0
		for _, r := range s.Reasons {
			on = append(on, r.Source)
			turns += len(r.Turns)
		}
		age := "-"
		if !s.Since.IsZero() {
			age = max(0, now.Sub(s.Since)).Round(time.Second).String()
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\n", s.ConversationID, age, strings.Join(on, ","), turns, s.Reasons[0].Detail)
	}
	return tw.Flush()
}

func printSummaries(w io.Writer, list []conversations.Summary) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "CONVERSATION\tSTATUS\tCHANNEL\tTURNS\tLAST TURN")
	for _, s := range list {
		last := "-"
		if s.LastTurnAt != nil {
			last = s.LastTurnAt.UTC().Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\n", s.ConversationID, s.Status, s.Channel, s.Turns, last)
	}
	return tw.Flush()
}
