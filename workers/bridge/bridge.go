package bridge

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/switchboard-cc/switchboard/internal/metrics"
	"github.com/switchboard-cc/switchboard/internal/streams"
	"github.com/switchboard-cc/switchboard/internal/turn"
	"github.com/switchboard-cc/switchboard/workflows"
)

// Config tunes the JetStream → Temporal bridge.
type Config struct {
	// TaskQueue the conversation workflows run on.
	TaskQueue string
	// CallTimeout bounds one update-with-start call.
	CallTimeout time.Duration
	// AckWait is how long JetStream waits for an ack before redelivering. While a
	// turn is in hand, the bridge tells JetStream every AckWait/3 that it is still
	// working on it (InProgress), so only a turn whose bridge died is redelivered.
	AckWait time.Duration
	// MinBackoff and MaxBackoff bound the delay of a turn redelivered because
	// Temporal could not take it.
	MinBackoff, MaxBackoff time.Duration
	// MaxUnexplainedDeliveries dead-letters a turn that failed this many times for
	// reasons that are neither a Temporal outage, a configuration fault nor a
	// rejection.
	MaxUnexplainedDeliveries int
	// Workflow options for conversations the bridge starts.
	Workflow workflows.Options
	// Metrics count what the bridge did with turns (switchboard_bridge_turns_total).
	Metrics *metrics.Metrics
	// Held, when set, records the turns the bridge keeps failing to hand over for
	// longer than StuckAfter, so they are listed as stuck and ops can replay them.
	Held *HeldTurns
	// StuckAfter is the policy's stuck_after (default 10m).
	StuckAfter func() time.Duration
	// LegacyPoll is how often the bridge checks whether the legacy consumer is
	// drained before it starts the partition consumers (default 500ms).
	LegacyPoll time.Duration
}

// Validate fills defaults and reports the first bad field.
func (c *Config) Validate() error {
	if c.TaskQueue == "" {
		return errors.New("bridge: TaskQueue is required")
	}
	if c.CallTimeout == 0 {
		c.CallTimeout = 10 * time.Second
	}
	if c.AckWait == 0 {
		c.AckWait = 30 * time.Second
	}
	if c.MinBackoff == 0 {
		c.MinBackoff = 500 * time.Millisecond
	}
	if c.MaxBackoff == 0 {
		c.MaxBackoff = 15 * time.Second
	}
	if c.MaxUnexplainedDeliveries == 0 {
		c.MaxUnexplainedDeliveries = 20
	}
	if c.Metrics == nil {
		c.Metrics = metrics.Discard()
	}
	if c.StuckAfter == nil {
		c.StuckAfter = func() time.Duration { return 10 * time.Minute }
	}
	if c.LegacyPoll == 0 {
		c.LegacyPoll = 500 * time.Millisecond
	}
	switch {
	case c.AckWait < 2*c.CallTimeout:
		return fmt.Errorf("bridge: AckWait (%s) must be at least twice CallTimeout (%s)", c.AckWait, c.CallTimeout)
	case c.AckWait < 3*time.Second:
		return fmt.Errorf("bridge: AckWait (%s) must be at least 3s", c.AckWait)
	case c.MinBackoff <= 0 || c.MaxBackoff < c.MinBackoff:
		return errors.New("bridge: need 0 < MinBackoff <= MaxBackoff")
	}
	return nil
}

