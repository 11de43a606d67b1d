package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// The headers of a reply request.
const (
	HeaderTimestamp   = "X-Switchboard-Timestamp"
	HeaderSignature   = "X-Switchboard-Signature"
	HeaderIdempotency = "Idempotency-Key"
)

// signatureVersion prefixes the signature: a later scheme gets another version, and
// a receiver knows which one it checks.
const signatureVersion = "v1="

// DefaultWindow is the replay window receivers are asked to apply: a request whose
// timestamp is further than this from the receiver's clock is refused.
const DefaultWindow = 5 * time.Minute

// MinSecretBytes is the shortest signing secret New accepts.
const MinSecretBytes = 16

// Sign returns the X-Switchboard-Signature value of body sent at timestamp (the
// X-Switchboard-Timestamp header's text): "v1=" and the hex HMAC-SHA256, keyed by
// secret, of timestamp, ".", body.
func Sign(secret []byte, timestamp string, body []byte) string {
	return signatureVersion + hex.EncodeToString(mac(secret, timestamp, body))
}

func mac(secret []byte, timestamp string, body []byte) []byte {
	h := hmac.New(sha256.New, secret)
	h.Write([]byte(timestamp))
	h.Write([]byte{'.'})
	h.Write(body)
	return h.Sum(nil)
}

// Errors of Verify.
var (
	ErrBadSignature = errors.New("webhook: signature does not match")
	ErrStale        = errors.New("webhook: timestamp outside the replay window")
)

// Verify checks a reply request as a receiver must: signature is the
// X-Switchboard-Signature header, timestamp the X-Switchboard-Timestamp header, body
// the raw body. It fails with ErrBadSignature when the signature was not made with
// secret over this timestamp and body, and with ErrStale when the timestamp is more
// than window (DefaultWindow when 0) away from now. Deduplicating on the
// Idempotency-Key is left to the receiver.
func Verify(secret []byte, timestamp, signature string, body []byte, now time.Time, window time.Duration) error {
	if window <= 0 {
		window = DefaultWindow
	}
	hexSig, ok := strings.CutPrefix(signature, signatureVersion)
	if !ok {
		return fmt.Errorf("%w: it must begin with %q", ErrBadSignature, signatureVersion)
	}
	got, err := hex.DecodeString(hexSig)
	if err != nil || !hmac.Equal(got, mac(secret, timestamp, body)) {
		return ErrBadSignature
	}
	sec, err := strconv.ParseInt(timestamp, 10, 64)
	if err != nil {
		return fmt.Errorf("%w: %q is not a Unix time in seconds", ErrStale, timestamp)
	}
	if d := now.Sub(time.Unix(sec, 0)); d > window || d < -window {
		return fmt.Errorf("%w: it is %s away from now, more than %s", ErrStale, d.Round(time.Second), window)
	}
	return nil
}
