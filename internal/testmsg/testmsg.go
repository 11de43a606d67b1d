// Package testmsg builds customer messages as the vendors would post them: a Twilio
// incoming-message webhook with a valid X-Twilio-Signature, or a Vonage Messages API
// inbound webhook with its signed JWT. `switchboard send`, the end-to-end tests and
// the benchmark all use it, so nobody computes signatures by hand. It holds the dev
// stack's webhook credentials (DevSigner) too, so that `switchboard send` signs for
// `switchboard dev` without importing the dev stack.
//
// It imports the vendor packages' signing only; it must not import api, app or
// internal/devstack.
package testmsg

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/switchboard-cc/switchboard/providers/twilio"
	"github.com/switchboard-cc/switchboard/providers/vonage"
)

// Credentials the dev stack (`switchboard dev`) verifies webhooks with, and so the
// defaults `switchboard send` signs with. They are not secrets: they only open the dev
// stack and its fake Twilio on loopback. Twilio requires alphanumeric test
// credentials.
const (
	DevTwilioAccountSID      = "ACdev00000000000000000000000000000"
	DevTwilioAuthToken       = "devtwilioauthtoken0000000000000"
	DevVonageSignatureSecret = "dev-vonage-signature-secret"
)

// DevSigner signs as the dev stack expects, for a stack whose webhooks are computed
// over publicURL.
func DevSigner(publicURL string) Signer {
	return Signer{PublicURL: publicURL, TwilioAccountSID: DevTwilioAccountSID, TwilioAuthToken: DevTwilioAuthToken, VonageSecret: DevVonageSignatureSecret}
}

// Paths of the vendor webhooks.
const (
	TwilioPath = "/webhooks/twilio/messaging"
	VonagePath = "/webhooks/vonage/inbound"
)

// Message is one customer message.
type Message struct {
	Vendor    string // twilio or vonage
	Channel   string // sms or whatsapp
	From, To  string // customer and business addresses (E.164)
	Text      string
	MessageID string // the vendor's message id; empty: a fresh random one
}

// Signer holds the secrets the webhooks are signed with.
type Signer struct {
	// PublicURL is the base URL Twilio would call: signatures cover it.
	PublicURL        string
	TwilioAccountSID string
	TwilioAuthToken  string
	VonageSecret     string
}

// Request builds the signed webhook request for m, to be sent to baseURL (which may
// differ from PublicURL, as behind a proxy). It fills m.MessageID when empty and
// returns the id used.
func (s Signer) Request(ctx context.Context, baseURL string, m Message) (*http.Request, string, error) {
	if m.Channel == "" {
		m.Channel = "sms"
	}
	switch m.Vendor {
	case "twilio":
		if m.MessageID == "" {
			m.MessageID = "SM" + randomHex(16)
		}
		from, to := m.From, m.To
		if m.Channel == "whatsapp" {
			from, to = twilio.WhatsAppPrefix+from, twilio.WhatsAppPrefix+to
		}
		form := url.Values{
			"MessageSid": {m.MessageID}, "SmsMessageSid": {m.MessageID}, "AccountSid": {s.TwilioAccountSID},
			"From": {from}, "To": {to}, "Body": {m.Text}, "NumMedia": {"0"},
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(baseURL, "/")+TwilioPath, strings.NewReader(form.Encode()))
		if err != nil {
			return nil, "", err
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set(twilio.SignatureHeader, twilio.Sign(s.TwilioAuthToken, strings.TrimRight(s.PublicURL, "/")+TwilioPath, form))
		return req, m.MessageID, nil
	case "vonage":
		if m.MessageID == "" {
			m.MessageID = uuid.NewString()
		}
		body, err := json.Marshal(map[string]string{
			"message_uuid": m.MessageID, "from": strings.TrimPrefix(m.From, "+"), "to": strings.TrimPrefix(m.To, "+"),
			"channel": m.Channel, "message_type": "text", "text": m.Text, "timestamp": time.Now().UTC().Format(time.RFC3339),
		})
		if err != nil {
			return nil, "", err
		}
		auth, err := vonage.Sign(s.VonageSecret, body)
		if err != nil {
			return nil, "", err
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(baseURL, "/")+VonagePath, bytes.NewReader(body))
		if err != nil {
			return nil, "", err
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", auth)
		return req, m.MessageID, nil
	default:
		return nil, "", fmt.Errorf("vendor must be twilio or vonage, got %q", m.Vendor)
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
