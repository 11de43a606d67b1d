package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/switchboard-cc/switchboard/internal/testmsg"
	"github.com/switchboard-cc/switchboard/providers/fake"
)

// business is the address customers write to.
const business = "+15550001000"

// utterances are what customers say, in turn: each matches an intent of the demo
// agent, so every turn takes the full path (Detect, then Send).
var utterances = []string{"where is my order", "when are you open", "hello", "track my parcel", "what time do you close"}

// customer is the address of conversation i of a phase: unique per conversation, so
// replies are told apart by it.
func customer(phase, i int) string { return fmt.Sprintf("+1%d55%07d", phase, i) }

var errNoReply = errors.New("no reply in time")

// webhooks posts signed Twilio webhooks to the API.
type webhooks struct {
	api     string
	signer  testmsg.Signer
	hc      *http.Client
	timeout time.Duration // for a reply
}

func newHTTPClient(conns int) *http.Client {
	return &http.Client{
		Timeout: 30 * time.Second,
		Transport: &http.Transport{
			MaxIdleConns: conns, MaxIdleConnsPerHost: conns, IdleConnTimeout: time.Minute,
		},
	}
}

// post sends one webhook and returns when the API answered and when it was sent.
// A non-2xx answer is an error: the turn was not stored.
func (w *webhooks) post(ctx context.Context, from, text string) (time.Time, error) {
	req, _, err := w.signer.Request(ctx, w.api, testmsg.Message{Vendor: "twilio", From: from, To: business, Text: text})
	if err != nil {
		return time.Time{}, err
	}
	t0 := time.Now()
	resp, err := w.hc.Do(req)
	if err != nil {
		return t0, err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return t0, &refusedError{resp.StatusCode}
	}
	return t0, nil
}

type refusedError struct{ status int }

func (e *refusedError) Error() string { return fmt.Sprintf("webhook answered %d", e.status) }

// turn sends one turn from cust and waits for its reply in the outbox. The latency
// runs from the POST to the moment the fake vendor recorded the reply.
func (w *webhooks) turn(ctx context.Context, tr *tracker, cust, text string) (time.Duration, error) {
	lat, _, err := w.turnReply(ctx, tr, cust, text)
	return lat, err
}

// turnReply is turn, with the reply the fake vendor recorded.
func (w *webhooks) turnReply(ctx context.Context, tr *tracker, cust, text string) (time.Duration, fake.Sent, error) {
	reply := tr.expect(cust)
	t0, err := w.post(ctx, cust, text)
	if err != nil {
		var refused *refusedError
		if errors.As(err, &refused) {
			tr.forget(cust, reply) // not stored: no reply will come
		}
		return 0, fake.Sent{}, err
	}
	timer := time.NewTimer(w.timeout)
	defer timer.Stop()
	select {
	case s := <-reply:
		return replyLatency(t0, s), s, nil
	case <-timer.C:
		return 0, fake.Sent{}, errNoReply
	case <-ctx.Done():
		return 0, fake.Sent{}, ctx.Err()
	}
}

// replyLatency is the time from t0 to the fake's record of s. Sent.At carries no
// monotonic reading, so this is wall-clock time within one process.
func replyLatency(t0 time.Time, s fake.Sent) time.Duration {
	return max(s.At.Sub(t0), 0)
}

// failureBudget is how many failed turns a phase tolerates before it stops: a broken
// stack is reported quickly instead of after every turn timed out.
func failureBudget(turns int) int64 { return int64(10 + turns/100) }

// ThroughputResult is what the closed-loop phase measured.
type ThroughputResult struct {
	All, First, Later Summary
	// Hedging is what hedged NLU attempts cost on this healthy stack.
	Hedging   Hedging
	customers []string
}

