package api_test

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-cc/switchboard/internal/streams"
	"github.com/switchboard-cc/switchboard/providers/twilio"
)

// postTwilio posts form to the Twilio webhook, signed as Twilio would sign it.
func postTwilio(t *testing.T, base string, form url.Values) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, base+"/webhooks/twilio/messaging", strings.NewReader(form.Encode()))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set(twilio.SignatureHeader, twilio.Sign("twilio-token", "http://127.0.0.1/webhooks/twilio/messaging", form))
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b)
}

func TestIngress_AFromThatIsNoPhoneNumber_IsRefusedAtTheDoorNamingTheField(t *testing.T) {
	nc, js := ingressNATS(t, streams.Config{})
	hs := ingressAPI(t, nc, js, nil)

	for name, from := range map[string]string{"a word": "notanumber", "no plus": "15551230001", "too long": "+1555123000100000"} {
		code, body := postTwilio(t, hs.URL, url.Values{"MessageSid": {"SM-" + strings.ReplaceAll(name, " ", "-")}, "AccountSid": {"AC1"},
			"From": {from}, "To": {devBusiness}, "Body": {"where is my order"}})
		require.Equal(t, http.StatusBadRequest, code, "twilio %s: %s", name, body)
		require.Contains(t, body, "from must be an E.164 phone number", name)

		code, body = post(t, hs, "/v1/turns", bearer(testIngressToken),
			`{"message_id":"m-`+strings.ReplaceAll(name, " ", "-")+`","channel":"sms","from":"`+from+`","to":"`+devBusiness+`","text":"hi"}`)
		require.Equal(t, http.StatusBadRequest, code, "api %s: %s", name, body)
		require.Contains(t, body, "from must be an E.164 phone number", name)
	}
	code, body := postTwilio(t, hs.URL, url.Values{"MessageSid": {"SM-wa"}, "AccountSid": {"AC1"},
		"From": {"whatsapp:ann"}, "To": {"whatsapp:" + devBusiness}, "Body": {"hi"}})
	require.Equal(t, http.StatusBadRequest, code, body)
	require.Contains(t, body, "from must be an E.164 phone number (+ and up to 15 digits) on whatsapp")
	require.Empty(t, storedTurns(t, js), "a turn nobody can answer reached JetStream")

	// A phone number is taken, and a chat's customer is whoever the backend says.
	code, body = postTwilio(t, hs.URL, url.Values{"MessageSid": {"SM-ok"}, "AccountSid": {"AC1"},
		"From": {"+15551230001"}, "To": {devBusiness}, "Body": {"hi"}})
	require.Equal(t, http.StatusOK, code, body)
	code, body = post(t, hs, "/v1/turns", bearer(testIngressToken),
		`{"message_id":"chat-1","channel":"chat","from":"session-ann","to":"`+devBusiness+`","text":"hi"}`)
	require.Equal(t, http.StatusAccepted, code, body)
	require.Len(t, storedTurns(t, js), 2)
}
