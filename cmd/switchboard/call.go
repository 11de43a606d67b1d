//go:build !slim

package main

import (
	"cmp"
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/switchboard-cc/switchboard/api"
	"github.com/switchboard-cc/switchboard/internal/testmsg"
	"github.com/switchboard-cc/switchboard/providers/fake"
)

func callCommand() *cobra.Command {
	var (
		c       fake.Caller
		apiURL  string
		timeout time.Duration
	)
	cmd := &cobra.Command{
		Use:   "call",
		Short: "Call a Twilio number's Voice URL as a fake caller, and print what the caller heard and when",
		Long: `The fake caller follows Switchboard's TwiML as Twilio does: it hears each <Say>, says
the next --say line at each <Gather> ("" for silence, dtmf:1 for keys), follows
<Redirect>, <Enqueue> and <Dial> and their action callbacks (--dial-result and
--queue-result answer them), signs its requests, and goes to the Fallback URL when a
request fails or runs out of time. It hangs up when its lines run out.`,
		Example: `  switchboard call --say "where is my order" --say "talk to a human"
  switchboard call --say "talk to a human" --queue-result error --dial-result no-answer`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := bindEnv(cmd); err != nil {
				return err
			}
			// The number's webhooks, as its Twilio console would hold them. The
			// API's --public-url must be this URL, which the signatures cover.
			base := strings.TrimRight(apiURL, "/")
			c.VoiceURL, c.FallbackURL, c.StatusURL = base+api.VoicePath, base+api.VoiceFallbackPath, base+api.VoiceStatusPath
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			call, err := c.Run(ctx)
			if call != nil {
				printCall(call)
			}
			if err != nil {
				return err
			}
			if call.End == "application error" {
				os.Exit(2)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&apiURL, "api", "http://127.0.0.1:8080", "the API the number's webhooks point at")
	f.StringVar(&c.From, "from", "+15551230001", "the caller")
	f.StringVar(&c.To, "to", "+15550001000", "the business number called")
	f.StringArrayVar(&c.Script, "say", nil, "what the caller says at each gather, in order (repeat)")
	f.StringArrayVar(&c.DialResults, "dial-result", nil, "DialCallStatus of each <Dial>, in order (default completed)")
	f.StringArrayVar(&c.QueueResults, "queue-result", nil, "QueueResult of each <Enqueue>, in order (default bridged)")
	f.StringVar(&c.AccountSID, "twilio-account-sid", testmsg.DevTwilioAccountSID, "AccountSid of the requests")
	f.StringVar(&c.AuthToken, "twilio-auth-token", testmsg.DevTwilioAuthToken, "Twilio auth token to sign with")
	f.DurationVar(&timeout, "timeout", 2*time.Minute, "give up on the call after this long")
	return cmd
}

// printCall prints the call's timeline: what the caller said and heard, and each
// hand-off, with their times since the call began.
func printCall(c *fake.Call) {
	type event struct {
		at   time.Duration
		line string
	}
	var events []event
	for i, at := range c.Spoke {
		events = append(events, event{at, fmt.Sprintf("caller says (line %d)", i+1)})
	}
	for _, h := range c.Heard {
		events = append(events, event{h.At, "heard: " + h.Text})
	}
	slices.SortStableFunc(events, func(a, b event) int { return cmp.Compare(a.at, b.at) })
	fmt.Printf("call %s\n", c.SID)
	for _, e := range events {
		fmt.Printf("%8s  %s\n", e.at.Round(time.Millisecond), e.line)
	}
	for _, h := range c.Handoffs {
		fmt.Printf("          hand-off: %s\n", h)
	}
	for _, r := range c.Requests {
		if r.Err != "" {
			fmt.Printf("          request %s failed after %s: %s\n", r.URL, r.Took.Round(time.Millisecond), r.Err)
		}
	}
	fmt.Printf("ended: %s\n", c.End)
}
