package bench

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/switchboard-cc/switchboard/deploy"
	"github.com/switchboard-cc/switchboard/deploy/agent"
	"github.com/switchboard-cc/switchboard/internal/app"
	"github.com/switchboard-cc/switchboard/internal/devstack"
	"github.com/switchboard-cc/switchboard/internal/testmsg"
	"github.com/switchboard-cc/switchboard/internal/turn"
	"github.com/switchboard-cc/switchboard/providers/fake"
	"github.com/switchboard-cc/switchboard/providers/localnlu"
	"github.com/switchboard-cc/switchboard/providers/messaging"
	"github.com/switchboard-cc/switchboard/providers/nlu"
	"github.com/switchboard-cc/switchboard/providers/routing"
)

// The baseline's names in Temporal: its own task queue, so its worker and the
// conversation worker never take each other's tasks.
const (
	BaselineTaskQueue = "switchboard-bench-baseline"
	BaselineWorkflow  = "BenchBaselineTurn"
	baselineDetect    = "BenchBaselineDetect"
	baselineSend      = "BenchBaselineSend"
)

// BaselineTurn is one customer turn as the baseline design gets it.
type BaselineTurn struct {
	SessionID      string // the conversation, for the NLU session
	Customer       string
	Business       string
	Text           string
	IdempotencyKey string
}

// BaselineReply is what the baseline workflow returns.
type BaselineReply struct {
	Intent    string
	MessageID string
}

// BaselineTurnWorkflow is the bare Temporal design the benchmark compares against:
// one workflow per turn, whose two provider calls are regular activities with the
// same per-attempt bounds as the conversation workflow's local activities (5 s, 2
// attempts). It is benchmark-only code.
func BaselineTurnWorkflow(ctx workflow.Context, t BaselineTurn) (BaselineReply, error) {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 5 * time.Second,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval: 100 * time.Millisecond, BackoffCoefficient: 2,
			MaximumInterval: time.Second, MaximumAttempts: 2,
		},
	})
	var d nlu.Result
	reply := baselineFallbackReply
	if err := workflow.ExecuteActivity(ctx, baselineDetect, nlu.Query{SessionID: t.SessionID, Text: t.Text, LanguageCode: "en"}).Get(ctx, &d); err == nil && d.Reply != "" {
		reply = d.Reply
	}
	var r messaging.Receipt
	msg := turn.Message{Channel: "sms", From: t.Business, To: t.Customer, Body: reply, IdempotencyKey: t.IdempotencyKey}
	if err := workflow.ExecuteActivity(ctx, baselineSend, msg).Get(ctx, &r); err != nil {
		return BaselineReply{}, err
	}
	return BaselineReply{Intent: d.Intent, MessageID: r.MessageID}, nil
}

// baselineFallbackReply is the baseline's reply when the NLU did not answer.
const baselineFallbackReply = "Sorry, we're having technical difficulties."

// baselineActivities make one provider attempt each, through the same clients the
// conversation worker uses.
type baselineActivities struct {
	nlu nlu.Detector
	sms messaging.Sender
}

func (a *baselineActivities) Detect(ctx context.Context, q nlu.Query) (nlu.Result, error) {
	return a.nlu.Detect(ctx, q)
}

func (a *baselineActivities) Send(ctx context.Context, m turn.Message) (messaging.Receipt, error) {
	return a.sms.Send(ctx, m)
}

// baseline is the baseline's worker, its client and its fakes.
type baseline struct {
	tc     client.Client
	w      worker.Worker
	fakes  *devstack.Fakes
	outbox *fake.Outbox
	close  func()
}

