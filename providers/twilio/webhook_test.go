package twilio_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/twilio/twilio-go/client"

	"github.com/switchboard-cc/switchboard/providers/twilio"
)

const hookURL = "https://switchboard.example.com/webhooks/twilio?tenant=acme"

func inboundForm() url.Values {
	return url.Values{
		"MessageSid": {"SM0123456789abcdef0123456789abcdef"},
		"AccountSid": {testSID},
		"From":       {"+15557654321"},
		"To":         {"+15550001111"},
		"Body":       {"Where is my order?"},
		"NumMedia":   {"0"},
	}
}

func TestASignedWebhookVerifies(t *testing.T) {
	form := inboundForm()
	sig := twilio.Sign(testToken, hookURL, form)
	if !twilio.Verify(testToken, hookURL, form, sig) {
		t.Fatal("Verify rejected Sign's signature")
	}
	// Sign must agree with Twilio's own validator, not only with Verify's use of it.
	params := map[string]string{}
	for k := range form {
		params[k] = form.Get(k)
	}
	v := client.NewRequestValidator(testToken)
	if !v.Validate(hookURL, params, sig) {
		t.Fatal("twilio-go's RequestValidator rejected Sign's signature")
	}
}

func TestASignatureOverAnotherURLIsRejected(t *testing.T) {
	form := inboundForm()
	sig := twilio.Sign(testToken, hookURL, form)
	for _, u := range []string{
		"https://switchboard.example.com/webhooks/twilio",             // query dropped
		"https://switchboard.example.com/webhooks/twilio?tenant=evil", // query changed
		"https://attacker.example.com/webhooks/twilio?tenant=acme",    // host changed
		"http://switchboard.example.com/webhooks/twilio?tenant=acme",  // scheme changed
	} {
		if twilio.Verify(testToken, u, form, sig) {
			t.Errorf("Verify accepted a signature made for %s at %s", hookURL, u)
		}
	}
}

func TestATamperedWebhookIsRejected(t *testing.T) {
	form := inboundForm()
	sig := twilio.Sign(testToken, hookURL, form)

	tampered := inboundForm()
	tampered.Set("Body", "Refund me everything")
	if twilio.Verify(testToken, hookURL, tampered, sig) {
		t.Error("Verify accepted a changed body")
	}
	added := inboundForm()
	added.Set("Extra", "1")
	if twilio.Verify(testToken, hookURL, added, sig) {
		t.Error("Verify accepted an added parameter")
	}
	if twilio.Verify("anotherToken", hookURL, form, sig) {
		t.Error("Verify accepted a signature made with another token")
	}
	if twilio.Verify(testToken, hookURL, form, "") {
		t.Error("Verify accepted a missing signature")
	}
	if twilio.Verify("", hookURL, form, twilio.Sign("", hookURL, form)) {
		t.Error("Verify accepted a signature with no token configured")
	}
}

func TestASignedRequestVerifiesEndToEnd(t *testing.T) {
	// What a webhook handler will do: rebuild the URL Twilio called and check the
	// header against the parsed form.
	form := inboundForm()
	req := httptest.NewRequest(http.MethodPost, hookURL, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set(twilio.SignatureHeader, twilio.Sign(testToken, hookURL, form))
	if err := req.ParseForm(); err != nil {
		t.Fatal(err)
	}
	if !twilio.Verify(testToken, hookURL, req.PostForm, req.Header.Get(twilio.SignatureHeader)) {
		t.Fatal("Verify rejected a correctly signed request")
	}
	in, err := twilio.ParseInbound(req.PostForm)
	if err != nil {
		t.Fatal(err)
	}
	if in.Body != "Where is my order?" {
		t.Errorf("Body = %q", in.Body)
	}
}

func TestParseInboundSMS(t *testing.T) {
	in, err := twilio.ParseInbound(inboundForm())
	if err != nil {
		t.Fatal(err)
	}
	want := twilio.Inbound{
		MessageSID: "SM0123456789abcdef0123456789abcdef", AccountSID: testSID,
		From: "+15557654321", To: "+15550001111", Body: "Where is my order?", Channel: "sms",
	}
	if in != want {
		t.Errorf("got %+v, want %+v", in, want)
	}
}

func TestParseInboundWhatsAppStripsThePrefix(t *testing.T) {
	form := inboundForm()
	form.Set("From", "whatsapp:+15557654321")
	form.Set("To", "whatsapp:+15550001111")
	in, err := twilio.ParseInbound(form)
	if err != nil {
		t.Fatal(err)
	}
	if in.Channel != "whatsapp" || in.From != "+15557654321" || in.To != "+15550001111" {
		t.Errorf("got channel %q from %q to %q", in.Channel, in.From, in.To)
	}
}

func TestParseInboundAcceptsAnEmptyBody(t *testing.T) {
	form := inboundForm()
	form.Set("Body", "")
	form.Set("NumMedia", "1")
	if _, err := twilio.ParseInbound(form); err != nil {
		t.Fatalf("a media-only message was refused: %v", err)
	}
}

func TestParseInboundNamesTheMissingField(t *testing.T) {
	for _, field := range []string{"MessageSid", "AccountSid", "From", "To"} {
		form := inboundForm()
		form.Del(field)
		_, err := twilio.ParseInbound(form)
		if err == nil || !strings.Contains(err.Error(), field) {
			t.Errorf("without %s: err = %v, want it named", field, err)
		}
	}
}