// Bridge hands turns from the JetStream turns stream to their conversation workflows,
// with update-with-start. A turn is acked only after its workflow accepted it.
//
// Order. The turns stream is partitioned by conversation (turn.PartitionOf), and
// each of its turn.TurnPartitions partitions has one durable consumer
// (turn.PartitionConsumer) with MaxAckPending 1: JetStream hands out the next
// turn of a partition only once the one before it is acked or terminated. Every
// bridge of every worker pulls from every partition; whichever gets the turn, the
// turns of one conversation reach its workflow one after the other, in stream
// order. A turn nak'ed (Temporal down) or held by a bridge that died (redelivered
// after AckWait) comes back before anything newer of its partition. The partition
// count is thus the parallelism of the whole bridge, across all workers.
//
// Each partition has its own goroutine in each bridge, so a slow partition (a slow
// workflow, a turn waiting out a backoff) stalls only the conversations that share
// it.
//
// Faults. While Temporal is unreachable, turns are nak'ed with a growing delay and
// wait in JetStream. A configuration fault of Temporal (InvalidArgument, such as
// search attributes that are not registered; PermissionDenied; an unknown
// namespace) is treated the same way, and also reported by Fault (readiness), a log
// line and switchboard_bridge_turns_total{result="config_fault"}: a fixed
// configuration delivers the turns. A turn that can never be accepted (malformed,
// rejected by the workflow's update validator) is copied to the dead-letter stream
// and terminated, never redelivered forever.
//
// Migration. Versions before partitioning published on switchboard.turns.<conv>
// and read through the single consumer turn.LegacyBridgeConsumer. If that
// consumer exists, the bridge reads it too, one turn at a time, and starts the
// partition consumers only once every turn it had handed out before the partition
// consumers began is acked, so that no conversation's older turns are overtaken by
// its newer, partitioned ones. Partition consumers created while a legacy consumer
// exists start after the last sequence it delivered; the legacy reader acks,
// without handing them over, the partitioned turns it sees past that point.
type Bridge struct {
	js  jetstream.JetStream
	tc  client.Client
	cfg Config
	log *slog.Logger

	// deliver is Deliver; tests replace it.
	deliver func(context.Context, turn.Turn) (workflows.Accepted, error)

	mu     sync.Mutex
	faults map[int]configFault // by partition (-1: the legacy consumer)
}

type configFault struct {
	since time.Time
	err   error
}

// New validates cfg and builds a bridge.
func New(js jetstream.JetStream, tc client.Client, cfg Config, log *slog.Logger) (*Bridge, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.Default()
	}
	b := &Bridge{js: js, tc: tc, cfg: cfg, log: log, faults: map[int]configFault{}}
	b.deliver = b.Deliver
	return b, nil
}

// Fault returns the configuration fault that keeps turns from reaching their
// workflows, or nil. It is set when Temporal refuses a turn as a configuration
// error, and cleared when the same partition next hands a turn over.
func (b *Bridge) Fault() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	var first *configFault
	n := 0
	for _, f := range b.faults {
		n++
		if first == nil || f.since.Before(first.since) {
			first = &f
		}
	}
	if first == nil {
		return nil
	}
	return fmt.Errorf("Temporal refuses turns as misconfigured (%d of %d partitions, since %s): %w",
		n, turn.TurnPartitions, first.since.UTC().Format(time.RFC3339), first.err)
}

func (b *Bridge) setFault(partition int, err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.faults[partition]; !ok {
		b.faults[partition] = configFault{since: time.Now(), err: err}
		return
	}
	f := b.faults[partition]
	f.err = err
	b.faults[partition] = f
}

func (b *Bridge) clearFault(partition int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.faults, partition)
}

// legacyPartition names the legacy consumer where a partition is expected.
const legacyPartition = -1

// Run consumes turns until ctx is cancelled, then finishes the turns in hand.
func (b *Bridge) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	var (
		legacy            jetstream.Consumer
		startSeq, drainTo uint64
		err               error
	)
	for attempt := uint64(1); ; attempt++ {
		if legacy, startSeq, drainTo, err = b.legacy(ctx); err == nil {
			break
		}
		if ctx.Err() != nil {
			return nil
		}
		delay := backoff(b.cfg.MinBackoff, b.cfg.MaxBackoff, attempt)
		b.log.Error("bridge: cannot read the turns stream's consumers; retrying", "retry_in", delay, "error", err)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(delay):
		}
	}
	if legacy != nil {
		wg.Go(func() { b.consume(ctx, legacy, legacyPartition, startSeq) })
		if err := b.waitLegacyDrained(ctx, legacy, drainTo); err != nil {
			return nil // stopped while draining
		}
	}
	for p := range turn.TurnPartitions {
		cons, err := b.partition(ctx, p, startSeq)
		if err != nil {
			return nil // stopped before JetStream answered
		}
		wg.Go(func() { b.consume(ctx, cons, p, 0) })
	}
	return nil
}

