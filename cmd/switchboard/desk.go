package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/switchboard-cc/switchboard/internal/turn"
)

// showCommand is `switchboard conversations show ID`: the transcript, readably.
func showCommand(apiURL, token *string) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:     "show CONVERSATION_ID",
		Short:   "Print a conversation's transcript: each turn, its providers and failover",
		Example: `  switchboard conversations show twilio-sms-2f6c0e1d7a9b41c0d3e5`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := bindEnv(cmd); err != nil {
				return err
			}
			var tr turn.Transcript
			if err := callAPI(cmd.Context(), http.MethodGet, *apiURL, *token, "/v1/conversations/"+url.PathEscape(args[0]), nil, &tr, 30*time.Second); err != nil {
				return err
			}
			if asJSON {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(tr)
			}
			return printTranscript(cmd.OutOrStdout(), tr)
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the transcript as JSON")
	return cmd
}

// printTranscript writes a transcript for a human:
//
//	conversation twilio-sms-…  (twilio sms, +15551230001 → +15550001000)  status active
//	#1 13:01:02  customer: where is my order
//	   nlu    cx-europe (12ms) → order.status   after cx-global: unavailable …
//	   reply  vonage (3ms): Your order ships today.   after twilio: …
//	   status replied
func printTranscript(w io.Writer, tr turn.Transcript) error {
	var b strings.Builder
	fmt.Fprintf(&b, "conversation %s  (%s %s, %s -> %s)  status %s\n", tr.ConversationID, tr.Vendor, tr.Channel, tr.Customer, tr.Business, tr.Status)
	if e := tr.Escalation; e != nil {
		fmt.Fprintf(&b, "escalation %s  %s in %s", e.ID, e.State, e.Queue)
		if e.Agent != "" {
			fmt.Fprintf(&b, " by %s", e.Agent)
		}
		fmt.Fprintf(&b, ": %s\n", e.Reason)
	}
	if s := tr.Stuck; s != nil {
		for _, r := range s.Reasons {
			fmt.Fprintf(&b, "stuck on %s since %s: %s\n", r.Source, r.Since.UTC().Format(time.RFC3339), r.Detail)
		}
	}
	if tr.Pending > 0 {
		fmt.Fprintf(&b, "%d turn(s) pending\n", tr.Pending)
	}
	for _, o := range tr.Turns {
		at := "--:--:--"
		if !o.ReceivedAt.IsZero() {
			at = o.ReceivedAt.UTC().Format("15:04:05")
		}
		fmt.Fprintf(&b, "#%d %s  customer: %s\n", o.Seq, at, o.Text)
		failed := map[string][]string{}
		for _, f := range o.Failover {
			failed[f.Step] = append(failed[f.Step], f.Provider+": "+f.Error)
		}
		if o.NLUProvider != "" {
			fmt.Fprintf(&b, "   nlu    %s", o.NLUProvider)
			if o.NLUDuration > 0 {
				fmt.Fprintf(&b, " (%s)", o.NLUDuration.Round(time.Millisecond/10))
			}
			if o.Intent != "" {
				fmt.Fprintf(&b, " -> %s", o.Intent)
			}
			b.WriteString("\n")
		}
		for _, f := range failed["nlu"] {
			fmt.Fprintf(&b, "          failed over from %s\n", f)
		}
		for _, h := range o.Hedged {
			fmt.Fprintf(&b, "          also asked %s: %s\n", h.Provider, h.Error)
		}
		if o.Reply != "" {
			via := o.CPaaSProvider
			if via == "" {
				via = "(not sent)"
			}
			fmt.Fprintf(&b, "   reply  %s", via)
			if o.CPaaSDuration > 0 {
				fmt.Fprintf(&b, " (%s)", o.CPaaSDuration.Round(time.Millisecond/10))
			}
			fmt.Fprintf(&b, ": %s\n", o.Reply)
		}
		for _, f := range failed["cpaas"] {
			fmt.Fprintf(&b, "          failed over from %s\n", f)
		}
		status := o.Status
		if o.Replayed {
			status += " (replayed)"
		}
		if o.Reason != "" {
			status += ": " + o.Reason
		}
		if o.Escalation != "" {
			status += "; escalated: " + o.Escalation
		}
		fmt.Fprintf(&b, "   status %s\n", status)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// deskCommand is the agent desk without curl.
func deskCommand() *cobra.Command {
	var apiURL, token, agent string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "desk",
		Short: "The agent desk: list, claim, reply to and resolve escalations",
		Long: `The agent desk. An escalation's id is its conversation's id, "/esc-" and a number
(as claim and list print it); reply and resolve take it alone. The token is an agent
or ops token (--token, SWITCHBOARD_TOKEN).`,
	}
	apiFlags(cmd, &apiURL, &token)
	cmd.PersistentFlags().StringVar(&agent, "agent", "", "the agent's name (claim, reply, resolve)")
	cmd.PersistentFlags().BoolVar(&asJSON, "json", false, "print the API's JSON answer")
	printOut := func(cmd *cobra.Command, es ...turn.Escalation) error {
		if asJSON {
			enc := json.NewEncoder(cmd.OutOrStdout())
			enc.SetIndent("", "  ")
			if len(es) == 1 {
				return enc.Encode(es[0])
			}
			return enc.Encode(es)
		}
		return printEscalations(cmd.OutOrStdout(), es)
	}
	needAgent := func() error {
		if agent == "" {
			return fmt.Errorf("--agent is required")
		}
		return nil
	}
	act := func(cmd *cobra.Command, action, escID, text string) error {
		if err := bindEnv(cmd); err != nil {
			return err
		}
		if err := needAgent(); err != nil {
			return err
		}
		conv, ok := escalationConversation(escID)
		if !ok {
			return fmt.Errorf("%q is not an escalation id (<conversation id>/esc-<n>)", escID)
		}
		body, _ := json.Marshal(map[string]string{"escalation_id": escID, "agent": agent, "text": text})
		var e turn.Escalation
		if err := callAPI(cmd.Context(), http.MethodPost, apiURL, token, "/v1/conversations/"+url.PathEscape(conv)+"/escalation/"+action, body, &e, time.Minute); err != nil {
			return err
		}
		return printOut(cmd, e)
	}
	list := &cobra.Command{
		Use:   "list QUEUE",
		Short: "List the escalations waiting in a queue",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := bindEnv(cmd); err != nil {
				return err
			}
			var got struct {
				Escalations []turn.Escalation `json:"escalations"`
			}
			if err := callAPI(cmd.Context(), http.MethodGet, apiURL, token, "/v1/queues/"+url.PathEscape(args[0])+"/escalations", nil, &got, 30*time.Second); err != nil {
				return err
			}
			return printOut(cmd, got.Escalations...)
		},
	}
	claim := &cobra.Command{
		Use:     "claim QUEUE",
		Short:   "Claim the next escalation waiting in a queue",
		Example: `  switchboard desk claim tier1 --agent ann`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := bindEnv(cmd); err != nil {
				return err
			}
			if err := needAgent(); err != nil {
				return err
			}
			body, _ := json.Marshal(map[string]string{"agent": agent})
			var e turn.Escalation
			if err := callAPI(cmd.Context(), http.MethodPost, apiURL, token, "/v1/queues/"+url.PathEscape(args[0])+"/claim", body, &e, time.Minute); err != nil {
				return err
			}
			return printOut(cmd, e)
		},
	}
	reply := &cobra.Command{
		Use:     "reply ESCALATION_ID TEXT...",
		Short:   "Send the customer a message as the agent",
		Example: `  switchboard desk reply twilio-sms-…/esc-1 --agent ann "Hi, Ann here."`,
		Args:    cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return act(cmd, "reply", args[0], strings.Join(args[1:], " "))
		},
	}
	resolve := &cobra.Command{
		Use:   "resolve ESCALATION_ID",
		Short: "Resolve an escalation: the conversation is the bot's again",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return act(cmd, "resolve", args[0], "")
		},
	}
	cmd.AddCommand(list, claim, reply, resolve)
	return cmd
}

// escalationConversation is the conversation an escalation id belongs to.
func escalationConversation(escID string) (string, bool) {
	i := strings.LastIndex(escID, "/esc-")
	if i <= 0 || i+len("/esc-") == len(escID) {
		return "", false
	}
	return escID[:i], true
}

func printEscalations(w io.Writer, es []turn.Escalation) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ESCALATION\tSTATE\tQUEUE\tAGENT\tCUSTOMER\tREASON\tLAST TEXT")
	for _, e := range es {
		agent := e.Agent
		if agent == "" {
			agent = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", e.ID, e.State, e.Queue, agent, e.Customer, e.Reason, e.LastText)
	}
	return tw.Flush()
}
