package vonage_test

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/switchboard-cc/switchboard/providers/vonage"
)

const signatureSecret = "webhookSignatureSecret"

var inboundBody = []byte(`{
  "channel": "sms",
  "message_uuid": "aaaaaaaa-bbbb-cccc-dddd-0123456789ab",
  "to": "15550001111",
  "from": "15557654321",
  "timestamp": "2025-02-03T12:14:25.123Z",
  "text": "Where is my order?",
  "sms": {"num_messages": "1"},
  "message_type": "text"
}`)

func payloadHash(body []byte) string {
	sum := sha256.Sum256(body)
	return hex.EncodeToString(sum[:])
}

func TestASignedWebhookVerifies(t *testing.T) {
	auth, err := vonage.Sign(signatureSecret, inboundBody)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(auth, "Bearer ") {
		t.Fatalf("Sign = %q, want a Bearer header value", auth)
	}
	if err := vonage.Verify(signatureSecret, auth, inboundBody); err != nil {
		t.Fatalf("Verify rejected Sign's header: %v", err)
	}
}

func TestATamperedBodyIsRejected(t *testing.T) {
	auth, _ := vonage.Sign(signatureSecret, inboundBody)
	tampered := []byte(strings.Replace(string(inboundBody), "Where is my order?", "Refund me", 1))
	if err := vonage.Verify(signatureSecret, auth, tampered); err == nil {
		t.Fatal("Verify accepted a body the token was not made for")
	}
}

func TestATokenSignedWithAnotherSecretIsRejected(t *testing.T) {
	auth, _ := vonage.Sign("someoneElsesSecret", inboundBody)
	err := vonage.Verify(signatureSecret, auth, inboundBody)
	if err == nil {
		t.Fatal("Verify accepted a token signed with another secret")
	}
	if strings.Contains(err.Error(), signatureSecret) {
		t.Errorf("error leaks the secret: %v", err)
	}
}

func TestAMissingOrMalformedHeaderIsRejected(t *testing.T) {
	auth, _ := vonage.Sign(signatureSecret, inboundBody)
	token := strings.TrimPrefix(auth, "Bearer ")
	for name, header := range map[string]string{
		"missing":        "",
		"scheme only":    "Bearer",
		"scheme blank":   "Bearer   ",
		"basic scheme":   "Basic " + token,
		"no scheme":      token,
		"not a jwt":      "Bearer not.a.jwt",
		"garbage scheme": "Bearer\t",
	} {
		if err := vonage.Verify(signatureSecret, header, inboundBody); err == nil {
			t.Errorf("%s: Verify accepted %q", name, header)
		}
	}
}

func TestTheBearerSchemeIsCaseInsensitive(t *testing.T) {
	auth, _ := vonage.Sign(signatureSecret, inboundBody)
	if err := vonage.Verify(signatureSecret, "bearer "+strings.TrimPrefix(auth, "Bearer "), inboundBody); err != nil {
		t.Fatalf("Verify rejected a lower-case scheme: %v", err)
	}
}

func TestNoSecretMeansNothingVerifies(t *testing.T) {
	if _, err := vonage.Sign("", inboundBody); err == nil {
		t.Error("Sign accepted an empty secret")
	}
	// A token an attacker signed with the empty key must not pass a
	// misconfigured receiver.
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"iat": time.Now().Unix(), "payload_hash": payloadHash(inboundBody),
	}).SignedString([]byte{})
	if err == nil {
		if err := vonage.Verify("", "Bearer "+tok, inboundBody); err == nil {
			t.Error("Verify accepted a token with no secret configured")
		}
	}
}

