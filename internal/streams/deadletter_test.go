package streams_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/switchboard-cc/switchboard/internal/streams"
	"github.com/switchboard-cc/switchboard/internal/streams/streamstest"
	"github.com/switchboard-cc/switchboard/internal/turn"
)

func newJS(t *testing.T) jetstream.JetStream {
	t.Helper()
	_, js := streamstest.Connect(t, streamstest.Start(t, streams.Config{}))
	return js
}

// deadLetter stores data in the dead-letter stream as the bridge does.
func deadLetter(t *testing.T, js jetstream.JetStream, data []byte, subject string, seq uint64, why string) {
	t.Helper()
	msg := &nats.Msg{Subject: turn.DeadLetterSubject, Data: data, Header: nats.Header{}}
	msg.Header.Set(turn.HeaderError, why)
	msg.Header.Set(turn.HeaderSubject, subject)
	msg.Header.Set(turn.HeaderStreamSequence, fmt.Sprint(seq))
	_, err := js.PublishMsg(context.Background(), msg, jetstream.WithMsgID(turn.DeadLetterMsgID(seq)))
	require.NoError(t, err)
}

func TestDeadLetters_ListAndReplay_RedrivesTurnsThroughTheTurnsStreamOnce_KeepsMalformed(t *testing.T) {
	js := newJS(t)
	ctx := context.Background()
	tr := turn.Turn{ID: "api:m1", Vendor: turn.VendorAPI, Channel: "sms", ConversationID: "api:conv-1",
		From: "+15550000001", To: "+15550001000", Text: "hello", ReceivedAt: time.Now()}
	// The turn was accepted once (its id is in the duplicate window), then
	// dead-lettered because the workflow's validator refused it.
	seq, _, err := streams.PublishTurn(ctx, js, tr)
	require.NoError(t, err)
	data, err := json.Marshal(tr)
	require.NoError(t, err)
	deadLetter(t, js, data, turn.TurnSubject(tr.ConversationID), seq, "text is not allowed")
	deadLetter(t, js, []byte("{not json"), turn.TurnSubject("garbage"), 99, "malformed turn")

	list, err := streams.ListDeadLetters(ctx, js, 0)
	require.NoError(t, err)
	require.Len(t, list, 2)
	require.Equal(t, "api:m1", list[0].TurnID)
	require.Equal(t, "api:conv-1", list[0].ConversationID)
	require.Equal(t, "text is not allowed", list[0].Error)
	require.Equal(t, seq, list[0].StreamSequence)
	require.Equal(t, turn.TurnSubject(tr.ConversationID), list[0].Subject)
	require.Contains(t, list[1].Malformed, "malformed turn")
	one, err := streams.ListDeadLetters(ctx, js, 1)
	require.NoError(t, err)
	require.Len(t, one, 1)

	turns, err := js.Stream(ctx, turn.TurnsStream)
	require.NoError(t, err)
	msgs := func() uint64 {
		info, err := turns.Info(ctx)
		require.NoError(t, err)
		return info.State.Msgs
	}
	require.EqualValues(t, 1, msgs())

	dry, err := streams.ReplayDeadLetters(ctx, js, 0, true)
	require.NoError(t, err)
	require.True(t, dry.DryRun)
	require.Equal(t, []string{"would_republish", "kept_malformed"}, []string{dry.Entries[0].Result, dry.Entries[1].Result})
	require.EqualValues(t, 1, msgs(), "a dry run changes nothing")
	list, err = streams.ListDeadLetters(ctx, js, 0)
	require.NoError(t, err)
	require.Len(t, list, 2)

	rep, err := streams.ReplayDeadLetters(ctx, js, 0, false)
	require.NoError(t, err)
	require.Equal(t, "republished", rep.Entries[0].Result, rep.Entries[0].Problem)
	require.Equal(t, "kept_malformed", rep.Entries[1].Result)
	require.EqualValues(t, 2, msgs(), "stored again, although its turn id is in the duplicate window")
	raw, err := turns.GetMsg(ctx, rep.Entries[0].TurnsSequence)
	require.NoError(t, err)
	require.Equal(t, turn.TurnSubject(tr.ConversationID), raw.Subject)
	require.Equal(t, fmt.Sprint(list[0].Sequence), raw.Header.Get(turn.HeaderRedrivenFrom))
	got, err := streams.DecodeTurn(raw.Data)
	require.NoError(t, err)
	require.Equal(t, tr.ID, got.ID)

	list, err = streams.ListDeadLetters(ctx, js, 0)
	require.NoError(t, err)
	require.Len(t, list, 1, "the replayed turn left the dead-letter stream; the malformed one stays")
	require.NotEmpty(t, list[0].Malformed)

	// A replay that died after its publish, before its delete: the turn is not
	// stored twice.
	deadLetter(t, js, data, turn.TurnSubject(tr.ConversationID), seq, "text is not allowed") // dead:<seq> again
	list, err = streams.ListDeadLetters(ctx, js, 0)
	require.NoError(t, err)
	require.Len(t, list, 1, "the bridge's own dedupe of dead letters")
}

func TestEnsure_RefusesAStreamPartitionedOtherwise(t *testing.T) {
	js := newJS(t)
	ctx := context.Background()
	s, err := js.Stream(ctx, turn.TurnsStream)
	require.NoError(t, err)
	cfg := s.CachedInfo().Config
	require.Equal(t, fmt.Sprint(turn.TurnPartitions), cfg.Metadata[turn.PartitionsMetadataKey])
	cfg.Metadata = map[string]string{turn.PartitionsMetadataKey: "7"}
	_, err = js.UpdateStream(ctx, cfg)
	require.NoError(t, err)
	require.ErrorContains(t, streams.Ensure(ctx, js, streams.Config{MemoryStorage: true}), "partitioned in 7")
}
