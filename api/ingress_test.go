package api_test

// Ingress as an outsider meets it: every request here is built by hand, with the
// token (or none) the scenario names, against an API on a real embedded NATS, so a
// refused turn is checked to be absent from JetStream and a seen jti lives in the
// real KV bucket.

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/switchboard-cc/switchboard/api"
	"github.com/switchboard-cc/switchboard/deploy"
	"github.com/switchboard-cc/switchboard/internal/auth"
	"github.com/switchboard-cc/switchboard/internal/streams"
	"github.com/switchboard-cc/switchboard/internal/streams/streamstest"
	"github.com/switchboard-cc/switchboard/internal/turn"
	"github.com/switchboard-cc/switchboard/providers/routing"
	"github.com/switchboard-cc/switchboard/providers/vonage"
)

const (
	ingressVonageSecret = "vonage-signature-secret-for-ingress-tests"
	devBusiness         = "+15550001000" // corner-store's Twilio number in the dev policy
)

type fixedPolicy struct{ p *routing.Policy }

func (f fixedPolicy) Current() *routing.Policy { return f.p }
func (f fixedPolicy) LastError() error         { return nil }

// ingressNATS is an embedded NATS server with Switchboard's streams and buckets.
func ingressNATS(t testing.TB, sc streams.Config) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	return streamstest.Connect(t, streamstest.Start(t, sc))
}

// ingressAPI serves the API on nc and js with the dev routing policy; change
// adjusts its config (nil: the usual tokens, an ingress token included).
func ingressAPI(t *testing.T, nc *nats.Conn, js jetstream.JetStream, change func(*api.Config)) *httptest.Server {
	t.Helper()
	hs := httptest.NewServer(ingressServer(t, nc, js, change, nil).Handler())
	t.Cleanup(hs.Close)
	return hs
}

// ingressServer is ingressAPI's server, to call without a listener, logging to log
// (nil: slog's default).
func ingressServer(t testing.TB, nc *nats.Conn, js jetstream.JetStream, change func(*api.Config), log *slog.Logger) *api.Server {
	t.Helper()
	pol, err := routing.ParseFile("policy.dev.yaml", deploy.DevPolicy)
	require.NoError(t, err)
	tokens := auth.Tokens{testOpsToken: auth.RoleOps, testAgentToken: auth.RoleAgent, testIngressToken: auth.RoleIngress}
	cfg := api.Config{
		PublicURL: "http://127.0.0.1", TwilioAuthToken: "twilio-token", VonageSignatureSecret: ingressVonageSecret,
		Tokens: tokens, Policy: fixedPolicy{pol},
	}
	if change != nil {
		change(&cfg)
	}
	srv, err := api.New(cfg, nc, js, nil, log)
	require.NoError(t, err)
	return srv
}

// post sends body to path with the Authorization header auth ("" for none), as a
// stranger's HTTP client would: nothing adds a token.
func post(t *testing.T, hs *httptest.Server, path, auth, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, hs.URL+path, strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := http.DefaultTransport.RoundTrip(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b)
}

func bearer(token string) string { return "Bearer " + token }

// storedTurns are the turns JetStream holds, in order.
func storedTurns(t *testing.T, js jetstream.JetStream) []turn.Turn {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	st, err := js.Stream(ctx, turn.TurnsStream)
	require.NoError(t, err)
	info, err := st.Info(ctx)
	require.NoError(t, err)
	var out []turn.Turn
	for seq := info.State.FirstSeq; info.State.Msgs > 0 && seq <= info.State.LastSeq; seq++ {
		m, err := st.GetMsg(ctx, seq)
		require.NoError(t, err)
		tr, err := streams.DecodeTurn(m.Data)
		require.NoError(t, err)
		out = append(out, tr)
	}
	return out
}

func turnBody(messageID, conversationID, to string) string {
	b, _ := json.Marshal(map[string]string{
		"message_id": messageID, "conversation_id": conversationID, "channel": "sms",
		"from": "+15557770001", "to": to, "text": "hello",
	})
	return string(b)
}

