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
	msg := &nats.Msg{Subject: streams.DeadLetterSubject, Data: data, Header: nats.Header{}}
	msg.Header.Set(streams.HeaderError, why)
	msg.Header.Set(streams.HeaderSubject, subject)
	msg.Header.Set(streams.HeaderStreamSequence, fmt.Sprint(seq))
	_, err := js.PublishMsg(context.Background(), msg, jetstream.WithMsgID(fmt.Sprintf("dead:%d", seq)))
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
	deadLetter(t, js, data, streams.TurnSubject(tr.ConversationID), seq, "text is not allowed")
	deadLetter(t, js, []byte("{not json"), streams.TurnSubject("garbage"), 99, "malformed turn")

	list, err := streams.ListDeadLetters(ctx, js, 0)
	require.NoError(t, err)
	require.Len(t, list, 2)
	require.Equal(t, "api:m1", list[0].TurnID)
	require.Equal(t, "api:conv-1", list[0].ConversationID)
	require.Equal(t, "text is not allowed", list[0].Error)
	require.Equal(t, seq, list[0].StreamSequence)
	require.Equal(t, streams.TurnSubject(tr.ConversationID), list[0].Subject)
	require.Contains(t, list[1].Malformed, "malformed turn")
	one, err := streams.ListDeadLetters(ctx, js, 1)
	require.NoError(t, err)
	require.Len(t, one, 1)

	turns, err := js.Stream(ctx, streams.TurnsStream)
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
	require.Equal(t, streams.TurnSubject(tr.ConversationID), raw.Subject)
	require.Equal(t, fmt.Sprint(list[0].Sequence), raw.Header.Get(streams.HeaderRedrivenFrom))
	got, err := streams.DecodeTurn(raw.Data)
	require.NoError(t, err)
	require.Equal(t, tr.ID, got.ID)

	list, err = streams.ListDeadLetters(ctx, js, 0)
	require.NoError(t, err)
	require.Len(t, list, 1, "the replayed turn left the dead-letter stream; the malformed one stays")
	require.NotEmpty(t, list[0].Malformed)

	// A replay that died after its publish, before its delete: the turn is not
	// stored twice.
	deadLetter(t, js, data, streams.TurnSubject(tr.ConversationID), seq, "text is not allowed") // dead:<seq> again
	list, err = streams.ListDeadLetters(ctx, js, 0)
	require.NoError(t, err)
	require.Len(t, list, 1, "the bridge's own dedupe of dead letters")
}

func TestTurnSubjects_PartitionedAndLegacyNeverOverlap(t *testing.T) {
	conv := turn.ConversationID("twilio", "sms", "+15550000001", "+15550001000")
	p := streams.PartitionOf(conv)
	require.Equal(t, p, streams.PartitionOf(conv), "stable")
	require.GreaterOrEqual(t, p, 0)
	require.Less(t, p, streams.TurnPartitions)
	require.Equal(t, fmt.Sprintf("switchboard.turns.%02d.%s", p, conv), streams.TurnSubject(conv))
	sub := func(filter, subject string) bool {
		return subjectMatches(filter, subject)
	}
	require.True(t, sub(streams.PartitionFilter(p), streams.TurnSubject(conv)))
	require.False(t, sub(streams.PartitionFilter((p+1)%streams.TurnPartitions), streams.TurnSubject(conv)))
	require.False(t, sub(streams.LegacyTurnsFilter, streams.TurnSubject(conv)))
	require.True(t, sub(streams.LegacyTurnsFilter, streams.LegacyTurnSubject(conv)))
	require.False(t, sub(streams.PartitionFilter(p), streams.LegacyTurnSubject(conv)))
	// Spread: 1000 conversations use every partition.
	seen := map[int]bool{}
	for i := range 1000 {
		seen[streams.PartitionOf(fmt.Sprintf("api:c%d", i))] = true
	}
	require.Len(t, seen, streams.TurnPartitions)
}

func TestEnsure_RefusesAStreamPartitionedOtherwise(t *testing.T) {
	js := newJS(t)
	ctx := context.Background()
	s, err := js.Stream(ctx, streams.TurnsStream)
	require.NoError(t, err)
	cfg := s.CachedInfo().Config
	require.Equal(t, fmt.Sprint(streams.TurnPartitions), cfg.Metadata[streams.PartitionsMetadataKey])
	cfg.Metadata = map[string]string{streams.PartitionsMetadataKey: "7"}
	_, err = js.UpdateStream(ctx, cfg)
	require.NoError(t, err)
	require.ErrorContains(t, streams.Ensure(ctx, js, streams.Config{MemoryStorage: true}), "partitioned in 7")
}

// subjectMatches is NATS subject matching: * one token, > the rest.
func subjectMatches(filter, subject string) bool {
	f, s := splitTokens(filter), splitTokens(subject)
	for i, tok := range f {
		if tok == ">" {
			return len(s) > i
		}
		if i >= len(s) || (tok != "*" && tok != s[i]) {
			return false
		}
	}
	return len(f) == len(s)
}

func splitTokens(s string) []string {
	var out []string
	start := 0
	for i := range len(s) {
		if s[i] == '.' {
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}
