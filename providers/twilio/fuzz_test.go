package twilio_test

import (
	"net/url"
	"strings"
	"testing"

	"github.com/switchboard-cc/switchboard/internal/fuzzedit"
	"github.com/switchboard-cc/switchboard/providers/twilio"
)

// Webhook bodies as Twilio posts them (form-encoded, every parameter Twilio sends),
// the seeds of the fuzz targets below.
const (
	realSMSBody = "ToCountry=US&ToState=CA&SmsMessageSid=SM0123456789abcdef0123456789abcdef&NumMedia=0" +
		"&ToCity=SAN+FRANCISCO&FromZip=94105&SmsSid=SM0123456789abcdef0123456789abcdef&FromState=CA" +
		"&SmsStatus=received&FromCity=SAN+FRANCISCO&Body=Where+is+my+order%3F&FromCountry=US" +
		"&To=%2B15550001000&ToZip=94105&NumSegments=1&MessageSid=SM0123456789abcdef0123456789abcdef" +
		"&AccountSid=AC0123456789abcdef0123456789abcdef&From=%2B15557654321&ApiVersion=2010-04-01"
	realWhatsAppBody = "SmsMessageSid=SMfedcba9876543210fedcba9876543210&NumMedia=0&ProfileName=Ann" +
		"&MessageType=text&SmsSid=SMfedcba9876543210fedcba9876543210&WaId=15557654321&SmsStatus=received" +
		"&Body=hola%2C+%C2%BFest%C3%A1n+abiertos%3F&To=whatsapp%3A%2B15550001000&NumSegments=1&ReferralNumMedia=0" +
		"&MessageSid=SMfedcba9876543210fedcba9876543210&AccountSid=AC0123456789abcdef0123456789abcdef" +
		"&From=whatsapp%3A%2B15557654321&ApiVersion=2010-04-01"
	realMediaBody = "NumMedia=1&MediaContentType0=image%2Fjpeg&MediaUrl0=https%3A%2F%2Fapi.twilio.com%2F2010-04-01%2FAccounts%2FAC1%2FMessages%2FMM1%2FMedia%2FME1" +
		"&Body=&MessageSid=MM0123456789abcdef0123456789abcdef&AccountSid=AC0123456789abcdef0123456789abcdef" +
		"&From=%2B15557654321&To=%2B15550001000"
)

func addTwilioSeeds(f *testing.F) {
	for _, body := range []string{
		realSMSBody, realWhatsAppBody, realMediaBody,
		inboundForm().Encode(),
		"MessageSid=SM1&AccountSid=AC1&From=whatsapp%3A%2B15557654321&To=%2B15550001000&Body=mixed",
		"MessageSid=SM1&AccountSid=AC1&From=%2B15557654321&To=whatsapp%3A%2B15550001000&Body=mixed",
		"MessageSid=SM1&MessageSid=SM2&AccountSid=AC1&From=%2B1555&To=%2B1666&Body=a&Body=b",
		"MessageSid=&AccountSid=AC1&From=%2B1&To=%2B2",
		"Body=%ZZ",
		"",
	} {
		f.Add(body)
	}
}

// FuzzParseInbound: whatever form Twilio (or anyone) posts, ParseInbound either
// names the missing field, or returns exactly the form's first values with the
// whatsapp: prefix moved into Channel.
func FuzzParseInbound(f *testing.F) {
	addTwilioSeeds(f)
	f.Fuzz(func(t *testing.T, body string) {
		form, err := url.ParseQuery(body)
		if err != nil {
			return // net/http refuses the request before the parser sees it
		}
		in, err := twilio.ParseInbound(form)
		if err != nil {
			msg := err.Error()
			if !strings.HasPrefix(msg, "twilio inbound webhook: ") {
				t.Fatalf("error %q does not say where it comes from", msg)
			}
			named := false
			for _, field := range []string{"MessageSid", "AccountSid", "From", "To"} {
				v := strings.TrimPrefix(form.Get(field), twilio.WhatsAppPrefix)
				if field == "To" && !strings.HasPrefix(form.Get("From"), twilio.WhatsAppPrefix) {
					v = form.Get(field)
				}
				if v == "" && strings.Contains(msg, field+" is missing") {
					named = true
				}
			}
			if !named {
				t.Fatalf("error %q names no field that is missing from %v", msg, form)
			}
			return
		}
		if in.MessageSID != form.Get("MessageSid") || in.AccountSID != form.Get("AccountSid") || in.Body != form.Get("Body") {
			t.Fatalf("parsed %+v from %v: ids or body differ from the form's first values", in, form)
		}
		if in.MessageSID == "" || in.AccountSID == "" || in.From == "" || in.To == "" {
			t.Fatalf("parsed %+v from %v: a required field is empty", in, form)
		}
		wantChannel, from, to := "sms", form.Get("From"), form.Get("To")
		if strings.HasPrefix(from, twilio.WhatsAppPrefix) {
			wantChannel = "whatsapp"
			from, to = strings.TrimPrefix(from, twilio.WhatsAppPrefix), strings.TrimPrefix(to, twilio.WhatsAppPrefix)
		}
		if in.Channel != wantChannel || in.From != from || in.To != to {
			t.Fatalf("parsed channel %q from %q to %q out of From %q To %q; want %q %q %q",
				in.Channel, in.From, in.To, form.Get("From"), form.Get("To"), wantChannel, from, to)
		}
	})
}