// partition creates or updates a partition's consumer, retrying until JetStream
// answers or ctx ends. An existing consumer keeps its start.
func (b *Bridge) partition(ctx context.Context, p int, startSeq uint64) (jetstream.Consumer, error) {
	for attempt := uint64(1); ; attempt++ {
		cfg := b.partitionConfig(p, startSeq)
		c, err := b.js.Consumer(ctx, turn.TurnsStream, cfg.Durable)
		if err == nil {
			cfg.DeliverPolicy, cfg.OptStartSeq = c.CachedInfo().Config.DeliverPolicy, c.CachedInfo().Config.OptStartSeq
		}
		if err == nil || errors.Is(err, jetstream.ErrConsumerNotFound) {
			c, err = b.js.CreateOrUpdateConsumer(ctx, turn.TurnsStream, cfg)
		}
		if err == nil {
			return c, nil
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		delay := backoff(b.cfg.MinBackoff, b.cfg.MaxBackoff, attempt)
		b.log.Error("bridge: partition consumer not set up; retrying", "consumer", cfg.Durable, "retry_in", delay, "error", err)
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(delay):
		}
	}
}

func (b *Bridge) partitionConfig(p int, startSeq uint64) jetstream.ConsumerConfig {
	cfg := jetstream.ConsumerConfig{
		Durable:       turn.PartitionConsumer(p),
		FilterSubject: turn.PartitionFilter(p),
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       b.cfg.AckWait,
		MaxDeliver:    -1, // Temporal outages may be long; poison is handled explicitly
		MaxAckPending: 1,  // the order of the partition: nothing newer while a turn is out
		DeliverPolicy: jetstream.DeliverAllPolicy,
		Description:   fmt.Sprintf("Hands the turns of partition %d to their conversation workflows, one at a time", p),
	}
	if startSeq > 0 {
		cfg.DeliverPolicy, cfg.OptStartSeq = jetstream.DeliverByStartSequencePolicy, startSeq
	}
	return cfg
}

// legacy returns the consumer of the versions before partitioning, if it exists;
// startSeq, the stream sequence new partition consumers start at: the first after
// every turn the legacy consumer has handed out (those are its to finish); and
// drainTo, the stream's last sequence now: every turn up to it must be through the
// legacy consumer before the partitions start.
func (b *Bridge) legacy(ctx context.Context) (cons jetstream.Consumer, startSeq, drainTo uint64, err error) {
	cons, err = b.js.Consumer(ctx, turn.TurnsStream, turn.LegacyBridgeConsumer)
	if errors.Is(err, jetstream.ErrConsumerNotFound) {
		return nil, 0, 0, nil
	}
	if err != nil {
		return nil, 0, 0, fmt.Errorf("legacy bridge consumer: %w", err)
	}
	stream, err := b.js.Stream(ctx, turn.TurnsStream)
	if err != nil {
		return nil, 0, 0, fmt.Errorf("stream %s: %w", turn.TurnsStream, err)
	}
	info := cons.CachedInfo()
	// One turn at a time, in stream order, across every process that still reads it.
	if info.Config.MaxAckPending != 1 {
		cfg := info.Config
		cfg.MaxAckPending = 1
		if c, err := b.js.UpdateConsumer(ctx, turn.TurnsStream, cfg); err != nil {
			b.log.Warn("bridge: legacy consumer keeps its MaxAckPending; its turns may be handed over out of order across processes", "error", err)
		} else {
			cons = c
		}
	}
	startSeq, drainTo = info.Delivered.Stream+1, stream.CachedInfo().State.LastSeq
	if p0, err := b.js.Consumer(ctx, turn.TurnsStream, turn.PartitionConsumer(0)); err == nil {
		// Created by an earlier start: the partitions keep their start.
		startSeq = 1
		if c := p0.CachedInfo().Config; c.DeliverPolicy == jetstream.DeliverByStartSequencePolicy {
			startSeq = max(c.OptStartSeq, 1)
		}
	} else if !errors.Is(err, jetstream.ErrConsumerNotFound) {
		return nil, 0, 0, fmt.Errorf("bridge consumer %s: %w", turn.PartitionConsumer(0), err)
	}
	b.log.Info("bridge: draining the legacy consumer before the partitions", "consumer", turn.LegacyBridgeConsumer,
		"drain_to_stream_seq", drainTo, "new_partitions_from_stream_seq", startSeq)
	return cons, startSeq, drainTo, nil
}

