package api_test

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-cc/switchboard/api"
	"github.com/switchboard-cc/switchboard/internal/metrics"
	"github.com/switchboard-cc/switchboard/internal/streams"
	"github.com/switchboard-cc/switchboard/internal/testmsg"
)

// A number that points at Switchboard but belongs to no business of the policy
// could never be answered: before, its turn was stored and ended "stuck:
// unanswered" for good. Now every door refuses it, says which address, and counts it.
func TestUnknownBusiness_EveryDoorRefusesATurnToANumberNoBusinessOwns_AndCountsIt(t *testing.T) {
	nc, js := ingressNATS(t, streams.Config{})
	hs := ingressAPI(t, nc, js, func(c *api.Config) { c.Metrics = metrics.New() })
	refused := func(vendor string) string {
		t.Helper()
		req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, hs.URL+"/metrics", nil)
		require.NoError(t, err)
		req.Header.Set("Authorization", bearer(testOpsToken))
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		for _, line := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(line, `switchboard_turns_received_total{result="unknown_business",vendor="`+vendor+`"}`) {
				return strings.TrimSpace(line[strings.LastIndex(line, " "):])
			}
		}
		return "0"
	}
	signer := testmsg.Signer{PublicURL: "http://127.0.0.1", TwilioAccountSID: "AC00000000000000000000000000000000", TwilioAuthToken: "twilio-token", VonageSecret: ingressVonageSecret}
	const stranger = "+15559990000" // no business's number in the dev policy

	send := func(vendor, to string) (int, string) {
		t.Helper()
		req, _, err := signer.Request(t.Context(), hs.URL, testmsg.Message{Vendor: vendor, From: "+15557654321", To: to, Text: "hello"})
		require.NoError(t, err)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return resp.StatusCode, string(b)
	}
	for _, vendor := range []string{"twilio", "vonage"} {
		code, body := send(vendor, stranger)
		require.Equal(t, http.StatusBadRequest, code, "%s: %s", vendor, body)
		require.Contains(t, body, "to must be an address of a business", vendor)
		require.Contains(t, body, strings.TrimPrefix(stranger, "+"), vendor)
		require.Equal(t, "1", refused(vendor), vendor)
	}
	code, body := post(t, hs, "/v1/turns", bearer(testIngressToken), turnBody("stranger-1", "", stranger))
	require.Equal(t, http.StatusBadRequest, code, body)
	require.Equal(t, "1", refused("api"))
	require.Empty(t, storedTurns(t, js), "a turn nobody can answer is not stored")

	// The business's own numbers are taken at each vendor's door.
	code, body = send("twilio", devBusiness)
	require.Equal(t, http.StatusOK, code, body)
	code, body = send("vonage", "+15550002000")
	require.Equal(t, http.StatusOK, code, body)
	require.Eventually(t, func() bool { return len(storedTurns(t, js)) == 2 }, 5*time.Second, 20*time.Millisecond)
}
