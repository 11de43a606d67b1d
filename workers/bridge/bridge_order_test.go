package bridge

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/require"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/temporal"

	"github.com/switchboard-cc/switchboard/internal/metrics"
	"github.com/switchboard-cc/switchboard/internal/streams"
	"github.com/switchboard-cc/switchboard/internal/streams/streamstest"
	"github.com/switchboard-cc/switchboard/internal/turn"
	"github.com/switchboard-cc/switchboard/workflows"
)

// natsURL starts an embedded NATS server with the streams and returns its URL.
func natsURL(t *testing.T) string { return streamstest.Start(t, streams.Config{}) }

// connectJS opens a connection of its own, as a separate process would.
func connectJS(t *testing.T, url string) (*nats.Conn, jetstream.JetStream) {
	return streamstest.Connect(t, url)
}

// workflowModel stands for the conversation workflows: it records, per
// conversation, the turns in the order they were accepted, and answers a turn it
// has already accepted as a duplicate (the update id is the turn id).
type workflowModel struct {
	mu    sync.Mutex
	order map[string][]string
	calls map[string]int
}

func newWorkflowModel() *workflowModel {
	return &workflowModel{order: map[string][]string{}, calls: map[string]int{}}
}

func (w *workflowModel) accept(_ context.Context, t turn.Turn) (workflows.Accepted, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.calls[t.ID]++
	if slices.Contains(w.order[t.ConversationID], t.ID) {
		return workflows.Accepted{Duplicate: true}, nil
	}
	w.order[t.ConversationID] = append(w.order[t.ConversationID], t.ID)
	return workflows.Accepted{}, nil
}

func (w *workflowModel) accepted() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := 0
	for _, ids := range w.order {
		n += len(ids)
	}
	return n
}

func (w *workflowModel) of(conv string) []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.order[conv])
}

func testBridge(t *testing.T, js jetstream.JetStream, m *metrics.Metrics, deliver func(context.Context, turn.Turn) (workflows.Accepted, error)) *Bridge {
	t.Helper()
	b, err := New(js, nil, Config{
		TaskQueue: "q", AckWait: 3 * time.Second, CallTimeout: time.Second,
		MinBackoff: 50 * time.Millisecond, MaxBackoff: 200 * time.Millisecond, Metrics: m,
		LegacyPoll: 50 * time.Millisecond,
	}, nil)
	require.NoError(t, err)
	b.deliver = deliver
	return b
}

// runBridge runs b until the test ends (or stop is called).
func runBridge(t *testing.T, b *Bridge) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = b.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case <-done:
			case <-time.After(20 * time.Second):
				t.Error("bridge did not stop")
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

func testTurn(conv string, k int) turn.Turn {
	return turn.Turn{
		ID: fmt.Sprintf("api:%s-%03d", conv, k), Vendor: turn.VendorAPI, Channel: "sms", ConversationID: conv,
		From: "+15550000001", To: "+15550001000", Text: fmt.Sprintf("turn %d", k), ReceivedAt: time.Now(),
	}
}

// convsIn returns n conversation ids, each in a partition for which keep is true.
func convsIn(prefix string, n int, keep func(partition int) bool) []string {
	var out []string
	for i := 0; len(out) < n; i++ {
		id := fmt.Sprintf("%s%d", prefix, i)
		if keep(turn.PartitionOf(id)) {
			out = append(out, id)
		}
	}
	return out
}

