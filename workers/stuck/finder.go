package stuck

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"golang.org/x/time/rate"

	"github.com/switchboard-cc/switchboard/internal/metrics"
	"github.com/switchboard-cc/switchboard/internal/streams"
	"github.com/switchboard-cc/switchboard/internal/turn"
	"github.com/switchboard-cc/switchboard/workers/bridge"
	"github.com/switchboard-cc/switchboard/workflows"
)

// Conversations finds stuck conversations and replays them. A conversation is stuck when
//   - a turn of it has waited in JetStream longer than stuck_after without reaching
//     its workflow: held by the bridge (bridge.HeldTurns), or never delivered to any bridge
//     (no worker running, found by scanning the turns stream past the bridge
//     consumer's delivered sequence);
//   - its workflow reports itself stuck (SwitchboardStatus="stuck"): replies no
//     CPaaS provider could send, or an escalation no queue acknowledged;
//   - its workflow task keeps failing (Temporal's TemporalReportedProblems): no
//     replay can help that, only a fixed worker.
//
// A replay re-drives the JetStream turns through the bridge's update-with-start
// (the update id is the turn id: a turn the workflow already has is a no-op), then
// asks the workflow to send its unanswered replies again with their original
// idempotency keys (the send ledger turns a reply that did leave into a no-op) and
// to re-open a flagged escalation. Nothing is sent twice; turns are re-driven in
// stream order, paced by Pace.
type Conversations struct {
	JS        jetstream.JetStream
	Held      *bridge.HeldTurns
	Temporal  client.Client
	Namespace string
	// StuckAfter is the policy's stuck_after.
	StuckAfter func() time.Duration
	// Deliver hands a turn to its workflow: the bridge's Deliver.
	Deliver func(ctx context.Context, t turn.Turn) (workflows.Accepted, error)
	// Transcript queries a conversation's workflow (conversations.Store.Transcript);
	// turn.ErrNoConversation if Temporal does not know it.
	Transcript func(ctx context.Context, id string) (turn.Transcript, error)
	// Pace bounds the turns re-driven and replies re-sent per second, across every
	// replay of the process, so that a recovering vendor is not flooded.
	Pace *rate.Limiter
	// ScanLimit bounds the undelivered turns read per scan (default 10000).
	ScanLimit int
	// Deliverable reports whether a CPaaS provider of the conversation is in
	// rotation (its breaker is not open), for Redrive. Nil: Redrive does nothing.
	Deliverable func(ctx context.Context, tr turn.Transcript) bool
	Metrics     *metrics.Metrics
	Log         *slog.Logger
}

// List returns the stuck conversations, oldest first. problems names the sources
// that could not be read (Temporal down, say): the list is then partial, never
// silently so.
func (s *Conversations) List(ctx context.Context) (list []turn.Stuck, problems []string) {
	found := map[string]*turn.Stuck{}
	add := func(id string, r turn.StuckReason) {
		st := found[id]
		if st == nil {
			st = &turn.Stuck{ConversationID: id}
			found[id] = st
		}
		st.Add(r)
	}
	held, err := s.Held.All(ctx)
	if err != nil {
		problems = append(problems, "held turns: "+err.Error())
	}
	undelivered, err := s.undelivered(ctx, "")
	if err != nil {
		problems = append(problems, "undelivered turns: "+err.Error())
	}
	for id, r := range jetstreamReasons(held, undelivered) {
		add(id, r)
	}
	tctx, cancel := context.WithTimeout(ctx, temporalWait)
	defer cancel()
	wf, err := s.workflowStuck(tctx)
	cancel()
	if err != nil {
		problems = append(problems, "Temporal: "+err.Error())
	}
	for _, st := range wf {
		for _, r := range st.Reasons {
			if r.Source == turn.StuckJetStream && found[st.ConversationID] != nil {
				continue // JetStream itself is the better witness
			}
			add(st.ConversationID, r)
		}
	}
	fctx, cancelFailing := context.WithTimeout(ctx, temporalWait)
	defer cancelFailing()
	failing, err := s.failingTasks(fctx)
	if err != nil {
		problems = append(problems, "Temporal: "+err.Error())
	}
	for id, r := range failing {
		add(id, r)
	}
	for _, st := range found {
		list = append(list, *st)
	}
	slices.SortFunc(list, func(a, b turn.Stuck) int {
		return cmp.Or(a.Since.Compare(b.Since), cmp.Compare(a.ConversationID, b.ConversationID))
	})
	return list, problems
}

