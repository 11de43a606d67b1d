package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/switchboard-cc/switchboard/internal/testmsg"
)

func sendCommand() *cobra.Command {
	var (
		m      testmsg.Message
		s      testmsg.Signer
		apiURL string
	)
	cmd := &cobra.Command{
		Use:   "send",
		Short: "Send a signed test message to a webhook, as Twilio or Vonage would",
		Example: `  switchboard send --vendor twilio --from +15551230001 --to +15550001000 --text "where is my order"
  switchboard send --vendor vonage --channel whatsapp --from +447700900001 --to +447700900000 --text hello`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := bindEnv(cmd); err != nil {
				return err
			}
			if s.PublicURL == "" {
				s.PublicURL = apiURL
			}
			req, id, err := s.Request(cmd.Context(), apiURL, m)
			if err != nil {
				return err
			}
			resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
			fmt.Printf("%s message %s → %s\n%s\n", m.Vendor, id, resp.Status, body)
			if resp.StatusCode >= 300 {
				os.Exit(2)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&m.Vendor, "vendor", "twilio", "twilio or vonage")
	f.StringVar(&m.Channel, "channel", "sms", "sms or whatsapp")
	f.StringVar(&m.From, "from", "+15551230001", "customer address")
	f.StringVar(&m.To, "to", "+15550001000", "business address")
	f.StringVar(&m.Text, "text", "hello", "message text")
	f.StringVar(&m.MessageID, "message-id", "", "vendor message id (default: a fresh one; repeat one to test deduplication)")
	f.StringVar(&apiURL, "api", "http://127.0.0.1:8080", "where to post the webhook")
	f.StringVar(&s.PublicURL, "public-url", "", "URL the signature covers (default: --api)")
	f.StringVar(&s.TwilioAccountSID, "twilio-account-sid", testmsg.DevTwilioAccountSID, "AccountSid in the Twilio webhook")
	f.StringVar(&s.TwilioAuthToken, "twilio-auth-token", testmsg.DevTwilioAuthToken, "Twilio auth token to sign with")
	f.StringVar(&s.VonageSecret, "vonage-signature-secret", testmsg.DevVonageSignatureSecret, "Vonage signature secret to sign with")
	return cmd
}