func TestTurnAPI_StrangersWithoutAnIngressOrOpsTokenStoreNothing(t *testing.T) {
	nc, js := ingressNATS(t, streams.Config{})
	hs := ingressAPI(t, nc, js, nil)
	for name, c := range map[string]struct {
		auth string
		want int
	}{
		"no token":                      {"", http.StatusUnauthorized},
		"a wrong token":                 {bearer("ingress-guessed-token-0000"), http.StatusUnauthorized},
		"the ingress token, not bearer": {"Basic " + testIngressToken, http.StatusUnauthorized},
		"the agent token":               {bearer(testAgentToken), http.StatusForbidden},
	} {
		code, body := post(t, hs, "/v1/turns", c.auth, turnBody("stranger-"+strings.ReplaceAll(name, " ", "-"), "", devBusiness))
		require.Equal(t, c.want, code, "%s: %s", name, body)
	}
	require.Empty(t, storedTurns(t, js), "a refused turn reached JetStream")

	code, body := post(t, hs, "/v1/turns", bearer(testIngressToken), turnBody("backend-1", "", devBusiness))
	require.Equal(t, http.StatusAccepted, code, body)
	code, body = post(t, hs, "/v1/turns", bearer(testOpsToken), turnBody("ops-1", "", devBusiness))
	require.Equal(t, http.StatusAccepted, code, body)
	stored := storedTurns(t, js)
	require.Len(t, stored, 2)
	require.Equal(t, []string{"api:backend-1", "api:ops-1"}, []string{stored[0].ID, stored[1].ID})
}

func TestTurnAPI_AnIngressTokenCannotSpeakInATwilioOrVonageConversation(t *testing.T) {
	nc, js := ingressNATS(t, streams.Config{})
	hs := ingressAPI(t, nc, js, nil)
	victim := "+15551230001"
	for name, id := range map[string]string{
		// Anyone who knows both numbers computes these: the hash is not a secret.
		"a Twilio conversation":   turn.ConversationID(turn.VendorTwilio, turn.ChannelSMS, victim, devBusiness),
		"a Vonage conversation":   turn.ConversationID(turn.VendorVonage, turn.ChannelWhatsApp, victim, "+15550002000"),
		"an id in no namespace":   "session-42",
		"the bare prefix":         "api-",
		"a prefix inside the id":  "twilio-api-sms-0011",
		"an upper-case lookalike": "API-sms-0011",
	} {
		code, body := post(t, hs, "/v1/turns?wait=2s", bearer(testIngressToken), turnBody("join-"+strings.ReplaceAll(name, " ", "-"), id, devBusiness))
		require.Equal(t, http.StatusBadRequest, code, "%s (%s): %s", name, id, body)
		require.Contains(t, body, `conversation_id must begin with \"api-\"`, name)
	}
	require.Empty(t, storedTurns(t, js), "a turn was stored in another vendor's conversation")

	// Its own namespace: a conversation id it chose, and the derived one.
	code, body := post(t, hs, "/v1/turns", bearer(testIngressToken), turnBody("own-1", "api-session-42", devBusiness))
	require.Equal(t, http.StatusAccepted, code, body)
	code, body = post(t, hs, "/v1/turns", bearer(testIngressToken), turnBody("own-2", "", devBusiness))
	require.Equal(t, http.StatusAccepted, code, body)
	var resp struct {
		ConversationID string `json:"conversation_id"`
	}
	require.NoError(t, json.Unmarshal([]byte(body), &resp))
	require.Equal(t, turn.ConversationID(turn.VendorAPI, turn.ChannelSMS, "+15557770001", devBusiness), resp.ConversationID)
	for _, tr := range storedTurns(t, js) {
		require.True(t, turn.InNamespace(turn.VendorAPI, tr.ConversationID), tr.ConversationID)
		require.Equal(t, turn.VendorAPI, tr.Vendor)
	}
}

func TestTurnAPI_AnIngressTokenCannotPickAnAddressThatIsNoBusinessToReplyFrom(t *testing.T) {
	nc, js := ingressNATS(t, streams.Config{})
	hs := ingressAPI(t, nc, js, nil)
	// Replies to API turns leave only from a business's address in the policy; an
	// address of the Twilio account that is no business's (or any other) is refused.
	for _, to := range []string{"+15559990000", "+15550001001", "whatsapp:+15551112222"} {
		code, body := post(t, hs, "/v1/turns", bearer(testIngressToken), turnBody("to-"+strings.TrimPrefix(to, "+"), "", to))
		require.Equal(t, http.StatusBadRequest, code, "to %s: %s", to, body)
		require.Contains(t, body, "to must be an address of a business")
	}
	require.Empty(t, storedTurns(t, js))
	// Either of the business's addresses is fine (its Vonage number too).
	for i, to := range []string{devBusiness, "15550002000"} {
		code, body := post(t, hs, "/v1/turns", bearer(testIngressToken), turnBody("biz-"+string(rune('a'+i)), "", to))
		require.Equal(t, http.StatusAccepted, code, "to %s: %s", to, body)
	}
}

