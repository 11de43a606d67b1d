package bench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/switchboard-cc/switchboard/providers/fake"
)

// MemoryResult is what the memory phase measured.
type MemoryResult struct {
	Conversations int           // idle conversations opened (replies received)
	Failed        int           // webhooks refused
	Open          time.Duration // from the first webhook to the last reply
	Usage         Usage         // of opening them
	Before, After MemSample
}

// MemSample is the process's memory after a forced GC.
type MemSample struct {
	RSSKB      int64  // VmRSS
	HeapKB     uint64 // Go heap spans in use (live objects and the free space among them)
	LiveKB     uint64 // live Go heap objects
	StacksKB   uint64 // goroutine stacks
	Goroutines int
}

// PerConversationKB is the RSS growth per idle conversation.
func (m MemoryResult) PerConversationKB() float64 {
	if m.Conversations == 0 {
		return 0
	}
	return float64(m.After.RSSKB-m.Before.RSSKB) / float64(m.Conversations)
}

// settleTime lets the last turns' workflow tasks, outcome events and ledger writes
// finish, and short-lived caches and buffers drain, before a sample.
const settleTime = 5 * time.Second

// sampleMemory forces a GC, returns freed memory to the OS and samples.
func sampleMemory() (MemSample, error) {
	runtime.GC()
	debug.FreeOSMemory()
	rss, err := readRSS()
	if err != nil {
		return MemSample{}, err
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return MemSample{RSSKB: rss, HeapKB: ms.HeapInuse >> 10, LiveKB: ms.HeapAlloc >> 10, StacksKB: ms.StackInuse >> 10, Goroutines: runtime.NumGoroutine()}, nil
}

// readRSS reads VmRSS, in KB, from /proc/self/status.
func readRSS() (int64, error) {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0, fmt.Errorf("memory phase needs /proc/self/status (Linux): %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			fields := strings.Fields(rest) // "123456 kB"
			if len(fields) == 2 && fields[1] == "kB" {
				return strconv.ParseInt(fields[0], 10, 64)
			}
		}
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, errors.New("no VmRSS line in /proc/self/status")
}

// memory opens cfg.IdleConversations conversations with one turn each, posting
// cfg.Concurrency webhooks at a time, waits until the outbox holds every reply, and
// samples the process's memory before and after.
func memory(ctx context.Context, cfg Config, w *webhooks, outbox *fake.Outbox) (MemoryResult, error) {
	if err := sleep(ctx, settleTime); err != nil {
		return MemoryResult{}, err
	}
	var res MemoryResult
	var err error
	if res.Before, err = sampleMemory(); err != nil {
		return res, err
	}
	base := customerReplies(outbox)

	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	jobs := make(chan int, cfg.Concurrency)
	var (
		accepted, failed atomic.Int64
		wg               sync.WaitGroup
	)
	m := startMeter()
	start := time.Now()
	for range cfg.Concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				if _, err := w.post(ctx, customer(4, i), utterances[i%len(utterances)]); err != nil {
					if ctx.Err() == nil && failed.Add(1) > failureBudget(cfg.IdleConversations) {
						cancel(fmt.Errorf("memory: too many refused webhooks, the last: %w", err))
					}
					continue
				}
				accepted.Add(1)
			}
		}()
	}
feed:
	for i := range cfg.IdleConversations {
		select {
		case jobs <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(jobs)
	wg.Wait()
	if err := context.Cause(ctx); err != nil {
		return res, err
	}

	// Wait for the replies, polling: the outbox is copied on every look.
	want := int(accepted.Load())
	deadline := time.Now().Add(cfg.TurnTimeout + time.Duration(want)*100*time.Millisecond)
	for {
		got := customerReplies(outbox) - base
		if got >= want {
			break
		}
		if time.Now().After(deadline) {
			return res, fmt.Errorf("memory: %d of %d replies after %s", got, want, time.Since(start).Round(time.Second))
		}
		if err := sleep(ctx, 250*time.Millisecond); err != nil {
			return res, err
		}
	}
	res.Open = time.Since(start)
	res.Usage = m.stop()
	res.Conversations, res.Failed = want, int(failed.Load())
	if err := sleep(ctx, settleTime); err != nil {
		return res, err
	}
	res.After, err = sampleMemory()
	return res, err
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// customerReplies counts the replies in the outbox, the stack canary's left out.
func customerReplies(outbox *fake.Outbox) int {
	n := 0
	for _, s := range outbox.List() {
		if s.To != canaryCustomer() {
			n++
		}
	}
	return n
}
