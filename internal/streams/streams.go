// Package streams creates the JetStream streams and key-value buckets that
// Switchboard's processes share, and performs the few operations on them that both
// the API and the workers do: publishing and decoding turns, waiting for a turn's
// outcome, the bridge's lag, the dead-letter stream's list and replay.
//
// The streams' names, subjects, consumers and buckets are the contract's
// (internal/turn, names.go); this package owns their settings (Config, Ensure), so an
// api process and a worker process can never disagree about them either:
//
//   - SWITCHBOARD_TURNS: file storage, a duplicate window on the turn id, the
//     partition count recorded in its metadata (a stream recorded with another
//     count is refused).
//   - SWITCHBOARD_EVENTS, SWITCHBOARD_ESCALATIONS, SWITCHBOARD_DEADLETTER.
//   - KV switchboard_sends (the send ledger), switchboard_held (turns held past
//     stuck_after, HeldTTL), switchboard_webhook_jti (accepted webhook tokens, kept
//     as long as such a token could be accepted).
//
// It imports internal/turn and nothing else of the project.
package streams

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/switchboard-cc/switchboard/internal/turn"
)

// HeldTTL is how long an entry of the held-turns bucket (turn.HeldBucket) lives
// after the bridge last failed with its turns.
const HeldTTL = 2 * time.Minute

// Config sets the durability and retention of the streams.
type Config struct {
	// Replicas per stream: 1 on one server, 3 on a production cluster.
	Replicas int
	// DuplicateWindow is how long a turn id is remembered: a vendor retry of the same
	// message within it is acknowledged and dropped.
	DuplicateWindow time.Duration
	// TurnsMaxAge bounds how long turns are kept after they were handed on.
	TurnsMaxAge time.Duration
	// EventsMaxAge bounds how long outcomes are kept for consumers.
	EventsMaxAge time.Duration
	// SendLedgerTTL is how long a reply's ledger entry is kept.
	SendLedgerTTL time.Duration
	// WebhookTokenTTL is how long an accepted webhook token's jti is remembered:
	// the API role sets it to the replay window of its maximum token age. Zero (a
	// role that verifies no webhook) creates the bucket with
	// DefaultWebhookTokenTTL if it is missing and leaves an existing one as it is,
	// so that a worker never shortens what an API process configured.
	WebhookTokenTTL time.Duration
	// MemoryStorage keeps streams in memory. Only for tests.
	MemoryStorage bool
}

// Defaults for Config.
const (
	DefaultDuplicateWindow = time.Hour
	DefaultTurnsMaxAge     = 7 * 24 * time.Hour
	DefaultEventsMaxAge    = 24 * time.Hour
	DefaultSendLedgerTTL   = 7 * 24 * time.Hour
	// DefaultWebhookTokenTTL is the replay window of the default maximum age of a
	// Vonage webhook token (5 min) and its clock skew (1 min).
	DefaultWebhookTokenTTL = 6 * time.Minute
)

// Validate fills defaults and reports the first bad field.
func (c *Config) Validate() error {
	if c.Replicas == 0 {
		c.Replicas = 1
	}
	if c.DuplicateWindow == 0 {
		c.DuplicateWindow = DefaultDuplicateWindow
	}
	if c.TurnsMaxAge == 0 {
		c.TurnsMaxAge = DefaultTurnsMaxAge
	}
	if c.EventsMaxAge == 0 {
		c.EventsMaxAge = DefaultEventsMaxAge
	}
	if c.SendLedgerTTL == 0 {
		c.SendLedgerTTL = DefaultSendLedgerTTL
	}
	switch {
	case c.Replicas < 1 || c.Replicas > 5:
		return fmt.Errorf("streams: Replicas must be between 1 and 5, got %d", c.Replicas)
	case c.DuplicateWindow < time.Second:
		return fmt.Errorf("streams: DuplicateWindow must be at least 1s")
	case c.TurnsMaxAge < c.DuplicateWindow:
		return fmt.Errorf("streams: TurnsMaxAge must be at least DuplicateWindow")
	case c.EventsMaxAge < time.Minute:
		return fmt.Errorf("streams: EventsMaxAge must be at least 1m")
	case c.SendLedgerTTL < time.Hour:
		return fmt.Errorf("streams: SendLedgerTTL must be at least 1h")
	case c.WebhookTokenTTL < 0:
		return fmt.Errorf("streams: WebhookTokenTTL must not be negative")
	}
	return nil
}