// throughput drives cfg.Turns turns over cfg.Conversations conversations, with
// cfg.Concurrency conversations in flight: each sends its turns one after the other.
func throughput(ctx context.Context, cfg Config, w *webhooks, tr *tracker) (ThroughputResult, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	customers := make([]string, cfg.Conversations)
	jobs := make(chan int, cfg.Conversations)
	for i := range customers {
		customers[i] = customer(1, i)
		jobs <- i
	}
	close(jobs)
	perConv, extra := cfg.Turns/cfg.Conversations, cfg.Turns%cfg.Conversations

	var (
		mu           sync.Mutex
		first, later []time.Duration
		failed       atomic.Int64
		firstFailed  atomic.Int64
		wg           sync.WaitGroup
	)
	m := startMeter()
	start := time.Now()
	for range cfg.Concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				n := perConv
				if i < extra {
					n++
				}
				for k := range n {
					if ctx.Err() != nil {
						return
					}
					lat, err := w.turn(ctx, tr, customers[i], utterances[(i+k)%len(utterances)])
					if err != nil {
						if ctx.Err() != nil {
							return
						}
						if k == 0 {
							firstFailed.Add(1)
						}
						if failed.Add(1) > failureBudget(cfg.Turns) {
							cancel(fmt.Errorf("throughput: too many failed turns, the last: %w", err))
						}
						continue
					}
					mu.Lock()
					if k == 0 {
						first = append(first, lat)
					} else {
						later = append(later, lat)
					}
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	usage := m.stop()
	if err := context.Cause(ctx); err != nil {
		return ThroughputResult{}, err
	}
	all := append(append([]time.Duration(nil), first...), later...)
	nf := int(failed.Load())
	sAll := summarize("throughput: all turns", all, nf, elapsed)
	sAll.Usage = usage
	return ThroughputResult{
		All:       sAll,
		First:     summarize("  first turn (starts workflow)", first, int(firstFailed.Load()), 0),
		Later:     summarize("  later turns", later, nf-int(firstFailed.Load()), 0),
		customers: customers,
	}, nil
}

// maxInFlight bounds the open-loop phase's turns in flight: beyond it the stack is
// not keeping up, and the turn is counted as failed instead of sent.
const maxInFlight = 2000

// halfLoad sends turns at rate per second, on a fixed schedule whatever the replies
// do, for d, spread over the conversations of the throughput phase.
func halfLoad(ctx context.Context, cfg Config, w *webhooks, tr *tracker, customers []string, rate float64) (Summary, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	n := max(int(rate*cfg.HalfLoadDuration.Seconds()), 1)
	interval := time.Duration(float64(time.Second) / rate)
	busy := make([]atomic.Int32, len(customers))
	var (
		mu       sync.Mutex
		lat      []time.Duration
		failed   atomic.Int64
		inFlight atomic.Int64
		wg       sync.WaitGroup
	)
	next := 0
	m := startMeter()
	start := time.Now()
	timer := time.NewTimer(0)
	defer timer.Stop()
	for i := range n {
		timer.Reset(time.Until(start.Add(time.Duration(i) * interval)))
		select {
		case <-timer.C:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		if inFlight.Load() >= maxInFlight {
			failed.Add(1)
			continue
		}
		// The next conversation without a turn in flight; if all have one, queue
		// behind it (its replies still come back in order).
		c := next % len(customers)
		for j := range len(customers) {
			if busy[(next+j)%len(customers)].Load() == 0 {
				c = (next + j) % len(customers)
				break
			}
		}
		next = c + 1
		busy[c].Add(1)
		inFlight.Add(1)
		wg.Add(1)
		go func(c, i int) {
			defer wg.Done()
			defer inFlight.Add(-1)
			defer busy[c].Add(-1)
			l, err := w.turn(ctx, tr, customers[c], utterances[i%len(utterances)])
			if err != nil {
				if ctx.Err() == nil && failed.Add(1) > failureBudget(n) {
					cancel(fmt.Errorf("half load: too many failed turns, the last: %w", err))
				}
				return
			}
			mu.Lock()
			lat = append(lat, l)
			mu.Unlock()
		}(c, i)
	}
	sendTime := time.Since(start)
	wg.Wait()
	usage := m.stop()
	if err := context.Cause(ctx); err != nil {
		return Summary{}, err
	}
	// The rate column shows what was offered: turns sent over the sending time.
	s := summarize(fmt.Sprintf("half load (%.1f turns/s offered)", rate), lat, int(failed.Load()), 0)
	s.Elapsed = sendTime + interval
	s.Usage = usage
	return s, nil
}
