package main

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/switchboard-cc/switchboard/internal/turn"
)

func replayCommand() *cobra.Command {
	var (
		apiURL, token string
		stuck, dryRun bool
		sendUnknown   bool
		rate          float64
		limit         int
	)
	cmd := &cobra.Command{
		Use:   "replay [CONVERSATION_ID]",
		Short: "Replay a stuck conversation, or every stuck one (--stuck), oldest first",
		Long: `replay moves stuck conversations on. For each it
  - hands the turns held in JetStream to the conversation workflow, in order (a turn
    the workflow already has is recognised by its id and not processed twice);
  - sends the replies no CPaaS provider could send, with their original idempotency
    keys (a reply that did leave is found in the send ledger and not sent again),
    prefixed with the policy's apology if they are stale, or not sent if the policy
    says to suppress stale replies;
  - puts an escalation no queue acknowledged back on its first queue.

A reply whose delivery is unknown (its send timed out after the vendor got it) is
never sent blind: the replay asks the vendor first (Twilio's message list) and sends
only if the vendor does not have it. A vendor that cannot be asked (Vonage) leaves it
stuck, unless --send-unknown says you accept a possible duplicate over silence.

--rate paces the conversations; the API also paces the turns and replies it
re-drives, so a recovering vendor is not flooded. --dry-run says what would be done.`,
		Example: `  switchboard replay --stuck --dry-run
  switchboard replay --stuck --rate 2
  switchboard replay twilio-sms-2f6c0e1d7a9b41c0d3e5`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := bindEnv(cmd); err != nil {
				return err
			}
			switch {
			case stuck == (len(args) == 1):
				return errors.New("give one conversation id, or --stuck")
			case rate <= 0 || rate > 100:
				return errors.New("--rate must be between 0 and 100 conversations per second")
			}
			ids := args
			if stuck {
				got, err := fetchStuck(cmd, apiURL, token, url.Values{"status": {"stuck"}})
				if err != nil {
					var ae *apiError
					if errors.As(err, &ae) || len(got.Conversations) == 0 {
						return err
					}
					fmt.Fprintln(cmd.ErrOrStderr(), "warning:", err)
				}
				for _, s := range got.Conversations { // oldest first
					ids = append(ids, s.ConversationID)
				}
				if limit > 0 && len(ids) > limit {
					ids = ids[:limit]
				}
				fmt.Fprintf(cmd.ErrOrStderr(), "%d stuck conversation(s), oldest first, %.3g/s\n", len(ids), rate)
			}
			q := url.Values{}
			if dryRun {
				q.Set("dry_run", "true")
			}
			if sendUnknown {
				q.Set("send_unknown", "true")
			}
			path := "/replay"
			if len(q) > 0 {
				path += "?" + q.Encode()
			}
			tick := time.NewTicker(time.Duration(float64(time.Second) / rate))
			defer tick.Stop()
			failed := 0
			for i, id := range ids {
				if i > 0 {
					select {
					case <-cmd.Context().Done():
						return cmd.Context().Err()
					case <-tick.C:
					}
				}
				var rep turn.ReplayReport
				err := callAPI(cmd.Context(), http.MethodPost, apiURL, token, "/v1/conversations/"+url.PathEscape(id)+path, nil, &rep, 5*time.Minute)
				if err != nil && rep.ConversationID == "" {
					failed++
					fmt.Fprintf(cmd.OutOrStdout(), "%s\tFAILED\t%v\n", id, err)
					continue
				}
				if err != nil {
					failed++
				}
				printReplay(cmd.OutOrStdout(), rep)
			}
			if failed > 0 {
				return fmt.Errorf("%d of %d replays failed", failed, len(ids))
			}
			return nil
		},
	}
	apiFlags(cmd, &apiURL, &token)
	cmd.Flags().BoolVar(&stuck, "stuck", false, "replay every stuck conversation, oldest first")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "say what would be replayed, change nothing")
	cmd.Flags().BoolVar(&sendUnknown, "send-unknown", false, "send replies of unknown delivery even when the vendor cannot be asked whether it has them (a possible duplicate)")
	cmd.Flags().Float64Var(&rate, "rate", 1, "conversations replayed per second")
	cmd.Flags().IntVar(&limit, "limit", 0, "with --stuck, replay at most this many (0: all)")
	return cmd
}

// printReplay writes one line per conversation:
//
//	twilio-sms-2f6c...  replayed  redelivered 2 (1 duplicate)  resent 1  reopened -
func printReplay(w io.Writer, r turn.ReplayReport) {
	state := "replayed"
	switch {
	case r.Error != "":
		state = "FAILED"
	case r.DryRun:
		state = "would replay"
	}
	dup := 0
	for _, d := range r.Redelivered {
		if d.Result == "duplicate" {
			dup++
		}
	}
	resent := []string{}
	for _, o := range r.Resent {
		resent = append(resent, fmt.Sprintf("turn %d %s", o.Seq, o.Status))
	}
	if r.DryRun {
		resent = r.Resend
	}
	reopened := "-"
	if r.Reopened != "" {
		reopened = r.Reopened
	}
	fmt.Fprintf(w, "%s\t%s\tredelivered %d (%d duplicate)\tresent [%s]\treopened %s", r.ConversationID, state, len(r.Redelivered), dup, strings.Join(resent, ", "), reopened)
	if r.Error != "" {
		fmt.Fprintf(w, "\terror: %s", r.Error)
	}
	fmt.Fprintln(w)
}