// jetstreamReasons merges held and undelivered turns into one reason per
// conversation, in stream order; a turn both held and undelivered counts once.
func jetstreamReasons(held, undelivered map[string][]workflows.HeldTurn) map[string]turn.StuckReason {
	all := map[string][]workflows.HeldTurn{}
	for _, m := range []map[string][]workflows.HeldTurn{held, undelivered} {
		for id, hs := range m {
			all[id] = append(all[id], hs...)
		}
	}
	out := map[string]turn.StuckReason{}
	for id, hs := range all {
		bySeq := func(a, b workflows.HeldTurn) int { return cmp.Compare(a.Sequence, b.Sequence) }
		slices.SortStableFunc(hs, bySeq)
		hs = slices.CompactFunc(hs, func(a, b workflows.HeldTurn) bool { return a.Sequence == b.Sequence })
		r := turn.StuckReason{Source: turn.StuckJetStream}
		for _, h := range hs {
			r.Turns, r.Sequences = append(r.Turns, h.TurnID), append(r.Sequences, h.Sequence)
			if r.Since.IsZero() || h.Since.Before(r.Since) {
				r.Since, r.Detail = h.Since, h.Detail
			}
		}
		out[id] = r
	}
	return out
}

// undelivered scans the turns stream, past each bridge consumer's delivered
// sequence, for turns older than stuck_after: no bridge has even seen them (a
// partition hands out one turn at a time, so the turns behind a held one are
// found here too). conversationID narrows the scan to one conversation.
func (s *Conversations) undelivered(ctx context.Context, conversationID string) (map[string][]workflows.HeldTurn, error) {
	type source struct{ consumer, filter string }
	var sources []source
	if conversationID != "" {
		sources = []source{
			{turn.PartitionConsumer(turn.PartitionOf(conversationID)), turn.TurnSubject(conversationID)},
			{turn.LegacyBridgeConsumer, turn.LegacyTurnSubject(conversationID)},
		}
	} else {
		for p := range turn.TurnPartitions {
			sources = append(sources, source{turn.PartitionConsumer(p), turn.PartitionFilter(p)})
		}
		sources = append(sources, source{turn.LegacyBridgeConsumer, turn.LegacyTurnsFilter})
	}
	out := map[string][]workflows.HeldTurn{}
	for _, src := range sources {
		found, err := s.undeliveredBy(ctx, src.consumer, src.filter)
		for id, hs := range found {
			out[id] = append(out[id], hs...)
		}
		if err != nil {
			return out, err
		}
	}
	return out, nil
}

func (s *Conversations) undeliveredBy(ctx context.Context, consumer, filter string) (map[string][]workflows.HeldTurn, error) {
	cons, err := s.JS.Consumer(ctx, turn.TurnsStream, consumer)
	if errors.Is(err, jetstream.ErrConsumerNotFound) {
		if consumer == turn.LegacyBridgeConsumer {
			return nil, nil // a stream of this version: nothing on legacy subjects is read
		}
		return s.scan(ctx, 1, filter, "no bridge has ever consumed its partition of the turns stream")
	}
	if err != nil {
		return nil, err
	}
	info, err := cons.Info(ctx)
	if err != nil {
		return nil, err
	}
	if info.NumPending == 0 {
		return nil, nil
	}
	return s.scan(ctx, info.Delivered.Stream+1, filter, "no bridge has taken it from JetStream (is a worker running?)")
}