func TestBridge_TwoBridgesOneKilledMidTurn_EveryConversationInStreamOrder(t *testing.T) {
	url := natsURL(t)
	_, pubJS := connectJS(t, url)
	ctx := context.Background()

	// Bursts: each customer sends its turns back to back, all customers at once.
	const convs, each = 24, 10
	want := map[string][]string{}
	var wg sync.WaitGroup
	for c := range convs {
		conv := fmt.Sprintf("api:burst-%d", c)
		for k := range each {
			want[conv] = append(want[conv], testTurn(conv, k).ID)
		}
		wg.Go(func() {
			for k := range each {
				_, _, err := streams.PublishTurn(ctx, pubJS, testTurn(conv, k))
				require.NoError(t, err)
			}
		})
	}
	wg.Wait()

	model := newWorkflowModel()
	// Bridge A dies (its connection gone, nothing acked) in the middle of its 30th
	// turn: that turn comes back after AckWait, and nothing of its partition may
	// overtake it meanwhile.
	ncA, jsA := connectJS(t, url)
	var callsA atomic.Int32
	killed, testOver := make(chan struct{}), make(chan struct{})
	a := testBridge(t, jsA, nil, func(ctx context.Context, tr turn.Turn) (workflows.Accepted, error) {
		if callsA.Add(1) == 30 {
			ncA.Close()
			close(killed)
			<-testOver // a dead process never answers
			return workflows.Accepted{}, context.Canceled
		}
		select {
		case <-killed:
			return workflows.Accepted{}, context.Canceled // dead: nothing more reaches Temporal
		default:
		}
		time.Sleep(time.Millisecond) // a call takes time, so that B gets its share
		return model.accept(ctx, tr)
	})
	_, jsB := connectJS(t, url)
	var callsB atomic.Int32
	b := testBridge(t, jsB, nil, func(ctx context.Context, tr turn.Turn) (workflows.Accepted, error) {
		callsB.Add(1)
		time.Sleep(time.Millisecond)
		return model.accept(ctx, tr)
	})
	runBridge(t, a)
	runBridge(t, b)
	t.Cleanup(func() { close(testOver) }) // before the bridges are stopped

	require.Eventually(t, func() bool { return model.accepted() == convs*each }, time.Minute, 50*time.Millisecond,
		"accepted %d of %d", model.accepted(), convs*each)
	select {
	case <-killed:
	default:
		t.Fatal("bridge A was never killed: it handed over fewer than 30 turns")
	}
	require.Positive(t, callsB.Load())
	for conv, ids := range want {
		require.Equal(t, ids, model.of(conv), "conversation %s: turns in stream order", conv)
	}
}

func TestBridge_ASlowConversation_StallsOnlyItsPartition(t *testing.T) {
	url := natsURL(t)
	_, js := connectJS(t, url)
	ctx := context.Background()
	slow := "api:slow"
	others := convsIn("api:other-", 12, func(p int) bool { return p != turn.PartitionOf(slow) })
	// More turns of the slow conversation than any local buffer holds.
	for k := range 12 {
		_, _, err := streams.PublishTurn(ctx, js, testTurn(slow, k))
		require.NoError(t, err)
	}
	for _, conv := range others {
		for k := range 3 {
			_, _, err := streams.PublishTurn(ctx, js, testTurn(conv, k))
			require.NoError(t, err)
		}
	}
	model := newWorkflowModel()
	release, entered := make(chan struct{}), make(chan struct{}, 1)
	b := testBridge(t, js, nil, func(ctx context.Context, tr turn.Turn) (workflows.Accepted, error) {
		if tr.ConversationID == slow {
			select {
			case entered <- struct{}{}:
			default:
			}
			<-release
		}
		return model.accept(ctx, tr)
	})
	runBridge(t, b)
	<-entered
	require.Eventually(t, func() bool {
		for _, conv := range others {
			if len(model.of(conv)) != 3 {
				return false
			}
		}
		return true
	}, 30*time.Second, 20*time.Millisecond, "the other conversations are served while one call hangs")
	require.Empty(t, model.of(slow))
	close(release)
	require.Eventually(t, func() bool { return len(model.of(slow)) == 12 }, 30*time.Second, 20*time.Millisecond)
	for k, id := range model.of(slow) {
		require.Equal(t, testTurn(slow, k).ID, id)
	}
}

// inProgressMsg counts the bridge's in-progress signals.
type inProgressMsg struct {
	jetstream.Msg
	n atomic.Int32
}

func (m *inProgressMsg) InProgress() error { m.n.Add(1); return nil }

func TestBridge_ALongCall_TellsJetStreamTheTurnIsInProgress(t *testing.T) {
	msg := &inProgressMsg{}
	b := testBridge(t, nil, nil, func(ctx context.Context, tr turn.Turn) (workflows.Accepted, error) {
		// Return once JetStream has been told twice, i.e. past 2/3 of AckWait.
		deadline := time.After(time.Minute)
		for msg.n.Load() < 2 {
			select {
			case <-deadline:
				return workflows.Accepted{}, context.DeadlineExceeded
			case <-time.After(20 * time.Millisecond):
			}
		}
		return workflows.Accepted{}, nil
	})
	_, err := b.deliverInProgress(context.Background(), msg, testTurn("api:long", 0))
	require.NoError(t, err)
	require.GreaterOrEqual(t, msg.n.Load(), int32(2))
}