// syncBuffer collects log output from the server.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestTurnAPI_AStartWithoutAnIngressTokenFails_OnlyAnExplicitFlagOpensIt(t *testing.T) {
	base := func() api.Config {
		return api.Config{
			PublicURL: "http://127.0.0.1", TwilioAuthToken: "twilio-token", VonageSignatureSecret: "vonage-secret",
			Tokens: auth.Tokens{testOpsToken: auth.RoleOps, testAgentToken: auth.RoleAgent},
		}
	}
	_, err := api.New(base(), nil, nil, nil, nil)
	require.Error(t, err, "an API without an ingress token started")
	for _, named := range []string{"--ingress-token", "SWITCHBOARD_INGRESS_TOKEN", "--insecure-anonymous-turns"} {
		require.Contains(t, err.Error(), named)
	}

	both := base()
	both.Tokens.Add(auth.RoleIngress, testIngressToken)
	both.AnonymousTurns = true
	_, err = api.New(both, nil, nil, nil, nil)
	require.ErrorContains(t, err, "exclude each other")

	var logs syncBuffer
	open := base()
	open.AnonymousTurns = true
	srv, err := api.New(open, nil, nil, nil, slog.New(slog.NewTextHandler(&logs, nil)))
	require.NoError(t, err)
	require.Contains(t, logs.String(), "level=WARN")
	require.Contains(t, logs.String(), "--insecure-anonymous-turns")
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(hs.Close)
	// Let in without a token: the malformed body is what gets refused.
	require.Equal(t, http.StatusBadRequest, postTurnStatus(t, hs, ""))
	// Open does not mean open to other vendors' conversations.
	code, body := post(t, hs, "/v1/turns", "", turnBody("anon-1", turn.ConversationID(turn.VendorTwilio, "sms", "+15551230001", devBusiness), devBusiness))
	require.Equal(t, http.StatusBadRequest, code, body)
	require.Contains(t, body, "conversation_id must begin with")
}

// vonageWebhook is an inbound SMS as Vonage posts it.
func vonageWebhook(messageUUID string) []byte {
	b, _ := json.Marshal(map[string]string{
		"message_uuid": messageUUID, "from": "15557654321", "to": "15550002000", "channel": "sms",
		"message_type": "text", "text": "where is my order", "timestamp": time.Now().UTC().Format(time.RFC3339),
	})
	return b
}

func signVonage(t *testing.T, body []byte, jti string, iat time.Time) string {
	t.Helper()
	auth, err := vonage.SignToken(ingressVonageSecret, body, vonage.Token{ID: jti, IssuedAt: iat})
	require.NoError(t, err)
	return auth
}

func TestVonageWebhook_ACapturedWebhookReplayedIsRefused_EvenByAnotherAPIProcess(t *testing.T) {
	nc, js := ingressNATS(t, streams.Config{})
	first, second := ingressAPI(t, nc, js, nil), ingressAPI(t, nc, js, nil)
	body := vonageWebhook("aaaaaaaa-0000-0000-0000-000000000001")
	auth := signVonage(t, body, "jti-captured-1", time.Now())

	code, resp := post(t, first, "/webhooks/vonage/inbound", auth, string(body))
	require.Equal(t, http.StatusOK, code, resp)
	for name, hs := range map[string]*httptest.Server{"the same API": first, "another API process": second} {
		code, resp := post(t, hs, "/webhooks/vonage/inbound", auth, string(body))
		require.Equal(t, http.StatusUnauthorized, code, "%s: %s", name, resp)
		require.Contains(t, resp, "used before", name)
	}
	// The same jti with another body (signed with the secret) is refused as well.
	other := vonageWebhook("aaaaaaaa-0000-0000-0000-000000000002")
	code, resp = post(t, second, "/webhooks/vonage/inbound", signVonage(t, other, "jti-captured-1", time.Now()), string(other))
	require.Equal(t, http.StatusUnauthorized, code, resp)
	require.Len(t, storedTurns(t, js), 1)

	// A fresh delivery (new jti) of a new message is taken.
	code, resp = post(t, second, "/webhooks/vonage/inbound", signVonage(t, other, "jti-fresh-2", time.Now()), string(other))
	require.Equal(t, http.StatusOK, code, resp)
	require.Len(t, storedTurns(t, js), 2)
}

