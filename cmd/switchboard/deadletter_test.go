package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/switchboard-cc/switchboard/api"
	"github.com/switchboard-cc/switchboard/internal/auth"
	"github.com/switchboard-cc/switchboard/internal/streams"
	"github.com/switchboard-cc/switchboard/internal/streams/streamstest"
	"github.com/switchboard-cc/switchboard/internal/turn"
)

// deadLetterAPI runs the real API on an embedded NATS server, with one turn the
// workflow's validator rejected and one malformed turn in the dead-letter stream.
func deadLetterAPI(t *testing.T) (url string, js jetstream.JetStream, tr turn.Turn) {
	t.Helper()
	nc, js := streamstest.Connect(t, streamstest.Start(t, streams.Config{}))
	ctx := context.Background()

	tr = turn.Turn{ID: "api:dl-1", Vendor: turn.VendorAPI, Channel: "sms", ConversationID: "api:dl-conv",
		From: "+15550000001", To: "+15550001000", Text: "hello", ReceivedAt: time.Now()}
	seq, _, err := streams.PublishTurn(ctx, js, tr)
	require.NoError(t, err)
	data, err := json.Marshal(tr)
	require.NoError(t, err)
	for i, m := range []struct {
		data    []byte
		subject string
		why     string
	}{{data, turn.TurnSubject(tr.ConversationID), "workflow rejected the turn: text is not allowed"}, {[]byte("{not json"), turn.TurnSubject("garbage"), "malformed turn: invalid character"}} {
		msg := &nats.Msg{Subject: turn.DeadLetterSubject, Data: m.data, Header: nats.Header{}}
		msg.Header.Set(turn.HeaderError, m.why)
		msg.Header.Set(turn.HeaderSubject, m.subject)
		msg.Header.Set(turn.HeaderStreamSequence, fmt.Sprint(seq+uint64(i)))
		_, err := js.PublishMsg(ctx, msg)
		require.NoError(t, err)
	}

	tokens := auth.Tokens{}
	tokens.Add(auth.RoleOps, cliToken)
	tokens.Add(auth.RoleIngress, "ingress-token-for-the-cli-test")
	srv, err := api.New(api.Config{PublicURL: "http://example.invalid", TwilioAuthToken: "twilio-token", VonageSignatureSecret: "vonage-secret", Tokens: tokens}, nc, js, nil, nil)
	require.NoError(t, err)
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(hs.Close)
	return hs.URL, js, tr
}

const cliToken = "ops-token-for-the-cli-test"

func TestDeadletterCommands_ListDryRunReplay_RedriveThroughTheTurnsStream(t *testing.T) {
	url, js, tr := deadLetterAPI(t)
	ctx := context.Background()
	turnsMsgs := func() uint64 {
		s, err := js.Stream(ctx, turn.TurnsStream)
		require.NoError(t, err)
		info, err := s.Info(ctx)
		require.NoError(t, err)
		return info.State.Msgs
	}

	_, err := runCLI(t, "deadletter", "list", "--api", url, "--token", "not-the-ops-token-at-all")
	require.ErrorContains(t, err, "401")

	out, err := runCLI(t, "deadletter", "list", "--api", url, "--token", cliToken)
	require.NoError(t, err)
	require.Contains(t, out, "api:dl-1\tapi:dl-conv\tturns seq 1\tworkflow rejected the turn: text is not allowed")
	require.Contains(t, out, "(malformed)\t"+turn.TurnSubject("garbage"))

	out, err = runCLI(t, "deadletter", "replay", "--dry-run", "--api", url, "--token", cliToken)
	require.NoError(t, err)
	require.Contains(t, out, "would_republish")
	require.Contains(t, out, "0 republished, 0 duplicate, 1 would republish, 1 kept (malformed), 0 failed")
	require.EqualValues(t, 1, turnsMsgs(), "a dry run publishes nothing")

	out, err = runCLI(t, "deadletter", "replay", "--api", url, "--token", cliToken)
	require.NoError(t, err)
	require.Contains(t, out, "1 republished, 0 duplicate, 0 would republish, 1 kept (malformed), 0 failed")
	require.EqualValues(t, 2, turnsMsgs())
	s, err := js.Stream(ctx, turn.TurnsStream)
	require.NoError(t, err)
	raw, err := s.GetMsg(ctx, 2)
	require.NoError(t, err)
	require.Equal(t, turn.TurnSubject(tr.ConversationID), raw.Subject)
	got, err := streams.DecodeTurn(raw.Data)
	require.NoError(t, err)
	require.Equal(t, tr.ID, got.ID, "the same turn id: the bridge's update id dedupes it against the workflow")

	out, err = runCLI(t, "deadletter", "list", "--api", url, "--token", cliToken)
	require.NoError(t, err)
	require.NotContains(t, out, "api:dl-1")
	require.Contains(t, out, "(malformed)")

	out, err = runCLI(t, "deadletter", "replay", "--api", url, "--token", cliToken)
	require.NoError(t, err)
	require.Contains(t, out, "0 republished, 0 duplicate, 0 would republish, 1 kept (malformed), 0 failed")
	require.EqualValues(t, 2, turnsMsgs(), "nothing replayed twice")
}