func TestBridge_TemporalMisconfigured_TurnWaitsAndReadinessFails_ValidatorRejectionIsDeadLettered(t *testing.T) {
	url := natsURL(t)
	_, js := connectJS(t, url)
	ctx := context.Background()
	m := metrics.New()
	model := newWorkflowModel()
	var broken atomic.Bool
	broken.Store(true)
	b := testBridge(t, js, m, func(ctx context.Context, tr turn.Turn) (workflows.Accepted, error) {
		if tr.Text == "reject me" {
			return workflows.Accepted{}, temporal.NewApplicationError("text is not allowed", "Rejected")
		}
		if broken.Load() {
			return workflows.Accepted{}, serviceerror.NewInvalidArgument("search attribute SwitchboardChannel is not defined")
		}
		return model.accept(ctx, tr)
	})
	conv := "api:misconfigured"
	good := testTurn(conv, 0)
	_, _, err := streams.PublishTurn(ctx, js, good)
	require.NoError(t, err)
	runBridge(t, b)

	require.Eventually(t, func() bool { return b.Fault() != nil }, 10*time.Second, 20*time.Millisecond)
	require.ErrorContains(t, b.Fault(), "SwitchboardChannel is not defined")
	require.Eventually(t, func() bool {
		var c dto.Metric
		require.NoError(t, m.BridgeResults.WithLabelValues("config_fault").Write(&c))
		return c.GetCounter().GetValue() >= 2
	}, 10*time.Second, 20*time.Millisecond, "retried, counted each time")
	dl, err := js.Stream(ctx, turn.DeadLetterStream)
	require.NoError(t, err)
	info, err := dl.Info(ctx)
	require.NoError(t, err)
	require.Zero(t, info.State.Msgs, "a configuration fault is not the turn's fault")
	require.Empty(t, model.of(conv))

	broken.Store(false)
	require.Eventually(t, func() bool { return len(model.of(conv)) == 1 }, 10*time.Second, 20*time.Millisecond)
	require.Eventually(t, func() bool { return b.Fault() == nil }, 10*time.Second, 20*time.Millisecond)

	// A validator rejection is poison: dead-lettered with its headers, and the
	// partition moves on.
	bad := testTurn(conv, 1)
	bad.Text = "reject me"
	_, _, err = streams.PublishTurn(ctx, js, bad)
	require.NoError(t, err)
	next := testTurn(conv, 2)
	_, _, err = streams.PublishTurn(ctx, js, next)
	require.NoError(t, err)
	require.Eventually(t, func() bool { return len(model.of(conv)) == 2 }, 10*time.Second, 20*time.Millisecond)
	require.Equal(t, []string{good.ID, next.ID}, model.of(conv))
	raw, err := dl.GetMsg(ctx, 1)
	require.NoError(t, err)
	require.Contains(t, raw.Header.Get(turn.HeaderError), "text is not allowed")
	require.Equal(t, turn.TurnSubject(conv), raw.Header.Get(turn.HeaderSubject))
	require.Equal(t, "2", raw.Header.Get(turn.HeaderStreamSequence))
	require.Nil(t, b.Fault())
}