// waitLegacyDrained returns once every turn of the stream up to drainTo has been
// handed out by the legacy consumer and acked.
func (b *Bridge) waitLegacyDrained(ctx context.Context, legacy jetstream.Consumer, drainTo uint64) error {
	for {
		info, err := legacy.Info(ctx)
		switch {
		case err != nil:
			b.log.Warn("bridge: reading the legacy consumer", "error", err)
		case info.AckFloor.Stream >= drainTo || (info.NumPending == 0 && info.NumAckPending == 0):
			b.log.Info("bridge: legacy turns handed over; starting the partition consumers", "ack_floor", info.AckFloor.Stream)
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(b.cfg.LegacyPoll):
		}
	}
}

// consume hands the turns of one consumer over, one at a time, until ctx ends.
// skipFrom, for the legacy consumer, is where the partition consumers start: a
// partitioned turn from there on is theirs.
func (b *Bridge) consume(ctx context.Context, cons jetstream.Consumer, partition int, skipFrom uint64) {
	for ctx.Err() == nil {
		// A pull request for more than one turn stays open across turns (fewer pull
		// requests); MaxAckPending 1 still lets JetStream hand out only one at a time.
		it, err := cons.Messages(jetstream.PullMaxMessages(8), jetstream.PullExpiry(5*time.Second))
		if err != nil {
			b.log.Warn("bridge: pulling turns", "partition", partition, "error", err)
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
			continue
		}
		stop := context.AfterFunc(ctx, it.Stop)
		for {
			m, err := it.Next()
			if err != nil {
				if errors.Is(err, jetstream.ErrMsgIteratorClosed) || errors.Is(err, nats.ErrConnectionClosed) || ctx.Err() != nil {
					break
				}
				b.log.Warn("bridge: fetching turns", "partition", partition, "error", err)
				select { // the iterator recovers by itself; do not spin meanwhile
				case <-ctx.Done():
				case <-time.After(100 * time.Millisecond):
				}
				continue
			}
			if skipFrom > 0 && strings.Count(m.Subject(), ".") != strings.Count(turn.LegacyTurnsFilter, ".") {
				if meta, err := m.Metadata(); err == nil && meta.Sequence.Stream >= skipFrom {
					_ = m.Ack() // a partition consumer hands it over
					continue
				}
			}
			b.handle(context.WithoutCancel(ctx), partition, m)
		}
		stop()
		it.Stop()
	}
}

// handle hands one turn over and acks, naks or dead-letters it.
func (b *Bridge) handle(ctx context.Context, partition int, m jetstream.Msg) {
	meta, err := m.Metadata()
	if err != nil {
		b.log.Error("bridge: message without metadata", "subject", m.Subject(), "error", err)
		_ = m.Term()
		return
	}
	t, err := streams.DecodeTurn(m.Data())
	if err != nil {
		b.deadLetter(ctx, m, meta, err)
		return
	}
	held := time.Since(meta.Timestamp) > b.cfg.StuckAfter()
	acc, err := b.deliverInProgress(ctx, m, t)
	switch {
	case err == nil:
		b.clearFault(partition)
		if err := m.Ack(); err != nil {
			// The workflow has the turn; a redelivery is deduplicated by turn id.
			b.log.Warn("bridge: ack failed", "turn", t.ID, "error", err)
		}
		if held && b.cfg.Held != nil {
			if err := b.cfg.Held.Release(ctx, t.ConversationID, t.ID); err != nil {
				b.log.Warn("bridge: held turn delivered but still listed until its entry expires", "turn", t.ID, "error", err)
			}
		}
		result := "accepted"
		if acc.Duplicate {
			result = "duplicate"
		}
		b.cfg.Metrics.BridgeResults.WithLabelValues(result).Inc()
	case isBusy(err):
		// The conversation holds as many unprocessed turns as it may: this one waits
		// in JetStream, in order, until the workflow catches up. Its partition waits
		// with it, which is what keeps the order.
		delay := backoff(b.cfg.MinBackoff, b.cfg.MaxBackoff, meta.NumDelivered)
		b.log.Warn("bridge: the conversation is busy; the turn waits in JetStream", "turn", t.ID, "partition", partition, "delivery", meta.NumDelivered, "retry_in", delay)
		b.cfg.Metrics.BridgeResults.WithLabelValues("busy").Inc()
		if held {
			b.hold(ctx, t, meta, "its conversation holds too many unprocessed turns: "+err.Error())
		}
		b.nak(m, delay)
	case isRejection(err):
		b.deadLetter(ctx, m, meta, err)
	case isConfigFault(err):
		delay := backoff(b.cfg.MinBackoff, b.cfg.MaxBackoff, meta.NumDelivered)
		b.setFault(partition, err)
		b.log.Error("bridge: Temporal refuses the turn as misconfigured; it waits in JetStream until the configuration is fixed",
			"turn", t.ID, "partition", partition, "delivery", meta.NumDelivered, "retry_in", delay, "error", err)
		b.cfg.Metrics.BridgeResults.WithLabelValues("config_fault").Inc()
		if held {
			b.hold(ctx, t, meta, "Temporal refuses it as misconfigured: "+err.Error())
		}
		b.nak(m, delay)
	case isTransient(err) || int(meta.NumDelivered) < b.cfg.MaxUnexplainedDeliveries:
		delay := backoff(b.cfg.MinBackoff, b.cfg.MaxBackoff, meta.NumDelivered)
		b.log.Warn("bridge: Temporal did not take the turn; it waits in JetStream", "turn", t.ID, "delivery", meta.NumDelivered, "retry_in", delay, "error", err)
		if held {
			b.hold(ctx, t, meta, "Temporal did not take it: "+err.Error())
		}
		b.nak(m, delay)
	default:
		b.deadLetter(ctx, m, meta, err)
	}
}