func (s *Conversations) scan(ctx context.Context, from uint64, filter, detail string) (map[string][]workflows.HeldTurn, error) {
	cfg := jetstream.OrderedConsumerConfig{
		DeliverPolicy: jetstream.DeliverByStartSequencePolicy, OptStartSeq: from, FilterSubjects: []string{filter},
	}
	oc, err := s.JS.OrderedConsumer(ctx, turn.TurnsStream, cfg)
	if err != nil {
		return nil, err
	}
	limit := cmp.Or(s.ScanLimit, 10000)
	cutoff := time.Now().Add(-s.StuckAfter())
	out := map[string][]workflows.HeldTurn{}
	for read := 0; read < limit; {
		batch, err := oc.FetchNoWait(min(256, limit-read))
		if err != nil {
			return out, err
		}
		n := 0
		for m := range batch.Messages() {
			n++
			meta, err := m.Metadata()
			if err != nil {
				continue
			}
			if meta.Timestamp.After(cutoff) {
				return out, nil // younger turns are not stuck yet, and all after it are younger
			}
			t, err := streams.DecodeTurn(m.Data())
			if err != nil {
				continue // poison: the bridge dead-letters it
			}
			out[t.ConversationID] = append(out[t.ConversationID], workflows.HeldTurn{TurnID: t.ID, Since: meta.Timestamp, Sequence: meta.Sequence.Stream, Detail: detail})
		}
		if err := batch.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) {
			return out, err
		}
		if n == 0 {
			return out, nil
		}
		read += n
	}
	return out, nil
}

// workflowStuck lists the conversations whose workflow reports itself stuck, with
// what each is stuck on.
func (s *Conversations) workflowStuck(ctx context.Context) ([]turn.Stuck, error) {
	q := fmt.Sprintf("WorkflowType = '%s' AND ExecutionStatus = 'Running' AND %s = '%s'", workflows.WorkflowName, workflows.SAStatus.GetName(), workflows.StatusStuck)
	var ids []string
	var token []byte
	for {
		resp, err := s.Temporal.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Namespace: s.Namespace, Query: q, PageSize: 500, NextPageToken: token})
		if err != nil {
			return nil, err
		}
		for _, e := range resp.GetExecutions() {
			if id, ok := turn.ConversationFromWorkflowID(e.GetExecution().GetWorkflowId()); ok {
				ids = append(ids, id)
			}
		}
		if token = resp.GetNextPageToken(); len(token) == 0 || len(ids) >= 10000 {
			break
		}
	}
	out := make([]turn.Stuck, len(ids))
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	for i, id := range ids {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			out[i] = turn.Stuck{ConversationID: id}
			tr, err := s.transcript(ctx, id)
			switch {
			case err != nil:
				out[i].Add(turn.StuckReason{Source: workflows.StatusStuck, Detail: "the workflow says it is stuck; its details are unavailable: " + err.Error()})
			case tr.Stuck != nil:
				out[i] = *tr.Stuck
			}
		}()
	}
	wg.Wait()
	return slices.DeleteFunc(out, func(st turn.Stuck) bool { return len(st.Reasons) == 0 }), nil
}

// temporalWait bounds each call to Temporal, so that a Temporal outage makes the
// stuck list partial rather than slow.
const temporalWait = 5 * time.Second

