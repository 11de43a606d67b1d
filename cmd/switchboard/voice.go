package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/switchboard-cc/switchboard/api"
	"github.com/switchboard-cc/switchboard/providers/routing"
)

func voiceCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "voice",
		Short: "Phone calls: the TwiML to host outside Switchboard",
	}
	var publicURL string
	fallback := &cobra.Command{
		Use:   "fallback-twiml POLICY",
		Short: "Print the Fallback URL's TwiML for a policy, for hosting elsewhere (a TwiML Bin)",
		Long: `Print the TwiML that POST /webhooks/twilio/voice/fallback answers: the policy's
voice.apology, then its first hand-off option, whose action callback (on
--public-url) tries the next. Host it where Switchboard's own failure cannot
reach, a TwiML Bin say, and make it the number's Fallback URL.`,
		Example: `  switchboard voice fallback-twiml deploy/policy.example.yaml --public-url https://switchboard.example.com`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := routing.Load(args[0])
			if err != nil {
				printPolicyErrors(cmd.ErrOrStderr(), err)
				os.Exit(1)
			}
			doc, err := api.FallbackTwiML(publicURL, p)
			if err != nil {
				return err
			}
			fmt.Println(doc)
			return nil
		},
	}
	fallback.Flags().StringVar(&publicURL, "public-url", "http://127.0.0.1:8080", "the API's public URL, where the hand-off options' action callbacks go")
	cmd.AddCommand(fallback)
	return cmd
}