// Ensure creates or updates every stream and bucket. It is idempotent and safe to
// run from every process at start.
func Ensure(ctx context.Context, js jetstream.JetStream, c Config) error {
	if err := c.Validate(); err != nil {
		return err
	}
	storage := jetstream.FileStorage
	if c.MemoryStorage {
		storage = jetstream.MemoryStorage
	}
	if err := checkPartitions(ctx, js); err != nil {
		return err
	}
	for _, sc := range []jetstream.StreamConfig{
		{
			Name: turn.TurnsStream, Subjects: []string{turn.TurnsSubjectPrefix + ">"},
			Storage: storage, Replicas: c.Replicas, Duplicates: c.DuplicateWindow, MaxAge: c.TurnsMaxAge,
			Description: "Accepted customer turns, deduplicated by turn id",
			Metadata:    map[string]string{turn.PartitionsMetadataKey: strconv.Itoa(turn.TurnPartitions)},
		},
		{
			Name: turn.EventsStream, Subjects: []string{turn.EventsSubjectPrefix + ">"},
			Storage: storage, Replicas: c.Replicas, MaxAge: c.EventsMaxAge,
			Description: "Turn outcomes for contact-center backends",
		},
		{
			Name: turn.EscalationsStream, Subjects: []string{turn.EscalationsPrefix + ">", turn.FlaggedSubject},
			Storage: storage, Replicas: c.Replicas, MaxAge: c.TurnsMaxAge,
			Description: "Escalations to human queues",
		},
		{
			Name: turn.DeadLetterStream, Subjects: []string{turn.DeadLetterSubject},
			Storage: storage, Replicas: c.Replicas,
			Description: "Turns that could never be handed to their conversation workflow",
		},
	} {
		if _, err := js.CreateOrUpdateStream(ctx, sc); err != nil {
			return fmt.Errorf("stream %s: %w", sc.Name, err)
		}
	}
	kvStorage := jetstream.FileStorage
	if c.MemoryStorage {
		kvStorage = jetstream.MemoryStorage
	}
	if _, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket: turn.SendsBucket, Storage: kvStorage, Replicas: c.Replicas, TTL: c.SendLedgerTTL,
		Description: "Send ledger: one entry per reply idempotency key",
	}); err != nil {
		return fmt.Errorf("bucket %s: %w", turn.SendsBucket, err)
	}
	if _, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket: turn.HeldBucket, Storage: kvStorage, Replicas: c.Replicas, TTL: HeldTTL,
		Description: "Turns held in JetStream past stuck_after, per conversation",
	}); err != nil {
		return fmt.Errorf("bucket %s: %w", turn.HeldBucket, err)
	}
	tokens := jetstream.KeyValueConfig{
		Bucket: turn.WebhookTokensBucket, Storage: kvStorage, Replicas: c.Replicas, TTL: c.WebhookTokenTTL,
		Description: "Ids (jti) of accepted webhook tokens, to refuse replays",
	}
	var err error
	if c.WebhookTokenTTL > 0 {
		_, err = js.CreateOrUpdateKeyValue(ctx, tokens)
	} else {
		tokens.TTL = DefaultWebhookTokenTTL
		if _, err = js.CreateKeyValue(ctx, tokens); errors.Is(err, jetstream.ErrBucketExists) {
			err = nil // kept as an API process configured it
		}
	}
	if err != nil {
		return fmt.Errorf("bucket %s: %w", turn.WebhookTokensBucket, err)
	}
	return nil
}

