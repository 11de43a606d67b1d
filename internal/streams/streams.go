// Package streams declares the JetStream streams and key-value buckets that
// Switchboard's processes share, and the few operations on them that both the API and
// the workers perform. One place owns their names and settings, so an api process
// and a worker process can never disagree about them.
//
//   - SWITCHBOARD_TURNS (switchboard.turns.<partition>.<conversation>): accepted turns,
//     deduplicated by Nats-Msg-Id (the turn id) within the duplicate window. File
//     storage. A conversation always maps to the same one of TurnPartitions
//     partitions (PartitionOf); the bridge reads each partition through its own
//     durable consumer (PartitionConsumer) that hands out one turn at a time, so a
//     conversation's turns reach its workflow in stream order whatever the number of
//     workers and whichever of them dies. Turns of versions before partitioning were
//     published on switchboard.turns.<conversation> (LegacyTurnsFilter) and read by
//     the durable consumer LegacyBridgeConsumer; the bridge drains them first.
//   - SWITCHBOARD_EVENTS (switchboard.events.turns.<conversation>): turn outcomes, for
//     contact-center backends and for API callers that wait for a reply.
//   - SWITCHBOARD_DEADLETTER (switchboard.deadletter.turns): turns the bridge could
//     never hand to Temporal, kept for inspection and replay.
//   - SWITCHBOARD_ESCALATIONS (switchboard.escalations.<queue>): one stream, a subject
//     per human queue; agent desks claim from a durable consumer per queue.
//     Flagged escalations go to switchboard.alerts.escalations in the same stream.
//   - KV switchboard_sends: the send ledger, one entry per reply idempotency key.
//   - KV switchboard_webhook_jti: the ids (jti) of the signed webhook tokens the API
//     accepted, kept as long as such a token could be accepted, so a replay is refused.
package streams

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"regexp"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/switchboard-cc/switchboard/internal/turn"
)

// Names of the streams, subjects and buckets.
const (
	TurnsStream         = "SWITCHBOARD_TURNS"
	TurnsSubjectPrefix  = "switchboard.turns."
	EventsStream        = "SWITCHBOARD_EVENTS"
	EventsSubjectPrefix = "switchboard.events.turns."
	DeadLetterStream    = "SWITCHBOARD_DEADLETTER"
	DeadLetterSubject   = "switchboard.deadletter.turns"
	SendsBucket         = "switchboard_sends"
	// HeldBucket lists, per conversation, the turns the bridge could not hand to
	// their workflow for longer than the policy's stuck_after. Entries expire
	// HeldTTL after the bridge last failed with them.
	HeldBucket        = "switchboard_held"
	HeldTTL           = 2 * time.Minute
	EscalationsStream = "SWITCHBOARD_ESCALATIONS"
	EscalationsPrefix = "switchboard.escalations."
	// FlaggedSubject carries escalations no queue acknowledged: an ops alert.
	FlaggedSubject = "switchboard.alerts.escalations"
	// LegacyBridgeConsumer is the one durable consumer of the versions before
	// partitioning. The bridge drains it before it starts the partition consumers
	// (see workers.Bridge); it can be deleted once no process of an older version runs.
	LegacyBridgeConsumer = "bridge"
	// LegacyTurnsFilter matches the turn subjects of the versions before
	// partitioning, switchboard.turns.<conversation>, and no partitioned subject.
	LegacyTurnsFilter = TurnsSubjectPrefix + "*"
	// TurnPartitions is the number of partitions of the turns stream. It is the
	// bridge's parallelism: each partition hands one turn at a time to Temporal. It
	// is recorded in the stream's metadata (PartitionsMetadataKey), and Ensure
	// refuses a stream recorded with another count: changing it would move
	// conversations between partitions while turns wait in the old ones.
	TurnPartitions = 32
	// PartitionsMetadataKey is the stream metadata entry that records TurnPartitions.
	PartitionsMetadataKey = "switchboard_turn_partitions"
)

// Headers of a dead-lettered turn.
const (
	HeaderError          = "Switchboard-Error"           // why it was dead-lettered
	HeaderSubject        = "Switchboard-Subject"         // its subject in the turns stream
	HeaderStreamSequence = "Switchboard-Stream-Sequence" // its sequence in the turns stream
	// HeaderRedrivenFrom marks a turn republished from the dead-letter stream: the
	// dead-letter stream sequence it came from.
	HeaderRedrivenFrom = "Switchboard-Redriven-From"
)

