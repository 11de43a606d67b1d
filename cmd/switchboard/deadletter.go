package main

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/switchboard-cc/switchboard/internal/streams"
)

func deadLetterCommand() *cobra.Command {
	var (
		apiURL, token string
		limit         int
	)
	cmd := &cobra.Command{
		Use:   "deadletter",
		Short: "List the turns the bridge dead-lettered, and re-drive them",
		Long: `The bridge dead-letters a turn it can never hand to its workflow: a malformed turn,
one the workflow's validator rejected, or one that failed too often for no known
reason. They are kept in the JetStream stream SWITCHBOARD_DEADLETTER with the reason.

  list     the dead-lettered turns, oldest first, with the reason
  replay   publish each again to the turns stream, on its conversation's partition,
           and remove it from the dead-letter stream; the bridge then hands it to
           its workflow as any other turn. A turn the workflow already has is
           recognised by its id and not processed twice; a replay that is run twice
           stores nothing twice. Malformed turns cannot be replayed and stay.

Both talk to the API with the ops token, as replay and conversations do.`,
		Example: `  switchboard deadletter list
  switchboard deadletter replay --dry-run
  switchboard deadletter replay --limit 100`,
	}
	list := &cobra.Command{
		Use:   "list",
		Short: "List the dead-lettered turns, oldest first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := bindEnv(cmd); err != nil {
				return err
			}
			var got struct {
				DeadLetters []streams.DeadLetter `json:"dead_letters"`
			}
			if err := callAPI(cmd.Context(), http.MethodGet, apiURL, token, "/v1/deadletter"+limitQuery(limit, false), nil, &got, 3*time.Minute); err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if len(got.DeadLetters) == 0 {
				fmt.Fprintln(w, "the dead-letter stream is empty")
				return nil
			}
			for _, d := range got.DeadLetters {
				printDeadLetter(w, d, "")
			}
			return nil
		},
	}
	var dryRun bool
	replay := &cobra.Command{
		Use:   "replay",
		Short: "Re-drive the dead-lettered turns through the turns stream",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := bindEnv(cmd); err != nil {
				return err
			}
			var rep streams.DeadLetterReplay
			err := callAPI(cmd.Context(), http.MethodPost, apiURL, token, "/v1/deadletter/replay"+limitQuery(limit, dryRun), nil, &rep, 3*time.Minute)
			var ae *apiError
			if err != nil && !(errors.As(err, &ae) && len(rep.Entries) > 0) {
				return err
			}
			w := cmd.OutOrStdout()
			counts := map[string]int{}
			for _, e := range rep.Entries {
				counts[e.Result]++
				detail := e.Result
				if e.TurnsSequence > 0 {
					detail += " as turns stream sequence " + strconv.FormatUint(e.TurnsSequence, 10)
				}
				if e.Problem != "" {
					detail += ": " + e.Problem
				}
				printDeadLetter(w, e.DeadLetter, detail)
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "%d dead-lettered turn(s): %d republished, %d duplicate, %d would republish, %d kept (malformed), %d failed\n",
				len(rep.Entries), counts["republished"], counts["duplicate"], counts["would_republish"], counts["kept_malformed"], counts["failed"])
			if err != nil {
				return err
			}
			if counts["failed"] > 0 {
				return fmt.Errorf("%d of %d dead-lettered turns not republished", counts["failed"], len(rep.Entries))
			}
			return nil
		},
	}
	replay.Flags().BoolVar(&dryRun, "dry-run", false, "say what would be replayed, change nothing")
	cmd.AddCommand(list, replay)
	apiFlags(cmd, &apiURL, &token)
	cmd.PersistentFlags().IntVar(&limit, "limit", 0, "at most this many dead-lettered turns, oldest first (0: all, up to 10000)")
	return cmd
}

func limitQuery(limit int, dryRun bool) string {
	q := url.Values{}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	if dryRun {
		q.Set("dry_run", "true")
	}
	if len(q) == 0 {
		return ""
	}
	return "?" + q.Encode()
}

// printDeadLetter writes one line per dead-lettered turn:
//
//	3  2026-12-03T11:59:37Z  api:m1  api:conv-1  turns seq 2  text is not allowed  [detail]
func printDeadLetter(w io.Writer, d streams.DeadLetter, detail string) {
	id, conv := d.TurnID, d.ConversationID
	if d.Malformed != "" {
		id, conv = "(malformed)", d.Subject
	}
	fmt.Fprintf(w, "%d\t%s\t%s\t%s\tturns seq %d\t%s", d.Sequence, d.Time.UTC().Format(time.RFC3339), id, conv, d.StreamSequence, d.Error)
	if detail != "" {
		fmt.Fprintf(w, "\t%s", detail)
	}
	fmt.Fprintln(w)
}
