package workers

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/switchboard-cc/switchboard/internal/streams"
	"github.com/switchboard-cc/switchboard/internal/streams/streamstest"
	"github.com/switchboard-cc/switchboard/internal/turn"
)

// newJetStream starts an embedded NATS server with Switchboard's streams and buckets.
func newJetStream(t *testing.T) jetstream.JetStream {
	t.Helper()
	_, js := streamstest.Connect(t, streamstest.Start(t, streams.Config{}))
	return js
}

func newLedger(t *testing.T) *SendLedger {
	t.Helper()
	kv, err := newJetStream(t).KeyValue(context.Background(), turn.SendsBucket)
	require.NoError(t, err)
	return NewSendLedger(kv)
}

var reply = turn.Message{Channel: "sms", From: "+15550001000", To: "+15551230001", Body: "We open at nine."}

func TestSendLedger_ASentReplyIsNeverClaimedAgain(t *testing.T) {
	l := newLedger(t)
	ctx := context.Background()
	c, err := l.Claim(ctx, "conv/run/1", "twilio", reply)
	require.NoError(t, err)
	require.Nil(t, c.Sent)
	require.Nil(t, c.Unknown)
	require.NoError(t, l.Confirm(ctx, c, "twilio", "SM1"))

	again, err := l.Claim(ctx, "conv/run/1", "vonage", reply)
	require.NoError(t, err)
	require.NotNil(t, again.Sent, "a retry finds the receipt instead of sending")
	require.Equal(t, "twilio", again.Sent.Provider)
	require.Equal(t, "SM1", again.Sent.MessageID)
}

func TestSendLedger_AFailedSendIsReleasedForTheNextProvider(t *testing.T) {
	l := newLedger(t)
	ctx := context.Background()
	c, err := l.Claim(ctx, "conv/run/2", "twilio", reply)
	require.NoError(t, err)
	require.NoError(t, l.Release(ctx, c))
	next, err := l.Claim(ctx, "conv/run/2", "vonage", reply)
	require.NoError(t, err)
	require.Nil(t, next.Sent)
	require.Nil(t, next.Unknown)
}

func TestSendLedger_AClaimHoldsUntilItsAttemptsDeadlinePlusGrace_ThenItsOutcomeIsUnknown(t *testing.T) {
	l := newLedger(t)
	ctx := context.Background()

	// The owner's attempt runs under a deadline, as a local activity does. With an
	// hour of grace, the claim holds past the deadline whatever the machine's load.
	l.Grace = time.Hour
	attempt, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	_, err := l.Claim(attempt, "conv/run/3", "twilio", reply)
	require.NoError(t, err)
	_, err = l.Claim(ctx, "conv/run/3", "twilio", reply)
	require.ErrorIs(t, err, ErrSendInFlight, "the owner's attempt may still be sending")
	var inFlight *InFlightError
	require.ErrorAs(t, err, &inFlight)
	deadline, _ := attempt.Deadline()
	require.True(t, inFlight.Until.Equal(deadline.Add(l.Grace)),
		"the error says the claim holds until the owner's deadline plus grace: %v, deadline %v", inFlight.Until, deadline)

	<-attempt.Done()
	_, err = l.Claim(ctx, "conv/run/3", "twilio", reply)
	require.ErrorIs(t, err, ErrSendInFlight, "within the grace after the owner's deadline")

	// Without grace, a claim lapses as soon as its owner's deadline has passed: the
	// context's end is the event to wait for, no clock needs to run on.
	l.Grace = 0
	attempt, cancel = context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	_, err = l.Claim(attempt, "conv/run/3b", "twilio", reply)
	require.NoError(t, err)
	<-attempt.Done()
	c, err := l.Claim(ctx, "conv/run/3b", "vonage", reply)
	require.NoError(t, err)
	require.NotNil(t, c.Unknown, "the owner vanished mid-send: nobody knows whether the vendor has the reply")
	require.Equal(t, "twilio", c.Unknown.Provider, "the vendor to ask is the one the owner sent to")
	require.Equal(t, reply, *c.Unknown.Message)

	// Whoever looks next finds it unknown too, until someone settles it.
	again, err := l.Claim(ctx, "conv/run/3b", "vonage", reply)
	require.NoError(t, err)
	require.NotNil(t, again.Unknown)
}

func TestSendLedger_AnUnknownSendIsNeverClaimedBlind(t *testing.T) {
	l := newLedger(t)
	ctx := context.Background()
	c, err := l.Claim(ctx, "conv/run/4", "twilio", reply)
	require.NoError(t, err)
	at := time.Now().Add(-time.Second)
	require.NoError(t, l.MarkUnknown(ctx, c, "twilio", reply, at, "twilio: timed out"))

	u, err := l.Claim(ctx, "conv/run/4", "vonage", reply)
	require.NoError(t, err)
	require.Nil(t, u.Sent)
	require.NotNil(t, u.Unknown, "a retry must settle the unknown send first")
	require.Equal(t, "twilio: timed out", u.Unknown.Detail)
	require.WithinDuration(t, at, u.Unknown.At, time.Millisecond)

	// The vendor said it has the message: the key is sent, by the vendor asked.
	require.NoError(t, l.Confirm(ctx, u, "twilio", "SM9"))
	done, err := l.Claim(ctx, "conv/run/4", "vonage", reply)
	require.NoError(t, err)
	require.NotNil(t, done.Sent)
	require.Equal(t, "SM9", done.Sent.MessageID)
}

func TestSendLedger_OnlyOneAttemptTakesOverAnUnknownSend(t *testing.T) {
	l := newLedger(t)
	ctx := context.Background()
	c, err := l.Claim(ctx, "conv/run/5", "twilio", reply)
	require.NoError(t, err)
	require.NoError(t, l.MarkUnknown(ctx, c, "twilio", reply, time.Now(), "timed out"))
	a, err := l.Claim(ctx, "conv/run/5", "vonage", reply)
	require.NoError(t, err)
	b, err := l.Claim(ctx, "conv/run/5", "vonage", reply)
	require.NoError(t, err)
	require.NotNil(t, a.Unknown)
	require.NotNil(t, b.Unknown)

	mine, err := l.TakeOver(ctx, a, "vonage", reply)
	require.NoError(t, err)
	_, err = l.TakeOver(ctx, b, "vonage", reply)
	require.ErrorIs(t, err, ErrSendInFlight, "the second attempt saw the same unknown entry, and lost the race")
	require.NoError(t, l.Confirm(ctx, mine, "vonage", "uuid-5"))
}
