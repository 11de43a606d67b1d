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

// DefaultMaxTokenAge is how old a webhook token (its iat) may be by default. Vonage
// signs every delivery afresh, so a genuine webhook arrives within seconds of its iat.
const DefaultMaxTokenAge = 5 * time.Minute

// Token is what a verified webhook token says about itself.
type Token struct {
	// ID is the token's jti: unique per token Vonage signs. A receiver that has seen
	// it before is looking at a replay.
	ID string
	// IssuedAt is the token's iat.
	IssuedAt time.Time
}

// ReplayWindow is how long a receiver must remember a token's jti to refuse every
// replay of it: a token is accepted while its iat is at most maxAge old, and its iat
// may be up to the tolerated clock skew ahead of the receiver's clock.
func ReplayWindow(maxAge time.Duration) time.Duration { return maxAge + clockSkew }

// Verify checks the Authorization header of a signed Vonage webhook as VerifyToken
// does, now and with DefaultMaxTokenAge. It does not remember jtis: a caller that
// must refuse replays (the API does) uses VerifyToken and records Token.ID.
func Verify(secret string, authorization string, body []byte) error {
	_, err := VerifyToken(secret, authorization, body, time.Now(), DefaultMaxTokenAge)
	return err
}

// VerifyToken checks the Authorization header of a signed Vonage webhook: a Bearer
// JWT signed HS256 with the account's signature secret, whose payload_hash claim is
// the hex SHA-256 of body, whose iat is neither in the future (beyond a minute of
// clock skew) nor older than maxAge, and which has a jti. Any other algorithm is
// refused, so a token cannot choose how it is checked. A token without iat or jti is
// refused: Vonage sends both, and without them a replay cannot be told from a new
// delivery.
//
// A valid token can still be replayed with the same body within maxAge. The caller
// refuses a jti it has seen before (the API keeps them in a NATS KV bucket for
// ReplayWindow(maxAge)); inbound handling also dedupes on message_uuid.
func VerifyToken(secret string, authorization string, body []byte, now time.Time, maxAge time.Duration) (Token, error) {
	if secret == "" {
		return Token{}, errors.New("vonage webhook: no signature secret configured")
	}
	if maxAge <= 0 {
		return Token{}, errors.New("vonage webhook: no maximum token age configured")
	}
	scheme, raw, ok := strings.Cut(strings.TrimSpace(authorization), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(raw) == "" {
		return Token{}, errors.New("vonage webhook: Authorization is not a Bearer token")
	}
	claims := jwt.MapClaims{}
	_, err := jwt.ParseWithClaims(strings.TrimSpace(raw), claims,
		func(*jwt.Token) (any, error) { return []byte(secret), nil },
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(clockSkew),
		jwt.WithTimeFunc(func() time.Time { return now }),
	)
	if err != nil {
		// jwt's messages name the failed check, never the key.
		return Token{}, fmt.Errorf("vonage webhook: %w", err)
	}
	iat, err := claims.GetIssuedAt()
	if err != nil || iat == nil {
		return Token{}, errors.New("vonage webhook: token has no iat")
	}
	if age := now.Sub(iat.Time); age > maxAge {
		return Token{}, fmt.Errorf("vonage webhook: token is too old (issued %s ago, at most %s is accepted)", age.Truncate(time.Second), maxAge)
	}
	jti, _ := claims["jti"].(string)
	if strings.TrimSpace(jti) == "" {
		return Token{}, errors.New("vonage webhook: token has no jti")
	}
	hash, _ := claims["payload_hash"].(string)
	if hash == "" {
		return Token{}, errors.New("vonage webhook: token has no payload_hash")
	}
	sum := sha256.Sum256(body)
	if subtle.ConstantTimeCompare([]byte(strings.ToLower(hash)), []byte(hex.EncodeToString(sum[:]))) != 1 {
		return Token{}, errors.New("vonage webhook: payload_hash does not match the body")
	}
	return Token{ID: jti, IssuedAt: iat.Time}, nil
}

// Sign returns the Authorization header value Vonage would send with body: "Bearer "
// and an HS256 JWT over iat (now), a fresh jti, iss and payload_hash. It lets tests
// and the dev CLI post inbound messages that VerifyToken accepts.
func Sign(secret string, body []byte) (string, error) {
	return SignToken(secret, body, Token{ID: uuid.NewString(), IssuedAt: time.Now()})
}

// SignToken is Sign with the token's jti and iat chosen by the caller, so that tests
// can build stale tokens and replays.
func SignToken(secret string, body []byte, t Token) (string, error) {
	if secret == "" {
		return "", errors.New("vonage webhook: no signature secret to sign with")
	}
	sum := sha256.Sum256(body)
	tok := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"iat":          t.IssuedAt.Unix(),
		"jti":          t.ID,
		"iss":          "Vonage",
		"payload_hash": hex.EncodeToString(sum[:]),
	})
	signed, err := tok.SignedString([]byte(secret))
	if err != nil {
		return "", fmt.Errorf("vonage webhook: signing: %w", err)
	}
	return "Bearer " + signed, nil
}
