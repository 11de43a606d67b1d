package vonage

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
)

// clockSkew is how far in the future a webhook's iat may be: Vonage's clock and ours
// disagree a little, but a token minted far ahead was not minted by Vonage.
const clockSkew = time.Minute

var plusless = regexp.MustCompile(`^[1-9][0-9]{6,14}$`)

// Inbound is a text message a customer sent, as the Messages API inbound webhook
// describes it. Numbers are E.164 with their plus, as elsewhere in Switchboard.
type Inbound struct {
	MessageUUID string
	From        string
	To          string
	Channel     string // sms, whatsapp, ...
	Text        string
	Timestamp   time.Time
}

type inboundJSON struct {
	MessageUUID string `json:"message_uuid"`
	From        string `json:"from"`
	To          string `json:"to"`
	Channel     string `json:"channel"`
	MessageType string `json:"message_type"`
	Text        string `json:"text"`
	Timestamp   string `json:"timestamp"`
}

// ParseInbound reads the body of a Messages API inbound webhook. Only text messages
// are accepted: Switchboard's conversations are text. It does not check the
// signature: call Verify first.
func ParseInbound(body []byte) (Inbound, error) {
	var in inboundJSON
	if err := json.Unmarshal(body, &in); err != nil {
		return Inbound{}, fmt.Errorf("vonage inbound webhook: body is not a JSON object: %w", err)
	}
	for _, f := range []struct{ name, v string }{
		{"message_uuid", in.MessageUUID},
		{"from", in.From},
		{"to", in.To},
		{"channel", in.Channel},
		{"message_type", in.MessageType},
		{"timestamp", in.Timestamp},
	} {
		if f.v == "" {
			return Inbound{}, fmt.Errorf("vonage inbound webhook: %s is missing", f.name)
		}
	}
	if in.MessageType != "text" {
		return Inbound{}, fmt.Errorf("vonage inbound webhook: message_type %q is not supported (only text)", in.MessageType)
	}
	if in.Text == "" {
		return Inbound{}, errors.New("vonage inbound webhook: text is missing")
	}
	ts, err := time.Parse(time.RFC3339, in.Timestamp)
	if err != nil {
		return Inbound{}, fmt.Errorf("vonage inbound webhook: timestamp %q is not RFC 3339", in.Timestamp)
	}
	return Inbound{
		MessageUUID: in.MessageUUID,
		From:        e164(in.From),
		To:          e164(in.To),
		Channel:     in.Channel,
		Text:        in.Text,
		Timestamp:   ts,
	}, nil
}

func e164(addr string) string {
	if plusless.MatchString(addr) {
		return "+" + addr
	}
	return addr
}

// Verify checks the Authorization header of a signed Vonage webhook: a Bearer JWT
// signed HS256 with the account's signature secret, whose payload_hash claim is the
// hex SHA-256 of body and whose iat is not in the future. Any other algorithm is
// refused, so a token cannot choose how it is checked.
//
// A valid token can be replayed with the same body; inbound handling dedupes on
// message_uuid for that reason.
func Verify(secret string, authorization string, body []byte) error {
	if secret == "" {
		return errors.New("vonage webhook: no signature secret configured")
	}
	scheme, raw, ok := strings.Cut(strings.TrimSpace(authorization), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(raw) == "" {
		return errors.New("vonage webhook: Authorization is not a Bearer token")
	}
	claims := jwt.MapClaims{}
	_, err := jwt.ParseWithClaims(strings.TrimSpace(raw), claims,
		func(*jwt.Token) (any, error) { return []byte(secret), nil },
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(clockSkew),
	)
	if err != nil {
		// jwt's messages name the failed check, never the key.
		return fmt.Errorf("vonage webhook: %w", err)
	}
	if _, ok := claims["iat"]; !ok {
		return errors.New("vonage webhook: token has no iat")
	}
	hash, _ := claims["payload_hash"].(string)
	if hash == "" {
		return errors.New("vonage webhook: token has no payload_hash")
	}
	sum := sha256.Sum256(body)
	if subtle.ConstantTimeCompare([]byte(strings.ToLower(hash)), []byte(hex.EncodeToString(sum[:]))) != 1 {
		return errors.New("vonage webhook: payload_hash does not match the body")
	}
	return nil
}

// Sign returns the Authorization header value Vonage would send with body: "Bearer "
// and an HS256 JWT over iat, jti, iss and payload_hash. It lets tests and the dev CLI
// post inbound messages that Verify accepts.
func Sign(secret string, body []byte) (string, error) {
	if secret == "" {
		return "", errors.New("vonage webhook: no signature secret to sign with")
	}
	sum := sha256.Sum256(body)
	tok := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"iat":          time.Now().Unix(),
		"jti":          uuid.NewString(),
		"iss":          "Vonage",
		"payload_hash": hex.EncodeToString(sum[:]),
	})
	signed, err := tok.SignedString([]byte(secret))
	if err != nil {
		return "", fmt.Errorf("vonage webhook: signing: %w", err)
	}
	return "Bearer " + signed, nil
}
