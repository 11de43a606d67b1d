package vonage_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-cc/switchboard/internal/fuzzedit"
	"github.com/switchboard-cc/switchboard/providers/vonage"
)

// Inbound webhook bodies as the Messages API posts them, the seeds of the fuzz
// targets below.
var realVonageBodies = [][]byte{
	inboundBody,
	[]byte(`{"to":"15550002000","from":"15557654321","channel":"whatsapp","message_uuid":"0f1d2c3b-4a59-6877-8695-a4b3c2d1e0f9",` +
		`"timestamp":"2025-02-03T12:14:25Z","message_type":"text","text":"hola, ¿están abiertos?",` +
		`"context_status":"none","profile":{"name":"Ann"},"whatsapp":{"referral":{}}}`),
	[]byte(`{"to":"15550002000","from":"15557654321","channel":"sms","message_uuid":"u-1","timestamp":"2025-02-03T12:14:25+01:00",` +
		`"message_type":"text","text":"x","sms":{"num_messages":"2","keyword":"X"},"usage":{"price":"0.0057","currency":"EUR"}}`),
	[]byte(`{"to":"15550002000","from":"15557654321","channel":"whatsapp","message_uuid":"u-2","timestamp":"2025-02-03T12:14:25Z",` +
		`"message_type":"image","image":{"url":"https://example.com/a.jpg"}}`),
	[]byte(`{"message_uuid":"u","from":"+15557654321","to":"0015550002000","channel":"sms","message_type":"text","text":"\u0000","timestamp":"2025-02-03T12:14:25.5Z"}`),
	[]byte(`{"message_uuid":"u","message_uuid":"","from":1}`),
	[]byte(`[]`),
	[]byte(`null`),
}

// FuzzParseInbound: whatever body arrives, ParseInbound either says which field is
// wrong, or returns a text message whose every field is there, whose numbers are
// E.164 when they were written without their plus, and which reads back the same
// when written as Vonage would write it.
func FuzzParseInbound(f *testing.F) {
	for _, b := range realVonageBodies {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		in, err := vonage.ParseInbound(body)
		if err != nil {
			msg := err.Error()
			if !strings.HasPrefix(msg, "vonage inbound webhook: ") {
				t.Fatalf("error %q does not say where it comes from", msg)
			}
			named := false
			for _, field := range []string{"JSON", "message_uuid", "from", "to", "channel", "message_type", "text", "timestamp"} {
				named = named || strings.Contains(msg, field)
			}
			if !named {
				t.Fatalf("error %q names no field", msg)
			}
			return
		}
		var raw map[string]any
		if err := json.Unmarshal(body, &raw); err != nil {
			t.Fatalf("accepted a body that is no JSON object: %v", err)
		}
		if in.MessageUUID == "" || in.From == "" || in.To == "" || in.Channel == "" || in.Text == "" || in.Timestamp.IsZero() {
			t.Fatalf("accepted %+v with a field missing", in)
		}
		for _, addr := range []string{in.From, in.To} {
			if !strings.HasPrefix(addr, "+") && asVonageWrites("+"+addr) == addr {
				t.Fatalf("number %q was left without its plus", addr)
			}
		}
		again, err := json.Marshal(map[string]string{
			"message_uuid": in.MessageUUID, "from": asVonageWrites(in.From), "to": asVonageWrites(in.To),
			"channel": in.Channel, "message_type": "text", "text": in.Text, "timestamp": in.Timestamp.Format(time.RFC3339Nano),
		})
		if err != nil {
			t.Fatal(err)
		}
		in2, err := vonage.ParseInbound(again)
		if err != nil {
			t.Fatalf("%+v written back does not parse: %v", in, err)
		}
		if in2.MessageUUID != in.MessageUUID || in2.Channel != in.Channel || in2.Text != in.Text || !in2.Timestamp.Equal(in.Timestamp) {
			t.Fatalf("written back and read again: %+v, was %+v", in2, in)
		}
		if in2.From != in.From || in2.To != in.To {
			t.Fatalf("numbers written back and read again: %q %q, were %q %q", in2.From, in2.To, in.From, in.To)
		}
	})
}

// asVonageWrites is an E.164 number without its plus, as Vonage writes numbers;
// any other address as it is.
func asVonageWrites(addr string) string {
	if rest, ok := strings.CutPrefix(addr, "+"); ok && len(rest) >= 7 && len(rest) <= 15 && rest[0] != '0' && strings.Trim(rest, "0123456789") == "" {
		return rest
	}
	return addr
}