// deliverInProgress delivers t, telling JetStream every AckWait/3 that the turn is
// still being worked on, so that a slow Temporal is not mistaken for a dead bridge.
func (b *Bridge) deliverInProgress(ctx context.Context, m jetstream.Msg, t turn.Turn) (workflows.Accepted, error) {
	done := make(chan struct{})
	defer close(done)
	go func() {
		tick := time.NewTicker(b.cfg.AckWait / 3)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				if err := m.InProgress(); err != nil {
					b.log.Warn("bridge: in-progress signal failed", "turn", t.ID, "error", err)
				}
			}
		}
	}()
	return b.deliver(ctx, t)
}

// conversationSearchAttributes are a new conversation workflow's search
// attributes; the canary's conversation also has SwitchboardCanary=true, and only it.
func conversationSearchAttributes(t turn.Turn) temporal.SearchAttributes {
	updates := []temporal.SearchAttributeUpdate{
		workflows.SAChannel.ValueSet(t.Channel),
		workflows.SACustomer.ValueSet(t.From),
		workflows.SAStatus.ValueSet(workflows.StatusActive),
	}
	if t.Canary {
		updates = append(updates, workflows.SACanary.ValueSet(true))
	}
	return temporal.NewSearchAttributes(updates...)
}

// Deliver hands one turn to its conversation workflow, starting the workflow if it
// does not run yet, and returns once the workflow accepted the turn.
func (b *Bridge) Deliver(ctx context.Context, t turn.Turn) (workflows.Accepted, error) {
	ctx, cancel := context.WithTimeout(ctx, b.cfg.CallTimeout)
	defer cancel()
	start := b.tc.NewWithStartWorkflowOperation(client.StartWorkflowOptions{
		ID:                       turn.WorkflowID(t.ConversationID),
		TaskQueue:                b.cfg.TaskQueue,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
		WorkflowIDReusePolicy:    enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
		TypedSearchAttributes:    conversationSearchAttributes(t),
		Memo:                     map[string]any{"vendor": t.Vendor, "channel": t.Channel, "business": t.To},
	}, workflows.WorkflowName, workflows.NewState(t, b.cfg.Workflow))
	h, err := b.tc.UpdateWithStartWorkflow(ctx, client.UpdateWithStartWorkflowOptions{
		StartWorkflowOperation: start,
		UpdateOptions: client.UpdateWorkflowOptions{
			UpdateID:     t.ID,
			UpdateName:   workflows.UpdateTurn,
			Args:         []any{t},
			WaitForStage: client.WorkflowUpdateStageCompleted,
		},
	})
	if err != nil {
		return workflows.Accepted{}, err
	}
	var acc workflows.Accepted
	err = h.Get(ctx, &acc)
	return acc, err
}

