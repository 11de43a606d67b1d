package logging

import (
	"bytes"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestMask_PhoneNumbersKeepTwoDigits_BodiesAreRedacted(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(Mask(slog.NewTextHandler(&buf, nil))).With("customer", "+15551230001")
	log.Info("send to +447700900123 failed", "error", errors.New("21211: The 'To' number +15551230099 is not valid"),
		"text", "my card number is 4111 1111 1111 1111", "turn", "twilio:SM123")
	out := buf.String()
	require.NotContains(t, out, "5551230001")
	require.NotContains(t, out, "7700900123")
	require.NotContains(t, out, "5551230099")
	require.NotContains(t, out, "4111")
	require.Contains(t, out, "+*********01")
	require.Contains(t, out, "bytes redacted")
	require.Contains(t, out, "turn=twilio:SM123", "ids are not phone numbers")
}

// Issue 12, item 10: a logged RunID became `01a23b44-2b25-72a+******34a550c7c2a`,
// which cannot be found in the UI. Ids of every kind must pass through unchanged.
func TestMask_RunIDsSIDsUUIDsAndTimestamps_PassThroughUnchanged(t *testing.T) {
	ids := map[string]string{
		"run_id":          "01a23b44-2b25-72a1-9034-34a550c7c2a0",
		"RunID":           "0193a1b2-7c3d-7e4f-8a9b-123456789012",
		"uuid":            "123e4567-e89b-12d3-a456-426614174000",
		"message_id":      "SM1234567890abcdef1234567890abcdef",
		"sid":             "SM8f2c1234567890123456789012345678",
		"vonage_id":       "0A00000012345678",
		"workflow_id":     "switchboard-canary-20261203131219",
		"conversation":    "twilio-sms-3f2a1b9c8d7e6f501234",
		"at":              "2026-12-03T13:12:19.123456789+01:00",
		"date":            "20261203",
		"escalation":      "esc-1733231539123456789",
		"event_sequence":  "1234567890123",
		"idempotency_key": "twilio:SM1234567890abcdef",
		"address":         "127.0.0.1:7233", // the Temporal frontend's
		"queue":           "tier1",
	}
	var buf bytes.Buffer
	log := slog.New(Mask(slog.NewTextHandler(&buf, nil)))
	args := []any{}
	for k, v := range ids {
		args = append(args, k, v)
	}
	args = append(args, "when", time.Date(2026, 12, 3, 13, 12, 19, 0, time.UTC), "count", 15551230001)
	log.Info("workflow 01a23b44-2b25-72a1-9034-34a550c7c2a0 started at 2026-12-03 13:12:19.000+0100 for SM1234567890abcdef1234567890abcdef", args...)
	out := buf.String()
	for k, v := range ids {
		require.Contains(t, out, k+"="+v, "%s is an id, not a phone number", k)
	}
	require.Contains(t, out, "workflow 01a23b44-2b25-72a1-9034-34a550c7c2a0 started at 2026-12-03 13:12:19.000+0100 for SM1234567890abcdef1234567890abcdef")
	require.Contains(t, out, "when=2026-12-03T13:12:19.000Z")
	require.Contains(t, out, "count=15551230001", "a number in a field that is no address is left alone")
	require.NotContains(t, out, "*")
}

func TestMask_AddressAndBodyFields_AreMaskedWhateverTheirShape(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(Mask(slog.NewTextHandler(&buf, nil)))
	log.WithGroup("turn").Info("turn",
		"from", "+15551230001", "to", "447700900123", "customer", "whatsapp:+15551230002",
		"text", "call me on 555 123 0003", "body", "hello", "reply", "Your order ships today")
	out := buf.String()
	for _, secret := range []string{"5551230001", "7700900123", "5551230002", "0003", "hello", "ships today"} {
		require.NotContains(t, out, secret)
	}
	require.Contains(t, out, "turn.from=+*********01")
	require.Contains(t, out, "turn.to=**********23")
	require.Contains(t, out, "turn.customer=whatsapp:+*********02")
	require.Contains(t, out, `turn.text="[23 bytes redacted]"`)
	require.Contains(t, out, `turn.reply="[22 bytes redacted]"`)
}

func TestMaskString_FindsE164NumbersInFreeText(t *testing.T) {
	for in, want := range map[string]string{
		"The 'To' number +15551230099 is not valid": "The 'To' number +*********99 is not valid",
		"to=+447700900123,from=+15551230001":        "to=+**********23,from=+*********01",
		"(+15551230001)":                            "(+*********01)",
		"tz +01:00 and +0100 and a+15551230001":     "tz +01:00 and +0100 and a+15551230001",
		"+15551230001":                              "+*********01",
	} {
		require.Equal(t, want, MaskString(in), in)
	}
}