func TestBridge_LegacyConsumerWithTurns_IsDrainedFirst_NothingLostOrReordered(t *testing.T) {
	url := natsURL(t)
	_, js := connectJS(t, url)
	ctx := context.Background()
	// What a version before partitioning left behind: its consumer, and turns on
	// the old subjects, some handed out and never acked (its worker died).
	_, err := js.CreateOrUpdateConsumer(ctx, turn.TurnsStream, jetstream.ConsumerConfig{
		Durable: turn.LegacyBridgeConsumer, AckPolicy: jetstream.AckExplicitPolicy, AckWait: 3 * time.Second,
		MaxDeliver: -1, MaxAckPending: 256, DeliverPolicy: jetstream.DeliverAllPolicy,
	})
	require.NoError(t, err)
	conv, other := "api:migrating", "api:migrating-other"
	var want []string
	for k := range 5 {
		tr := testTurn(conv, k)
		data, err := json.Marshal(tr)
		require.NoError(t, err)
		_, err = js.Publish(ctx, turn.LegacyTurnSubject(conv), data, jetstream.WithMsgID(tr.ID))
		require.NoError(t, err)
		want = append(want, tr.ID)
	}
	old, err := js.Consumer(ctx, turn.TurnsStream, turn.LegacyBridgeConsumer)
	require.NoError(t, err)
	batch, err := old.Fetch(2)
	require.NoError(t, err)
	for range batch.Messages() { // taken by the dead worker, never acked
	}
	// The new API publishes on partitioned subjects meanwhile.
	for k := 5; k < 8; k++ {
		_, _, err := streams.PublishTurn(ctx, js, testTurn(conv, k))
		require.NoError(t, err)
		want = append(want, testTurn(conv, k).ID)
	}
	_, _, err = streams.PublishTurn(ctx, js, testTurn(other, 0))
	require.NoError(t, err)

	model := newWorkflowModel()
	stop := runBridge(t, testBridge(t, js, nil, model.accept))
	require.Eventually(t, func() bool { return model.accepted() == 9 }, 30*time.Second, 20*time.Millisecond, "accepted %d of 9", model.accepted())
	require.Equal(t, want, model.of(conv))
	for _, id := range want {
		model.mu.Lock()
		n := model.calls[id]
		model.mu.Unlock()
		require.Equal(t, 1, n, "turn %s handed over once", id)
	}
	lag := func() uint64 {
		p, a, err := streams.BridgeLag(ctx, js)
		require.NoError(t, err)
		return p + a
	}
	require.Eventually(t, func() bool { return lag() == 0 }, 10*time.Second, 20*time.Millisecond)

	// Restarted, the bridge keeps the partitions' positions: nothing twice.
	stop()
	runBridge(t, testBridge(t, js, nil, model.accept))
	_, _, err = streams.PublishTurn(ctx, js, testTurn(conv, 8))
	require.NoError(t, err)
	require.Eventually(t, func() bool { return len(model.of(conv)) == 9 }, 30*time.Second, 20*time.Millisecond)
}

func TestBridge_ABusyConversation_ItsTurnsWaitInOrder_NothingIsDeadLettered(t *testing.T) {
	url := natsURL(t)
	_, js := connectJS(t, url)
	ctx := context.Background()
	m := metrics.New()
	model := newWorkflowModel()
	var busy atomic.Bool
	busy.Store(true)
	b := testBridge(t, js, m, func(ctx context.Context, tr turn.Turn) (workflows.Accepted, error) {
		if busy.Load() && tr.Text != "turn 0" {
			return workflows.Accepted{}, temporal.NewNonRetryableApplicationError("conversation holds 100 unprocessed turns", workflows.ErrTypeBusy, nil)
		}
		return model.accept(ctx, tr)
	})
	conv := "api:busy"
	var ids []string
	for k := range 4 {
		tr := testTurn(conv, k)
		ids = append(ids, tr.ID)
		_, _, err := streams.PublishTurn(ctx, js, tr)
		require.NoError(t, err)
	}
	runBridge(t, b)
	require.Eventually(t, func() bool {
		var c dto.Metric
		require.NoError(t, m.BridgeResults.WithLabelValues("busy").Write(&c))
		return c.GetCounter().GetValue() >= 2
	}, 10*time.Second, 20*time.Millisecond, "the busy refusal is retried, counted each time")
	require.Equal(t, ids[:1], model.of(conv), "the turns behind it wait")

	busy.Store(false) // the workflow caught up
	require.Eventually(t, func() bool { return len(model.of(conv)) == 4 }, 10*time.Second, 20*time.Millisecond)
	require.Equal(t, ids, model.of(conv), "in the order JetStream stored them")
	dl, err := js.Stream(ctx, turn.DeadLetterStream)
	require.NoError(t, err)
	info, err := dl.Info(ctx)
	require.NoError(t, err)
	require.Zero(t, info.State.Msgs, "backpressure is not poison")
}
