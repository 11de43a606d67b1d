package workers

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
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

// BridgeConfig tunes the JetStream → Temporal bridge.
type BridgeConfig struct {
	// TaskQueue the conversation workflows run on.
	TaskQueue string
	// Lanes is how many turns are handed to Temporal at once. Turns of one
	// conversation always share a lane, so they reach their workflow in order.
	Lanes int
	// CallTimeout bounds one update-with-start call.
	CallTimeout time.Duration
	// AckWait is how long JetStream waits for an ack before redelivering.
	AckWait time.Duration
	// MinBackoff and MaxBackoff bound the delay of a turn redelivered because
	// Temporal could not take it.
	MinBackoff, MaxBackoff time.Duration
	// MaxUnexplainedDeliveries dead-letters a turn that failed this many times for
	// reasons that are neither a Temporal outage nor a rejection.
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
}

// Validate fills defaults and reports the first bad field.
func (c *BridgeConfig) Validate() error {
	if c.TaskQueue == "" {
		return errors.New("bridge: TaskQueue is required")
	}
	if c.Lanes == 0 {
		c.Lanes = 32
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
	switch {
	case c.Lanes < 1 || c.Lanes > 1024:
		return fmt.Errorf("bridge: Lanes must be between 1 and 1024, got %d", c.Lanes)
	case c.AckWait < 2*c.CallTimeout:
		return fmt.Errorf("bridge: AckWait (%s) must be at least twice CallTimeout (%s)", c.AckWait, c.CallTimeout)
	case c.MinBackoff <= 0 || c.MaxBackoff < c.MinBackoff:
		return errors.New("bridge: need 0 < MinBackoff <= MaxBackoff")
	}
	return nil
}

// Bridge hands turns from the JetStream turns stream to their conversation workflows,
// with update-with-start. A turn is acked only after its workflow accepted it. While
// Temporal is unreachable, turns are nak'ed with a delay and wait in JetStream. A turn
// that can never be accepted (malformed, rejected by the workflow) is copied to the
// dead-letter stream and terminated, never redelivered forever.
type Bridge struct {
	js     jetstream.JetStream
	tc     client.Client
	cfg    BridgeConfig
	log    *slog.Logger
	mu     sync.Mutex
	blocks []time.Time // per lane: until when Temporal is considered unreachable
}

// NewBridge validates cfg and builds a bridge.
func NewBridge(js jetstream.JetStream, tc client.Client, cfg BridgeConfig, log *slog.Logger) (*Bridge, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.Default()
	}
	return &Bridge{js: js, tc: tc, cfg: cfg, log: log, blocks: make([]time.Time, cfg.Lanes)}, nil
}

// Run consumes turns until ctx is cancelled, then finishes the turns in hand.
func (b *Bridge) Run(ctx context.Context) error {
	cons, err := b.js.CreateOrUpdateConsumer(ctx, streams.TurnsStream, jetstream.ConsumerConfig{
		Durable:       streams.BridgeConsumer,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       b.cfg.AckWait,
		MaxDeliver:    -1, // Temporal outages may be long; poison is handled explicitly
		MaxAckPending: b.cfg.Lanes * 8,
		DeliverPolicy: jetstream.DeliverAllPolicy,
		Description:   "Hands turns to their conversation workflows",
	})
	if err != nil {
		return fmt.Errorf("bridge consumer: %w", err)
	}
	it, err := cons.Messages(jetstream.PullMaxMessages(b.cfg.Lanes * 4))
	if err != nil {
		return fmt.Errorf("bridge consumer: %w", err)
	}
	lanes := make([]chan jetstream.Msg, b.cfg.Lanes)
	var wg sync.WaitGroup
	for i := range lanes {
		lanes[i] = make(chan jetstream.Msg, 4)
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			for m := range lanes[i] {
				b.handle(context.WithoutCancel(ctx), i, m)
			}
		}(i)
	}
	go func() {
		<-ctx.Done()
		it.Stop()
	}()
	for {
		m, err := it.Next()
		if err != nil {
			if errors.Is(err, jetstream.ErrMsgIteratorClosed) || ctx.Err() != nil {
				break
			}
			b.log.Warn("bridge: fetching turns", "error", err)
			continue
		}
		lanes[laneOf(m.Subject(), len(lanes))] <- m
	}
	for _, l := range lanes {
		close(l)
	}
	wg.Wait()
	return nil
}

func laneOf(subject string, n int) int {
	h := fnv.New32a()
	h.Write([]byte(subject))
	return int(h.Sum32() % uint32(n))
}

func (b *Bridge) handle(ctx context.Context, lane int, m jetstream.Msg) {
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
	// While Temporal is unreachable, later turns of the lane wait behind the first
	// one, so they are redelivered in order once it is back.
	b.mu.Lock()
	blocked := time.Until(b.blocks[lane])
	b.mu.Unlock()
	held := time.Since(meta.Timestamp) > b.cfg.StuckAfter()
	if blocked > 0 {
		if held {
			b.hold(ctx, t, meta, "it waits behind an earlier turn that Temporal did not take")
		}
		b.nak(m, blocked)
		return
	}
	acc, err := b.Deliver(ctx, t)
	switch {
	case err == nil:
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
	case isRejection(err):
		b.deadLetter(ctx, m, meta, err)
	case isTransient(err) || int(meta.NumDelivered) < b.cfg.MaxUnexplainedDeliveries:
		delay := backoff(b.cfg.MinBackoff, b.cfg.MaxBackoff, meta.NumDelivered)
		b.log.Warn("bridge: Temporal did not take the turn; it waits in JetStream", "turn", t.ID, "delivery", meta.NumDelivered, "retry_in", delay, "error", err)
		if held {
			b.hold(ctx, t, meta, "Temporal did not take it: "+err.Error())
		}
		b.mu.Lock()
		b.blocks[lane] = time.Now().Add(delay)
		b.mu.Unlock()
		b.nak(m, delay)
	default:
		b.deadLetter(ctx, m, meta, err)
	}
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
		TypedSearchAttributes: temporal.NewSearchAttributes(
			workflows.SAChannel.ValueSet(t.Channel),
			workflows.SACustomer.ValueSet(t.From),
			workflows.SAStatus.ValueSet(workflows.StatusActive),
		),
		Memo: map[string]any{"vendor": t.Vendor, "channel": t.Channel, "business": t.To},
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
	msg := &nats.Msg{Subject: streams.DeadLetterSubject, Data: m.Data(), Header: nats.Header{}}
	msg.Header.Set("Switchboard-Error", cause.Error())
	msg.Header.Set("Switchboard-Subject", m.Subject())
	msg.Header.Set("Switchboard-Stream-Sequence", fmt.Sprint(meta.Sequence.Stream))
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if _, err := b.js.PublishMsg(pctx, msg, jetstream.WithMsgID(fmt.Sprintf("dead:%d", meta.Sequence.Stream))); err != nil {
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

// isRejection reports errors that no redelivery can fix: the workflow's validator
// refused the turn, or Temporal refused the request as invalid.
func isRejection(err error) bool {
	var appErr *temporal.ApplicationError
	var invalid *serviceerror.InvalidArgument
	return errors.As(err, &appErr) || errors.As(err, &invalid)
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
