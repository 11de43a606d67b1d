package logging

import (
	"bytes"
	"errors"
	"log/slog"
	"testing"

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