func TestVonageWebhook_AStaleTokenIsRefused_TheMaximumAgeIsConfigurable(t *testing.T) {
	nc, js := ingressNATS(t, streams.Config{})
	byDefault := ingressAPI(t, nc, js, nil)
	strict := ingressAPI(t, nc, js, func(c *api.Config) { c.VonageMaxTokenAge = time.Minute })

	body := vonageWebhook("bbbbbbbb-0000-0000-0000-000000000001")
	code, resp := post(t, byDefault, "/webhooks/vonage/inbound", signVonage(t, body, "jti-stale-6m", time.Now().Add(-6*time.Minute)), string(body))
	require.Equal(t, http.StatusUnauthorized, code, resp)
	require.Contains(t, resp, "too old")

	twoMinutes := signVonage(t, body, "jti-stale-2m", time.Now().Add(-2*time.Minute))
	code, resp = post(t, strict, "/webhooks/vonage/inbound", twoMinutes, string(body))
	require.Equal(t, http.StatusUnauthorized, code, resp)
	require.Contains(t, resp, "too old")
	require.Empty(t, storedTurns(t, js))

	// Within the default five minutes, the same token is fine.
	code, resp = post(t, byDefault, "/webhooks/vonage/inbound", twoMinutes, string(body))
	require.Equal(t, http.StatusOK, code, resp)
	require.Len(t, storedTurns(t, js), 1)

	_, err := api.New(api.Config{
		PublicURL: "http://127.0.0.1", TwilioAuthToken: "t", VonageSignatureSecret: "v", VonageMaxTokenAge: 2 * time.Hour,
		Tokens: auth.Tokens{testOpsToken: auth.RoleOps, testIngressToken: auth.RoleIngress},
	}, nil, nil, nil, nil)
	require.ErrorContains(t, err, "--vonage-jwt-max-age")
}

func TestVonageWebhook_ATokenWithoutJTIIsRefused(t *testing.T) {
	nc, js := ingressNATS(t, streams.Config{})
	hs := ingressAPI(t, nc, js, nil)
	body := vonageWebhook("cccccccc-0000-0000-0000-000000000001")
	code, resp := post(t, hs, "/webhooks/vonage/inbound", signVonage(t, body, "", time.Now()), string(body))
	require.Equal(t, http.StatusUnauthorized, code, resp)
	require.Contains(t, resp, "no jti")
	require.Empty(t, storedTurns(t, js))
}

func TestVonageWebhook_ADeliveryNotStoredCanBeRetriedWithTheSameToken(t *testing.T) {
	nc, js := ingressNATS(t, streams.Config{})
	hs := ingressAPI(t, nc, js, nil)
	// JetStream cannot take the turn: the turns stream is gone.
	require.NoError(t, js.DeleteStream(t.Context(), turn.TurnsStream))
	body := vonageWebhook("dddddddd-0000-0000-0000-000000000001")
	auth := signVonage(t, body, "jti-retried", time.Now())
	code, resp := post(t, hs, "/webhooks/vonage/inbound", auth, string(body))
	require.Equal(t, http.StatusServiceUnavailable, code, resp)

	// Vonage retries with the same token once the store is back: it was not a replay.
	require.NoError(t, streams.Ensure(t.Context(), js, streams.Config{MemoryStorage: true}))
	code, resp = post(t, hs, "/webhooks/vonage/inbound", auth, string(body))
	require.Equal(t, http.StatusOK, code, resp)
	require.Len(t, storedTurns(t, js), 1)
	code, resp = post(t, hs, "/webhooks/vonage/inbound", auth, string(body))
	require.Equal(t, http.StatusUnauthorized, code, "once stored, the token is spent: %s", resp)
}

func TestVonageWebhook_TheReplayWindowIsTheBucketTTL_AWorkerKeepsTheAPIs(t *testing.T) {
	// The bucket's TTL is the replay window; an API process sets it, and a worker's
	// Ensure (TTL 0) keeps it.
	_, js := ingressNATS(t, streams.Config{WebhookTokenTTL: 10 * time.Minute})
	require.NoError(t, streams.Ensure(t.Context(), js, streams.Config{MemoryStorage: true}))
	kv, err := js.KeyValue(t.Context(), turn.WebhookTokensBucket)
	require.NoError(t, err)
	st, err := kv.Status(t.Context())
	require.NoError(t, err)
	require.Equal(t, 10*time.Minute, st.TTL(), "a role without webhooks changed the replay window")

	// A bucket first created by a worker gets the default window.
	_, fresh := ingressNATS(t, streams.Config{})
	kv, err = fresh.KeyValue(t.Context(), turn.WebhookTokensBucket)
	require.NoError(t, err)
	st, err = kv.Status(t.Context())
	require.NoError(t, err)
	require.Equal(t, streams.DefaultWebhookTokenTTL, st.TTL())
	require.Equal(t, vonage.ReplayWindow(vonage.DefaultMaxTokenAge), streams.DefaultWebhookTokenTTL)
}