// hold records a turn that has waited longer than stuck_after as stuck.
func (b *Bridge) hold(ctx context.Context, t turn.Turn, meta *jetstream.MsgMetadata, why string) {
	if b.cfg.Held == nil {
		return
	}
	h := workflows.HeldTurn{TurnID: t.ID, Since: meta.Timestamp, Sequence: meta.Sequence.Stream, Detail: why}
	if err := b.cfg.Held.Hold(ctx, t.ConversationID, h); err != nil {
		b.log.Error("bridge: held turn not recorded as stuck", "turn", t.ID, "error", err)
	}
}

func (b *Bridge) nak(m jetstream.Msg, delay time.Duration) {
	if err := m.NakWithDelay(delay); err != nil {
		b.log.Warn("bridge: nak failed; JetStream redelivers after AckWait", "error", err)
	}
	b.cfg.Metrics.BridgeResults.WithLabelValues("redelivered").Inc()
}

// deadLetter copies the turn to the dead-letter stream with the reason, then
// terminates it. If the copy fails the turn is nak'ed instead: it is never dropped.
func (b *Bridge) deadLetter(ctx context.Context, m jetstream.Msg, meta *jetstream.MsgMetadata, cause error) {
	msg := &nats.Msg{Subject: turn.DeadLetterSubject, Data: m.Data(), Header: nats.Header{}}
	msg.Header.Set(turn.HeaderError, cause.Error())
	msg.Header.Set(turn.HeaderSubject, m.Subject())
	msg.Header.Set(turn.HeaderStreamSequence, fmt.Sprint(meta.Sequence.Stream))
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if _, err := b.js.PublishMsg(pctx, msg, jetstream.WithMsgID(turn.DeadLetterMsgID(meta.Sequence.Stream))); err != nil {
		b.log.Error("bridge: dead-letter publish failed; turn kept", "subject", m.Subject(), "error", err)
		b.nak(m, b.cfg.MaxBackoff)
		return
	}
	if err := m.Term(); err != nil {
		b.log.Warn("bridge: term failed", "error", err)
	}
	b.log.Error("bridge: turn dead-lettered", "subject", m.Subject(), "stream_seq", meta.Sequence.Stream, "error", cause)
	b.cfg.Metrics.BridgeResults.WithLabelValues("dead_lettered").Inc()
}

func backoff(min, max time.Duration, delivery uint64) time.Duration {
	d := min
	for i := uint64(1); i < delivery && d < max; i++ {
		d *= 2
	}
	if d > max {
		d = max
	}
	return d
}

// isBusy reports the workflow's refusal of a turn because the conversation already
// holds its bound of unprocessed turns (workflows.ErrTypeBusy): backpressure, not
// poison.
func isBusy(err error) bool {
	var appErr *temporal.ApplicationError
	return errors.As(err, &appErr) && appErr.Type() == workflows.ErrTypeBusy
}

// isRejection reports errors that no redelivery can fix: the workflow's update
// validator refused the turn.
func isRejection(err error) bool {
	var appErr *temporal.ApplicationError
	return errors.As(err, &appErr)
}

// isConfigFault reports Temporal refusing the request for a reason of its own
// configuration or of ours (search attributes not registered, an unknown namespace,
// missing permissions): not the turn's fault, and fixed without touching it.
func isConfigFault(err error) bool {
	var (
		invalid   *serviceerror.InvalidArgument
		denied    *serviceerror.PermissionDenied
		namespace *serviceerror.NamespaceNotFound
	)
	return !isRejection(err) && (errors.As(err, &invalid) || errors.As(err, &denied) || errors.As(err, &namespace))
}

// isTransient reports errors of an unreachable or overloaded Temporal, or of a
// workflow run that was closing as the turn arrived.
func isTransient(err error) bool {
	var (
		unavailable *serviceerror.Unavailable
		exhausted   *serviceerror.ResourceExhausted
		deadline    *serviceerror.DeadlineExceeded
		canceled    *serviceerror.Canceled
		notFound    *serviceerror.NotFound
	)
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) ||
		errors.As(err, &unavailable) || errors.As(err, &exhausted) || errors.As(err, &deadline) ||
		errors.As(err, &canceled) || errors.As(err, &notFound)
}