// checkPartitions refuses a turns stream whose recorded partition count is not
// TurnPartitions. A stream without the record (new, or of a version before
// partitioning) is fine: Ensure records it.
func checkPartitions(ctx context.Context, js jetstream.JetStream) error {
	s, err := js.Stream(ctx, turn.TurnsStream)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("stream %s: %w", turn.TurnsStream, err)
	}
	got, ok := s.CachedInfo().Config.Metadata[turn.PartitionsMetadataKey]
	if ok && got != strconv.Itoa(turn.TurnPartitions) {
		return fmt.Errorf("stream %s is partitioned in %s, this version in %d: drain the bridge (switchboard_bridge_lag 0) with the old version before changing the partition count",
			turn.TurnsStream, got, turn.TurnPartitions)
	}
	return nil
}

// BridgeLag sums, over the bridge's consumers that exist, the turns not yet handed
// out (pending) and handed out but not acked (ackPending).
func BridgeLag(ctx context.Context, js jetstream.JetStream) (pending, ackPending uint64, err error) {
	for _, name := range turn.BridgeConsumers() {
		cons, err := js.Consumer(ctx, turn.TurnsStream, name)
		if errors.Is(err, jetstream.ErrConsumerNotFound) {
			continue
		}
		if err != nil {
			return 0, 0, err
		}
		info, err := cons.Info(ctx)
		if err != nil {
			return 0, 0, err
		}
		pending += info.NumPending
		ackPending += uint64(info.NumAckPending)
	}
	return pending, ackPending, nil
}

// PublishTurn publishes t and returns once JetStream has stored it. duplicate is true
// when the turn id was already in the stream's duplicate window: the turn was
// accepted before and nothing new was stored.
func PublishTurn(ctx context.Context, js jetstream.JetStream, t turn.Turn) (seq uint64, duplicate bool, err error) {
	if err := t.Validate(); err != nil {
		return 0, false, err
	}
	data, err := json.Marshal(t)
	if err != nil {
		return 0, false, err
	}
	msg := &nats.Msg{Subject: turn.TurnSubject(t.ConversationID), Data: data, Header: nats.Header{}}
	ack, err := js.PublishMsg(ctx, msg, jetstream.WithMsgID(t.ID), jetstream.WithExpectStream(turn.TurnsStream))
	if err != nil {
		return 0, false, fmt.Errorf("publish turn %s: %w", t.ID, err)
	}
	return ack.Sequence, ack.Duplicate, nil
}

// DecodeTurn parses a message of the turns stream.
func DecodeTurn(data []byte) (turn.Turn, error) {
	var t turn.Turn
	if err := json.Unmarshal(data, &t); err != nil {
		return t, fmt.Errorf("malformed turn: %w", err)
	}
	if err := t.Validate(); err != nil {
		return t, fmt.Errorf("invalid turn: %w", err)
	}
	return t, nil
}

// ErrNoReply is returned by WaitOutcome when the wait ran out.
var ErrNoReply = errors.New("no outcome within the wait")

// OutcomeWaiter waits for the outcome of one turn. Subscribe before publishing the
// turn, so a fast outcome cannot be missed.
type OutcomeWaiter struct {
	sub    *nats.Subscription
	ch     chan *nats.Msg
	turnID string
}

// WaitForOutcome subscribes to a conversation's outcomes, filtered to one turn.
func WaitForOutcome(nc *nats.Conn, conversationID, turnID string) (*OutcomeWaiter, error) {
	ch := make(chan *nats.Msg, 16)
	sub, err := nc.ChanSubscribe(turn.EventSubject(conversationID), ch)
	if err != nil {
		return nil, err
	}
	return &OutcomeWaiter{sub: sub, ch: ch, turnID: turnID}, nil
}

// Wait returns the turn's outcome, or ErrNoReply when ctx ends first.
func (w *OutcomeWaiter) Wait(ctx context.Context) (turn.Outcome, error) {
	for {
		select {
		case <-ctx.Done():
			return turn.Outcome{}, ErrNoReply
		case m := <-w.ch:
			var o turn.Outcome
			if json.Unmarshal(m.Data, &o) == nil && o.TurnID == w.turnID {
				return o, nil
			}
		}
	}
}

// Close ends the subscription.
func (w *OutcomeWaiter) Close() { _ = w.sub.Unsubscribe() }