// startBaseline starts fresh fake vendors (the same servers as the dev stack's, on
// their own ports, with their own outbox) and a worker for the baseline workflow on
// its own task queue of the Temporal server at temporalAddr.
func startBaseline(ctx context.Context, temporalAddr string, log *slog.Logger) (*baseline, error) {
	demo, err := localnlu.ParseAgent(agent.Demo)
	if err != nil {
		return nil, err
	}
	pol, err := routing.Parse(deploy.DevPolicy)
	if err != nil {
		return nil, err
	}
	fakes, err := devstack.StartFakes(pol, demo, testmsg.DevTwilioAuthToken)
	if err != nil {
		return nil, err
	}
	b := &baseline{fakes: fakes, outbox: fakes.Outbox}
	closers := []func(){fakes.Stop}
	b.close = func() {
		for i := len(closers) - 1; i >= 0; i-- {
			closers[i]()
		}
	}
	fail := func(err error) (*baseline, error) { b.close(); return nil, err }

	set, err := app.BuildProviders(ctx, pol, fakes.Connections())
	if err != nil {
		return fail(err)
	}
	closers = append(closers, set.Close)
	cx, _ := set.Detector("cx-global")
	tw, _ := set.Sender("twilio")
	b.tc, err = client.DialContext(ctx, client.Options{
		HostPort: temporalAddr, Namespace: "default",
		Logger: sdklog.NewStructuredLogger(log.With("component", "bench-baseline")),
		// The client settings of ours in dev: no compression on loopback.
		ConnectionOptions: client.ConnectionOptions{GrpcCompression: &client.GrpcCompressionNone{}},
	})
	if err != nil {
		return fail(fmt.Errorf("connect to Temporal at %s: %w", temporalAddr, err))
	}
	closers = append(closers, b.tc.Close)
	// As many workflow task pollers as the conversation worker has (8), and as many
	// for activity tasks: the baseline is not starved of pollers.
	b.w = worker.New(b.tc, BaselineTaskQueue, worker.Options{
		MaxConcurrentWorkflowTaskPollers: 8,
		MaxConcurrentActivityTaskPollers: 8,
	})
	b.w.RegisterWorkflowWithOptions(BaselineTurnWorkflow, workflow.RegisterOptions{Name: BaselineWorkflow})
	acts := &baselineActivities{nlu: cx, sms: tw}
	b.w.RegisterActivityWithOptions(acts.Detect, activity.RegisterOptions{Name: baselineDetect})
	b.w.RegisterActivityWithOptions(acts.Send, activity.RegisterOptions{Name: baselineSend})
	if err := b.w.Start(); err != nil {
		return fail(fmt.Errorf("start baseline worker: %w", err))
	}
	closers = append(closers, b.w.Stop)
	return b, nil
}

// run drives cfg.Turns baseline workflows, cfg.Concurrency at a time, each started
// with ExecuteWorkflow and awaited with Get.
func (b *baseline) run(ctx context.Context, cfg Config, runID string) (Summary, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	jobs := make(chan int, cfg.Turns)
	for i := range cfg.Turns {
		jobs <- i
	}
	close(jobs)
	var (
		mu     sync.Mutex
		lat    []time.Duration
		failed atomic.Int64
		wg     sync.WaitGroup
	)
	m := startMeter()
	start := time.Now()
	for range cfg.Concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				if ctx.Err() != nil {
					return
				}
				conv := i % cfg.Conversations
				t := BaselineTurn{
					SessionID: fmt.Sprintf("bench-%s-%d", runID, conv), Customer: customer(3, conv), Business: business,
					Text: utterances[i%len(utterances)], IdempotencyKey: fmt.Sprintf("bench-%s/%d", runID, i),
				}
				l, err := b.turn(ctx, cfg.TurnTimeout, fmt.Sprintf("bench-baseline-%s-%d", runID, i), t)
				if err != nil {
					if ctx.Err() == nil && failed.Add(1) > failureBudget(cfg.Turns) {
						cancel(fmt.Errorf("baseline: too many failed turns, the last: %w", err))
					}
					continue
				}
				mu.Lock()
				lat = append(lat, l)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	usage := m.stop()
	if err := context.Cause(ctx); err != nil {
		return Summary{}, err
	}
	s := summarize("baseline: workflow per turn", lat, int(failed.Load()), elapsed)
	s.Usage = usage
	return s, nil
}

func (b *baseline) turn(ctx context.Context, timeout time.Duration, id string, t BaselineTurn) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	t0 := time.Now()
	run, err := b.tc.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: BaselineTaskQueue}, BaselineWorkflow, t)
	if err != nil {
		return 0, err
	}
	var r BaselineReply
	if err := run.Get(ctx, &r); err != nil {
		return 0, err
	}
	return time.Since(t0), nil
}