// portVariants are the URLs twilio-go's validator also accepts a signature for: the
// URL with its scheme's default port added, and with its port removed (Twilio's
// back end signs either way, its validator says).
func portVariants(raw string) []string {
	out := []string{raw}
	u, err := url.Parse(raw)
	if err != nil {
		return out
	}
	if u.Port() == "" {
		port := "80"
		if u.Scheme == "https" {
			port = "443"
		}
		v := *u
		v.Host += ":" + port
		out = append(out, v.String())
	} else {
		v := *u
		v.Host = strings.Split(u.Host, ":")[0]
		out = append(out, v.String())
	}
	return out
}

// FuzzVerify signs a webhook with the real signing scheme, checks that Verify
// accepts it, changes one byte of its body or of its URL (path and query), and
// checks that Verify refuses the change unless the change leaves the signed string
// as it was: a parameter boundary moved, or a default port, which Twilio's scheme
// cannot tell apart. A change that Verify lets through must not change what
// ParseInbound reads either.
func FuzzVerify(f *testing.F) {
	for i, body := range []string{realSMSBody, realWhatsAppBody, realMediaBody, inboundForm().Encode()} {
		f.Add("/webhooks/twilio/messaging", body, uint(i*37), byte(i), byte('x'), i%2 == 0)
	}
	f.Add("/webhooks/twilio/messaging?tenant=acme", realSMSBody, uint(12), byte(3), byte('='), false)
	f.Add("/webhooks/twilio/messaging?tenant=acme", realSMSBody, uint(30), byte(1), byte('&'), true)
	f.Fuzz(func(t *testing.T, path, body string, pos uint, op, b byte, inURL bool) {
		const base = "https://switchboard.example.com"
		form, err := url.ParseQuery(body)
		if err != nil || !strings.HasPrefix(path, "/") {
			return
		}
		hook := base + path
		if _, err := url.Parse(hook); err != nil {
			return
		}
		sig := twilio.Sign(testToken, hook, form)
		if !twilio.Verify(testToken, hook, form, sig) {
			t.Fatalf("Verify refused Sign's signature of %s with %q", hook, body)
		}
		if twilio.Verify(testToken+"x", hook, form, sig) || twilio.Verify("", hook, form, sig) {
			t.Fatal("Verify accepted the signature under another auth token")
		}

		hook2, body2 := hook, body
		if inURL {
			hook2 = base + fuzzedit.Apply(path, pos, op, b)
		} else {
			body2 = fuzzedit.Apply(body, pos, op, b)
		}
		form2, err := url.ParseQuery(body2)
		if err != nil {
			return // refused before the signature is checked
		}
		if !twilio.Verify(testToken, hook2, form2, sig) {
			return
		}
		signed := twilio.SignedString(hook, form)
		same := false
		for _, v := range portVariants(hook2) {
			if twilio.SignedString(v, form2) == signed {
				same = true
			}
		}
		if !same {
			t.Fatalf("Verify accepted a changed request:\nsigned %s %q\naccepted %s %q", hook, body, hook2, body2)
		}
		in, err := twilio.ParseInbound(form)
		in2, err2 := twilio.ParseInbound(form2)
		if err != nil || err2 != nil {
			return
		}
		if in2.Body == "" {
			// An emptied body (the boundary moved into Body's name) is refused at
			// the door: a turn needs text.
			in.Body = ""
		}
		if in != in2 {
			t.Fatalf("a change the signature cannot see changed the message:\nsigned %+v\naccepted %+v", in, in2)
		}
	})
}
