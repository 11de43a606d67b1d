package stuck

import (
	"context"
	"errors"
	"slices"
	"time"

	"go.temporal.io/api/serviceerror"

	"github.com/switchboard-cc/switchboard/internal/turn"
	"github.com/switchboard-cc/switchboard/workflows"
)

// Sweep lists the stuck conversations every interval until ctx ends: it keeps
// switchboard_stuck_conversations current, logs each newly stuck conversation, and
// tells each workflow which of its turns are held in JetStream, so that its
// SwitchboardStatus shows stuck in the Temporal UI.
func (s *Conversations) Sweep(ctx context.Context, interval time.Duration) {
	known, told := map[string]bool{}, map[string]bool{}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		known = s.sweep(ctx, known, told)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (s *Conversations) sweep(ctx context.Context, known, told map[string]bool) map[string]bool {
	list, problems := s.List(ctx)
	for _, p := range problems {
		s.log().Warn("stuck sweep: a source could not be read; the stuck list is partial", "problem", p)
	}
	counts := map[string]int{turn.StuckJetStream: 0, turn.StuckUnanswered: 0, turn.StuckEscalation: 0, turn.StuckWorkflowTask: 0}
	now := map[string]bool{}
	for _, st := range list {
		now[st.ConversationID] = true
		for _, r := range st.Reasons {
			counts[r.Source]++
			if r.Source == turn.StuckJetStream {
				s.tell(ctx, st.ConversationID, r, told)
			}
		}
		if !known[st.ConversationID] {
			s.log().Warn("conversation stuck", "conversation", st.ConversationID, "since", st.Since, "source", st.Reasons[0].Source, "detail", st.Reasons[0].Detail)
		}
	}
	for src, n := range counts {
		s.metrics().Stuck.WithLabelValues(src).Set(float64(n))
	}
	for id := range told {
		if !slices.ContainsFunc(list, func(st turn.Stuck) bool {
			return slices.ContainsFunc(st.Reasons, func(r turn.StuckReason) bool { return slices.Contains(r.Turns, id) })
		}) {
			delete(told, id)
		}
	}
	return now
}

// tell signals the workflow about held turns this process has not told it of yet
// (the workflow ignores turns it already has). A workflow that does not exist yet
// learns nothing: the turn that starts it is the held one.
func (s *Conversations) tell(ctx context.Context, id string, r turn.StuckReason, told map[string]bool) {
	var held []workflows.HeldTurn
	for i := range r.Turns {
		if !told[r.Turns[i]] {
			held = append(held, workflows.HeldTurn{TurnID: r.Turns[i], Sequence: r.Sequences[i], Since: r.Since, Detail: r.Detail})
		}
	}
	if len(held) == 0 {
		return
	}
	err := s.Temporal.SignalWorkflow(ctx, turn.WorkflowID(id), "", workflows.SignalHeld, held)
	var nf *serviceerror.NotFound
	switch {
	case err == nil || errors.As(err, &nf):
		for _, h := range held {
			told[h.TurnID] = true
		}
	default:
		s.log().Debug("stuck sweep: workflow not told of its held turns", "conversation", id, "error", err)
	}
}