// failingTasks lists the conversations whose workflow task keeps failing or timing
// out: Temporal sets TemporalReportedProblems after several in a row (five, by
// default: system.numConsecutiveWorkflowTaskProblemsToTriggerSearchAttribute).
func (s *Conversations) failingTasks(ctx context.Context) (map[string]turn.StuckReason, error) {
	q := "WorkflowId STARTS_WITH '" + turn.WorkflowIDPrefix + "' AND ExecutionStatus = 'Running' AND " + reportedProblems + " IN ('category=WorkflowTaskFailed', 'category=WorkflowTaskTimedOut')"
	resp, err := s.Temporal.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Namespace: s.Namespace, Query: q, PageSize: 1000})
	if err != nil {
		return nil, err
	}
	out := map[string]turn.StuckReason{}
	for _, e := range resp.GetExecutions() {
		if id, ok := turn.ConversationFromWorkflowID(e.GetExecution().GetWorkflowId()); ok {
			out[id] = failingTask(e.GetSearchAttributes().GetIndexedFields()[reportedProblems], e.GetStartTime().AsTime())
		}
	}
	return out, nil
}

// reportedProblems is the search attribute Temporal sets on a workflow whose tasks
// keep failing.
const reportedProblems = "TemporalReportedProblems"

func failingTask(problems *commonpb.Payload, since time.Time) turn.StuckReason {
	var list []string
	if problems != nil {
		_ = converter.GetDefaultDataConverter().FromPayload(problems, &list)
	}
	return turn.StuckReason{Source: turn.StuckWorkflowTask, Since: since,
		Detail: fmt.Sprintf("its workflow task keeps failing (%s): a replay cannot help; fix or roll back the worker, and it carries on by itself", strings.Join(list, ", "))}
}

func (s *Conversations) transcript(ctx context.Context, id string) (turn.Transcript, error) {
	ctx, cancel := context.WithTimeout(ctx, temporalWait)
	defer cancel()
	return s.Transcript(ctx, id)
}

func (s *Conversations) describe(ctx context.Context, id string) (*workflowservice.DescribeWorkflowExecutionResponse, error) {
	ctx, cancel := context.WithTimeout(ctx, temporalWait)
	defer cancel()
	return s.Temporal.DescribeWorkflowExecution(ctx, turn.WorkflowID(id), "")
}

// one finds what a single conversation is stuck on, or nil.
func (s *Conversations) one(ctx context.Context, id string) (*turn.Stuck, *turn.Transcript, error) {
	held, err := s.Held.Get(ctx, id)
	if err != nil {
		return nil, nil, fmt.Errorf("held turns: %w", err)
	}
	undelivered, err := s.undelivered(ctx, id)
	if err != nil {
		return nil, nil, fmt.Errorf("undelivered turns: %w", err)
	}
	st := &turn.Stuck{ConversationID: id}
	if r, ok := jetstreamReasons(map[string][]workflows.HeldTurn{id: held}, undelivered)[id]; ok && len(r.Turns) > 0 {
		st.Add(r)
	}
	if d, err := s.describe(ctx, id); err == nil {
		if p := d.GetWorkflowExecutionInfo().GetSearchAttributes().GetIndexedFields()[reportedProblems]; p != nil && d.GetWorkflowExecutionInfo().GetStatus() == enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
			st.Add(failingTask(p, d.GetWorkflowExecutionInfo().GetStartTime().AsTime()))
			return st, nil, nil // its queries would fail too
		}
	}
	var trp *turn.Transcript
	tr, err := s.transcript(ctx, id)
	switch {
	case errors.Is(err, turn.ErrNoConversation):
	case err != nil && len(st.Reasons) == 0:
		return nil, nil, fmt.Errorf("Temporal: %w", err)
	case err == nil:
		trp = &tr
		if tr.Stuck != nil {
			for _, r := range tr.Stuck.Reasons {
				if r.Source != turn.StuckJetStream {
					st.Add(r)
				}
			}
		}
	}
	if len(st.Reasons) == 0 {
		return nil, trp, nil
	}
	return st, trp, nil
}

func (s *Conversations) metrics() *metrics.Metrics {
	if s.Metrics != nil {
		return s.Metrics
	}
	return metrics.Discard()
}

func (s *Conversations) log() *slog.Logger {
	if s.Log != nil {
		return s.Log
	}
	return slog.Default()
}