func TestOnlyHS256IsAccepted(t *testing.T) {
	claims := func() jwt.MapClaims {
		return jwt.MapClaims{"iat": time.Now().Unix(), "payload_hash": payloadHash(inboundBody)}
	}

	none, err := jwt.NewWithClaims(jwt.SigningMethodNone, claims()).SignedString(jwt.UnsafeAllowNoneSignatureType)
	if err != nil {
		t.Fatal(err)
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	rs256, err := jwt.NewWithClaims(jwt.SigningMethodRS256, claims()).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	// Same secret, stronger hash: still not what Vonage signs with, so refused.
	hs512, err := jwt.NewWithClaims(jwt.SigningMethodHS512, claims()).SignedString([]byte(signatureSecret))
	if err != nil {
		t.Fatal(err)
	}
	for name, tok := range map[string]string{"none": none, "RS256": rs256, "HS512": hs512} {
		if err := vonage.Verify(signatureSecret, "Bearer "+tok, inboundBody); err == nil {
			t.Errorf("Verify accepted an %s token", name)
		}
	}
}

func TestATokenFromTheFarFutureIsRejected(t *testing.T) {
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"iat": time.Now().Add(24 * time.Hour).Unix(), "payload_hash": payloadHash(inboundBody),
	}).SignedString([]byte(signatureSecret))
	if err != nil {
		t.Fatal(err)
	}
	if err := vonage.Verify(signatureSecret, "Bearer "+tok, inboundBody); err == nil {
		t.Fatal("Verify accepted a token issued tomorrow")
	}
}

func TestASlightlyFastClockIsTolerated(t *testing.T) {
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"iat": time.Now().Add(10 * time.Second).Unix(), "jti": "jti-fast-clock", "payload_hash": payloadHash(inboundBody),
	}).SignedString([]byte(signatureSecret))
	if err != nil {
		t.Fatal(err)
	}
	if err := vonage.Verify(signatureSecret, "Bearer "+tok, inboundBody); err != nil {
		t.Fatalf("Verify rejected a token 10s ahead: %v", err)
	}
}

func TestATokenWithoutRequiredClaimsIsRejected(t *testing.T) {
	for name, claims := range map[string]jwt.MapClaims{
		"no payload_hash": {"iat": time.Now().Unix(), "jti": "j1"},
		"no iat":          {"jti": "j2", "payload_hash": payloadHash(inboundBody)},
		"no jti":          {"iat": time.Now().Unix(), "payload_hash": payloadHash(inboundBody)},
		"blank jti":       {"iat": time.Now().Unix(), "jti": " ", "payload_hash": payloadHash(inboundBody)},
		"numeric jti":     {"iat": time.Now().Unix(), "jti": 7, "payload_hash": payloadHash(inboundBody)},
		"numeric hash":    {"iat": time.Now().Unix(), "jti": "j3", "payload_hash": 42},
	} {
		tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte(signatureSecret))
		if err != nil {
			t.Fatal(err)
		}
		if err := vonage.Verify(signatureSecret, "Bearer "+tok, inboundBody); err == nil {
			t.Errorf("%s: Verify accepted the token", name)
		}
	}
}

func TestParseInboundText(t *testing.T) {
	in, err := vonage.ParseInbound(inboundBody)
	if err != nil {
		t.Fatal(err)
	}
	want := vonage.Inbound{
		MessageUUID: "aaaaaaaa-bbbb-cccc-dddd-0123456789ab",
		From:        "+15557654321",
		To:          "+15550001111",
		Channel:     "sms",
		Text:        "Where is my order?",
		Timestamp:   time.Date(2025, 2, 3, 12, 14, 25, 123_000_000, time.UTC),
	}
	if in != want {
		t.Errorf("got %+v, want %+v", in, want)
	}
}

func TestParseInboundNamesTheMissingField(t *testing.T) {
	full := map[string]string{
		"message_uuid": `"aaaaaaaa-bbbb-cccc-dddd-0123456789ab"`, "from": `"15557654321"`,
		"to": `"15550001111"`, "channel": `"whatsapp"`, "message_type": `"text"`,
		"text": `"hi"`, "timestamp": `"2025-02-03T12:14:25Z"`,
	}
	for missing := range full {
		var parts []string
		for k, v := range full {
			if k != missing {
				parts = append(parts, `"`+k+`":`+v)
			}
		}
		_, err := vonage.ParseInbound([]byte("{" + strings.Join(parts, ",") + "}"))
		if err == nil || !strings.Contains(err.Error(), missing) {
			t.Errorf("without %s: err = %v, want it named", missing, err)
		}
	}
}