// segments decodes a JWT's three parts the lenient way a parser may: base64url,
// unpadded, ignoring the unused bits of the last character.
func segments(auth string) ([3][]byte, bool) {
	var out [3][]byte
	_, tok, _ := strings.Cut(strings.TrimSpace(auth), " ")
	parts := strings.Split(strings.TrimSpace(tok), ".")
	if len(parts) != 3 {
		return out, false
	}
	for i, p := range parts {
		b, err := base64.RawURLEncoding.DecodeString(p)
		if err != nil {
			return out, false
		}
		out[i] = b
	}
	return out, true
}

// FuzzVerifyToken signs a body as Vonage does (HS256 JWT, payload_hash, iat, jti),
// checks that VerifyToken accepts it exactly when its iat is within the maximum age
// and its jti is not blank, then changes the body, or one byte of the
// Authorization header, and checks that neither change is accepted unless the
// header still says the same (base64url's spare bits, the scheme's case or
// spacing). Its errors never show the secret.
func FuzzVerifyToken(f *testing.F) {
	for i, b := range realVonageBodies {
		f.Add(b, "jti-"+string(rune('a'+i)), int64(i*60-60), []byte("x"), uint(i*17), byte(i), byte('A'))
	}
	f.Add(inboundBody, " ", int64(0), inboundBody, uint(0), byte(0), byte('b'))
	f.Add(inboundBody, "jti", int64(301), []byte{}, uint(7), byte(1), byte(' '))
	f.Add(inboundBody, "jti", int64(-61), []byte{}, uint(200), byte(2), byte('.'))
	f.Fuzz(func(t *testing.T, body []byte, jti string, ageSeconds int64, body2 []byte, pos uint, op, b byte) {
		now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
		const maxAge = vonage.DefaultMaxTokenAge
		if ageSeconds < -100000 || ageSeconds > 100000 {
			return
		}
		age := time.Duration(ageSeconds) * time.Second
		auth, err := vonage.SignToken(signatureSecret, body, vonage.Token{ID: jti, IssuedAt: now.Add(-age)})
		if err != nil {
			t.Fatal(err)
		}
		tok, err := vonage.VerifyToken(signatureSecret, auth, body, now, maxAge)
		wantOK := strings.TrimSpace(jti) != "" && age <= maxAge && age >= -time.Minute
		if wantOK != (err == nil) {
			t.Fatalf("a token %s old with jti %q: err = %v, want accepted %v", age, jti, err, wantOK)
		}
		if err != nil {
			checkVonageError(t, err)
			return
		}
		if tok.ID != jsonText(t, jti) || !tok.IssuedAt.Equal(now.Add(-age)) {
			t.Fatalf("VerifyToken = %+v, want jti %q iat %s", tok, jti, now.Add(-age))
		}

		if !bytes.Equal(body2, body) {
			_, err := vonage.VerifyToken(signatureSecret, auth, body2, now, maxAge)
			if err == nil {
				t.Fatalf("accepted body %q under the token for %q", body2, body)
			}
			checkVonageError(t, err)
		}

		auth2 := fuzzedit.Apply(auth, pos, op, b)
		tok2, err := vonage.VerifyToken(signatureSecret, auth2, body, now, maxAge)
		if err != nil {
			checkVonageError(t, err)
			return
		}
		s1, _ := segments(auth)
		s2, ok := segments(auth2)
		if !ok || !bytes.Equal(s1[0], s2[0]) || !bytes.Equal(s1[1], s2[1]) || !bytes.Equal(s1[2], s2[2]) || tok2 != tok {
			t.Fatalf("accepted a changed header:\nsigned   %q\naccepted %q", auth, auth2)
		}
	})
}

// jsonText is s as it reads back from JSON: bytes that are not UTF-8 become U+FFFD.
func jsonText(t *testing.T, s string) string {
	t.Helper()
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	var out string
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func checkVonageError(t *testing.T, err error) {
	t.Helper()
	msg := err.Error()
	if !strings.HasPrefix(msg, "vonage webhook: ") || len(msg) <= len("vonage webhook: ") {
		t.Fatalf("error %q does not say what failed", msg)
	}
	if strings.Contains(msg, signatureSecret) {
		t.Fatalf("error %q shows the secret", msg)
	}
}