// WebhookTokensBucket holds the jti of every webhook token the API accepted (keyed
// by a hash of vendor and jti), for Config.WebhookTokenTTL.
const WebhookTokensBucket = "switchboard_webhook_jti"

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
			Name: TurnsStream, Subjects: []string{TurnsSubjectPrefix + ">"},
			Storage: storage, Replicas: c.Replicas, Duplicates: c.DuplicateWindow, MaxAge: c.TurnsMaxAge,
			Description: "Accepted customer turns, deduplicated by turn id",
			Metadata:    map[string]string{PartitionsMetadataKey: strconv.Itoa(TurnPartitions)},
		},
		{
			Name: EventsStream, Subjects: []string{EventsSubjectPrefix + ">"},
			Storage: storage, Replicas: c.Replicas, MaxAge: c.EventsMaxAge,
			Description: "Turn outcomes for contact-center backends",
		},
		{
			Name: EscalationsStream, Subjects: []string{EscalationsPrefix + ">", FlaggedSubject},
			Storage: storage, Replicas: c.Replicas, MaxAge: c.TurnsMaxAge,
			Description: "Escalations to human queues",
		},
		{
			Name: DeadLetterStream, Subjects: []string{DeadLetterSubject},
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
		Bucket: SendsBucket, Storage: kvStorage, Replicas: c.Replicas, TTL: c.SendLedgerTTL,
		Description: "Send ledger: one entry per reply idempotency key",
	}); err != nil {
		return fmt.Errorf("bucket %s: %w", SendsBucket, err)
	}
	if _, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket: HeldBucket, Storage: kvStorage, Replicas: c.Replicas, TTL: HeldTTL,
		Description: "Turns held in JetStream past stuck_after, per conversation",
	}); err != nil {
		return fmt.Errorf("bucket %s: %w", HeldBucket, err)
	}
	tokens := jetstream.KeyValueConfig{
		Bucket: WebhookTokensBucket, Storage: kvStorage, Replicas: c.Replicas, TTL: c.WebhookTokenTTL,
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
		return fmt.Errorf("bucket %s: %w", WebhookTokensBucket, err)
	}
	return nil
}

// checkPartitions refuses a turns stream whose recorded partition count is not
// TurnPartitions. A stream without the record (new, or of a version before
// partitioning) is fine: Ensure records it.
func checkPartitions(ctx context.Context, js jetstream.JetStream) error {
	s, err := js.Stream(ctx, TurnsStream)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("stream %s: %w", TurnsStream, err)
	}
	got, ok := s.CachedInfo().Config.Metadata[PartitionsMetadataKey]
	if ok && got != strconv.Itoa(TurnPartitions) {
		return fmt.Errorf("stream %s is partitioned in %s, this version in %d: drain the bridge (switchboard_bridge_lag 0) with the old version before changing the partition count",
			TurnsStream, got, TurnPartitions)
	}
	return nil
}

// PartitionOf is the partition of the turns stream a conversation's turns go to.
func PartitionOf(conversationID string) int {
	h := fnv.New32a()
	h.Write([]byte(conversationID))
	return int(h.Sum32() % TurnPartitions)
}

// TurnSubject is the subject a conversation's turns are published on:
// switchboard.turns.<partition>.<conversation>.
func TurnSubject(conversationID string) string {
	return fmt.Sprintf("%s%02d.%s", TurnsSubjectPrefix, PartitionOf(conversationID), conversationID)
}

// LegacyTurnSubject is the subject versions before partitioning published a
// conversation's turns on.
func LegacyTurnSubject(conversationID string) string { return TurnsSubjectPrefix + conversationID }

// PartitionFilter matches the subjects of one partition of the turns stream.
func PartitionFilter(partition int) string {
	return fmt.Sprintf("%s%02d.*", TurnsSubjectPrefix, partition)
}

// PartitionConsumer is the durable consumer the bridge reads a partition through.
func PartitionConsumer(partition int) string { return fmt.Sprintf("bridge-%02d", partition) }

// BridgeConsumers names every durable consumer of the bridge: the partitions', and
// the legacy one, which may not exist.
func BridgeConsumers() []string {
	names := make([]string, 0, TurnPartitions+1)
	for p := range TurnPartitions {
		names = append(names, PartitionConsumer(p))
	}
	return append(names, LegacyBridgeConsumer)
}

// BridgeLag sums, over the bridge's consumers that exist, the turns not yet handed
// out (pending) and handed out but not acked (ackPending).
func BridgeLag(ctx context.Context, js jetstream.JetStream) (pending, ackPending uint64, err error) {
	for _, name := range BridgeConsumers() {
		cons, err := js.Consumer(ctx, TurnsStream, name)
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

// EscalationSubject is the subject of a human queue.
func EscalationSubject(queue string) string { return EscalationsPrefix + queue }

// DeskConsumer is the durable consumer agent desks claim a queue's escalations from.
func DeskConsumer(queue string) string { return "desk-" + queue }

var queueNamePattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// ValidQueueName reports whether name can be a queue: it becomes a subject token.
func ValidQueueName(name string) bool { return queueNamePattern.MatchString(name) }

// EventSubject is the subject a conversation's turn outcomes are published on.
func EventSubject(conversationID string) string { return EventsSubjectPrefix + conversationID }

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
	msg := &nats.Msg{Subject: TurnSubject(t.ConversationID), Data: data, Header: nats.Header{}}
	ack, err := js.PublishMsg(ctx, msg, jetstream.WithMsgID(t.ID), jetstream.WithExpectStream(TurnsStream))
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
	sub, err := nc.ChanSubscribe(EventSubject(conversationID), ch)
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
