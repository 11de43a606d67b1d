package turn

import (
	"fmt"
	"hash/fnv"
	"regexp"
	"strings"
)

// Names of the JetStream streams, subjects and key-value buckets every process
// shares. Package internal/streams creates them and performs the operations on them;
// the names live here so that an api process, a worker and the routing policy can
// never disagree about them.
//
//   - SWITCHBOARD_TURNS (switchboard.turns.<partition>.<conversation>): accepted turns,
//     deduplicated by Nats-Msg-Id (the turn id) within the duplicate window. A
//     conversation always maps to the same one of TurnPartitions partitions
//     (PartitionOf); the bridge reads each partition through its own durable
//     consumer (PartitionConsumer). Turns of versions before partitioning were
//     published on switchboard.turns.<conversation> (LegacyTurnsFilter) and read by
//     the durable consumer LegacyBridgeConsumer.
//   - SWITCHBOARD_EVENTS (switchboard.events.turns.<conversation>): turn outcomes.
//   - SWITCHBOARD_DEADLETTER (switchboard.deadletter.turns): turns the bridge could
//     never hand to Temporal.
//   - SWITCHBOARD_ESCALATIONS (switchboard.escalations.<queue>): a subject per human
//     queue, a durable consumer per queue (DeskConsumer); flagged escalations go to
//     switchboard.alerts.escalations in the same stream.
//   - KV switchboard_sends, switchboard_held, switchboard_webhook_jti.
const (
	TurnsStream         = "SWITCHBOARD_TURNS"
	TurnsSubjectPrefix  = "switchboard.turns."
	EventsStream        = "SWITCHBOARD_EVENTS"
	EventsSubjectPrefix = "switchboard.events.turns."
	DeadLetterStream    = "SWITCHBOARD_DEADLETTER"
	DeadLetterSubject   = "switchboard.deadletter.turns"
	// SendsBucket is the send ledger, one entry per reply idempotency key.
	SendsBucket = "switchboard_sends"
	// HeldBucket lists, per conversation, the turns the bridge could not hand to
	// their workflow for longer than the policy's stuck_after.
	HeldBucket        = "switchboard_held"
	EscalationsStream = "SWITCHBOARD_ESCALATIONS"
	EscalationsPrefix = "switchboard.escalations."
	// FlaggedSubject carries escalations no queue acknowledged: an ops alert.
	FlaggedSubject = "switchboard.alerts.escalations"
	// LegacyBridgeConsumer is the one durable consumer of the versions before
	// partitioning. The bridge drains it before it starts the partition consumers;
	// it can be deleted once no process of an older version runs.
	LegacyBridgeConsumer = "bridge"
	// LegacyTurnsFilter matches the turn subjects of the versions before
	// partitioning, switchboard.turns.<conversation>, and no partitioned subject.
	LegacyTurnsFilter = TurnsSubjectPrefix + "*"
	// TurnPartitions is the number of partitions of the turns stream. It is the
	// bridge's parallelism: each partition hands one turn at a time to Temporal. It
	// is recorded in the stream's metadata (PartitionsMetadataKey), and a stream
	// recorded with another count is refused: changing it would move conversations
	// between partitions while turns wait in the old ones.
	TurnPartitions = 32
	// PartitionsMetadataKey is the stream metadata entry that records TurnPartitions.
	PartitionsMetadataKey = "switchboard_turn_partitions"
	// WebhookTokensBucket holds the jti of every webhook token the API accepted
	// (keyed by a hash of vendor and jti), so a replayed token is refused.
	WebhookTokensBucket = "switchboard_webhook_jti"
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

// EscalationSubject is the subject of a human queue.
func EscalationSubject(queue string) string { return EscalationsPrefix + queue }

// DeskConsumer is the durable consumer agent desks claim a queue's escalations from.
func DeskConsumer(queue string) string { return "desk-" + queue }

var queueNamePattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// ValidQueueName reports whether name can be a queue: it becomes a subject token.
func ValidQueueName(name string) bool { return queueNamePattern.MatchString(name) }

// SendsKey is the key of a reply's entry in SendsBucket: its idempotency key
// ("<conversation>/<epoch>/<seq>", see SendKey) as a valid KV key (kvKey).
func SendsKey(idempotencyKey string) string { return kvKey(idempotencyKey) }

// HeldKey is the key of a conversation's entry in HeldBucket.
func HeldKey(conversationID string) string { return kvKey(conversationID) }

// HeldConversation inverts HeldKey.
func HeldConversation(key string) string { return strings.ReplaceAll(key, "=", ":") }

// kvKey maps a string of conversation-id characters and '/' to a valid KV key:
// '/' becomes '.' and ':', which KV keys may not hold, becomes '=', which
// conversation ids never hold.
func kvKey(s string) string { return kvKeyReplacer.Replace(s) }

var kvKeyReplacer = strings.NewReplacer("/", ".", ":", "=")

// EventSubject is the subject a conversation's turn outcomes are published on.
func EventSubject(conversationID string) string { return EventsSubjectPrefix + conversationID }
