package twilio

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"fmt"
	"net/url"
	"sort"
	"strings"

	"github.com/twilio/twilio-go/client"
)

// SignatureHeader is the header in which Twilio signs the webhooks it posts.
const SignatureHeader = "X-Twilio-Signature"

// Inbound is a message a customer sent, as Twilio's incoming-message webhook
// describes it. Addresses are channel-neutral: the whatsapp: prefix is removed and
// shows in Channel instead.
type Inbound struct {
	MessageSID string
	AccountSID string
	From       string
	To         string
	Body       string
	Channel    string // "sms" or "whatsapp"
}

// ParseInbound reads the form of an incoming-message webhook. It does not check the
// signature: call Verify first.
func ParseInbound(form url.Values) (Inbound, error) {
	in := Inbound{
		MessageSID: form.Get("MessageSid"),
		AccountSID: form.Get("AccountSid"),
		From:       form.Get("From"),
		To:         form.Get("To"),
		// An empty Body is legitimate (a media-only message), so only its
		// presence is not required.
		Body: form.Get("Body"),
	}
	in.Channel = "sms"
	if strings.HasPrefix(in.From, WhatsAppPrefix) {
		in.Channel = "whatsapp"
		in.From = strings.TrimPrefix(in.From, WhatsAppPrefix)
		in.To = strings.TrimPrefix(in.To, WhatsAppPrefix)
	}
	// Checked after the prefix is gone: "whatsapp:" alone is no address.
	for _, f := range []struct{ name, v string }{
		{"MessageSid", in.MessageSID},
		{"AccountSid", in.AccountSID},
		{"From", in.From},
		{"To", in.To},
	} {
		if f.v == "" {
			return Inbound{}, fmt.Errorf("twilio inbound webhook: %s is missing", f.name)
		}
	}
	return in, nil
}

// Verify reports whether signature is Twilio's signature of a webhook posted to
// fullURL (scheme, host, path and query exactly as Twilio was configured to call)
// with form as its body. It uses twilio-go's validator, so Switchboard accepts
// exactly what Twilio documents.
func Verify(authToken, fullURL string, form url.Values, signature string) bool {
	if authToken == "" || signature == "" {
		return false
	}
	params := make(map[string]string, len(form))
	for k, vs := range form {
		if len(vs) > 0 {
			params[k] = vs[0]
		}
	}
	v := client.NewRequestValidator(authToken)
	return v.Validate(fullURL, params, signature)
}

// Sign computes the X-Twilio-Signature Twilio would send for a webhook posted to
// fullURL with form as its body: base64 of HMAC-SHA1, keyed with the auth token, over
// the URL followed by every parameter's name and value, sorted by name. It lets tests
// and the dev CLI post inbound messages that Verify accepts.
//
// Like twilio-go's validator, it signs only the first value of a repeated
// parameter; Twilio's incoming-message webhooks never repeat one.
func Sign(authToken, fullURL string, form url.Values) string {
	mac := hmac.New(sha1.New, []byte(authToken))
	mac.Write([]byte(signedString(fullURL, form)))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// signedString is what the signature covers: the URL, then every parameter's name
// and first value, sorted by name, with nothing between them.
func signedString(fullURL string, form url.Values) string {
	keys := make([]string, 0, len(form))
	for k := range form {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString(fullURL)
	for _, k := range keys {
		b.WriteString(k)
		b.WriteString(form.Get(k))
	}
	return b.String()
}