func TestParseInboundRefusesWhatIsNotText(t *testing.T) {
	for name, c := range map[string]struct{ body, field string }{
		"image": {`{"message_uuid":"u","from":"15557654321","to":"15550001111","channel":"whatsapp",
			"message_type":"image","image":{"url":"https://example.com/a.png"},"timestamp":"2025-02-03T12:14:25Z"}`, "message_type"},
		"bad timestamp": {`{"message_uuid":"u","from":"15557654321","to":"15550001111","channel":"sms",
			"message_type":"text","text":"hi","timestamp":"yesterday"}`, "timestamp"},
		"not json": {`message_uuid=u`, "JSON"},
		"array":    {`[]`, "JSON"},
	} {
		_, err := vonage.ParseInbound([]byte(c.body))
		if err == nil || !strings.Contains(err.Error(), c.field) {
			t.Errorf("%s: err = %v, want it to name %s", name, err, c.field)
		}
	}
}

func TestAStaleWebhookTokenIsRejected_OneWithinTheMaximumAgeIsNot(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	sign := func(age time.Duration) string {
		auth, err := vonage.SignToken(signatureSecret, inboundBody, vonage.Token{ID: "jti-" + age.String(), IssuedAt: now.Add(-age)})
		if err != nil {
			t.Fatal(err)
		}
		return auth
	}
	// Captured six minutes ago: past the default maximum age of five.
	_, err := vonage.VerifyToken(signatureSecret, sign(6*time.Minute), inboundBody, now, vonage.DefaultMaxTokenAge)
	if err == nil || !strings.Contains(err.Error(), "too old") {
		t.Fatalf("a 6-minute-old token: err = %v, want it refused as too old", err)
	}
	tok, err := vonage.VerifyToken(signatureSecret, sign(4*time.Minute), inboundBody, now, vonage.DefaultMaxTokenAge)
	if err != nil {
		t.Fatalf("a 4-minute-old token: %v", err)
	}
	if tok.ID != "jti-4m0s" || !tok.IssuedAt.Equal(now.Add(-4*time.Minute)) {
		t.Errorf("VerifyToken = %+v, want the token's jti and iat", tok)
	}
	// The maximum age is the receiver's to choose.
	if _, err := vonage.VerifyToken(signatureSecret, sign(90*time.Second), inboundBody, now, time.Minute); err == nil {
		t.Error("a 90-second-old token passed a one-minute maximum age")
	}
	// Verify applies the default.
	if err := vonage.Verify(signatureSecret, sign(time.Hour), inboundBody); err == nil {
		t.Error("Verify accepted a token issued an hour before its check")
	}
}

func TestTheReplayWindowCoversEveryAcceptableToken(t *testing.T) {
	// A token issued a little in the future (clock skew) stays acceptable for
	// maxAge after its iat: its jti must be remembered at least that long.
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	iat := now.Add(50 * time.Second)
	auth, err := vonage.SignToken(signatureSecret, inboundBody, vonage.Token{ID: "ahead", IssuedAt: iat})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := vonage.VerifyToken(signatureSecret, auth, inboundBody, now, vonage.DefaultMaxTokenAge); err != nil {
		t.Fatalf("a token 50s ahead: %v", err)
	}
	lastAccepted := iat.Add(vonage.DefaultMaxTokenAge)
	if _, err := vonage.VerifyToken(signatureSecret, auth, inboundBody, lastAccepted, vonage.DefaultMaxTokenAge); err != nil {
		t.Fatalf("the same token at iat+maxAge: %v", err)
	}
	if w := vonage.ReplayWindow(vonage.DefaultMaxTokenAge); now.Add(w).Before(lastAccepted) {
		t.Errorf("ReplayWindow = %s: the jti would be forgotten at %s, but the token is accepted until %s", w, now.Add(w), lastAccepted)
	}
}
