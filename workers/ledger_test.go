package workers

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/switchboard-cc/switchboard/internal/devnats"
	"github.com/switchboard-cc/switchboard/internal/streams"
)

// newJetStream starts an embedded NATS server with Switchboard's streams and buckets.
func newJetStream(t *testing.T) jetstream.JetStream {
	t.Helper()
	ns, err := devnats.Start(devnats.Config{Port: devnats.RandomPort})
	require.NoError(t, err)
	t.Cleanup(ns.Stop)
	nc, err := nats.Connect(ns.ClientURL())
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	require.NoError(t, streams.Ensure(context.Background(), js, streams.Config{MemoryStorage: true}))
	return js
}

func newLedger(t *testing.T) *SendLedger {
	t.Helper()
	kv, err := newJetStream(t).KeyValue(context.Background(), streams.SendsBucket)
	require.NoError(t, err)
	return NewSendLedger(kv)
}

func TestSendLedger_ASentReplyIsNeverClaimedAgain(t *testing.T) {
	l := newLedger(t)
	ctx := context.Background()
	c, err := l.Claim(ctx, "conv/run/1", "twilio")
	require.NoError(t, err)
	require.Nil(t, c.Sent)
	require.NoError(t, l.Confirm(ctx, c, "twilio", "SM1"))

	again, err := l.Claim(ctx, "conv/run/1", "vonage")
	require.NoError(t, err)
	require.NotNil(t, again.Sent, "a retry finds the receipt instead of sending")
	require.Equal(t, "twilio", again.Sent.Provider)
	require.Equal(t, "SM1", again.Sent.MessageID)
}

func TestSendLedger_AFailedSendIsReleasedForTheNextProvider(t *testing.T) {
	l := newLedger(t)
	ctx := context.Background()
	c, err := l.Claim(ctx, "conv/run/2", "twilio")
	require.NoError(t, err)
	require.NoError(t, l.Release(ctx, c))
	next, err := l.Claim(ctx, "conv/run/2", "vonage")
	require.NoError(t, err)
	require.Nil(t, next.Sent)
}

func TestSendLedger_AClaimHoldsUntilItsAttemptsDeadlinePlusGrace(t *testing.T) {
	l := newLedger(t)
	l.Grace = 50 * time.Millisecond
	// The owner's attempt runs under a deadline, as a local activity does.
	attempt, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err := l.Claim(attempt, "conv/run/3", "twilio")
	require.NoError(t, err)
	ctx := context.Background()
	_, err = l.Claim(ctx, "conv/run/3", "twilio")
	require.ErrorIs(t, err, ErrSendInFlight, "the owner's attempt may still be sending")

	<-attempt.Done()
	_, err = l.Claim(ctx, "conv/run/3", "twilio")
	require.ErrorIs(t, err, ErrSendInFlight, "within the grace after the owner's deadline")
	time.Sleep(60 * time.Millisecond)
	c, err := l.Claim(ctx, "conv/run/3", "vonage")
	require.NoError(t, err, "the owner of a stale claim is presumed dead")
	require.NoError(t, l.Confirm(ctx, c, "vonage", "uuid-1"))
}
