package stuck

import (
	"context"
	"fmt"
	"slices"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/switchboard-cc/switchboard/internal/streams"
	"github.com/switchboard-cc/switchboard/internal/turn"
	"github.com/switchboard-cc/switchboard/workflows"
)

// Replay replays one stuck conversation (see Conversations). With opts.DryRun it only
// reports what it would do. Replies of unknown delivery are resent through the send
// ledger, which asks the vendor first; with opts.SendUnknown they are sent even when
// the vendor cannot be asked. turn.ErrNotStuck if there is nothing to replay,
// turn.ErrNoConversation if the conversation is unknown.
func (s *Conversations) Replay(ctx context.Context, id string, opts turn.ReplayOptions) (turn.ReplayReport, error) {
	dryRun, by := opts.DryRun, opts.By
	rep := turn.ReplayReport{ConversationID: id, DryRun: dryRun}
	st, tr, err := s.one(ctx, id)
	switch {
	case err != nil:
		return rep, err
	case st == nil && tr == nil:
		return rep, turn.ErrNoConversation
	case st == nil:
		return rep, turn.ErrNotStuck
	}
	rep.Stuck = st
	var seqs []uint64
	var heldIDs, unanswered []string
	flagged := false
	for _, r := range st.Reasons {
		switch r.Source {
		case turn.StuckJetStream:
			seqs, heldIDs = append(seqs, r.Sequences...), append(heldIDs, r.Turns...)
		case turn.StuckUnanswered, turn.StuckDeliveryUnknown:
			unanswered = append(unanswered, r.Turns...)
		case turn.StuckEscalation:
			flagged = true
		}
	}
	if len(seqs) == 0 && len(unanswered) == 0 && !flagged {
		return rep, fmt.Errorf("%w: %s", turn.ErrNotReplayable, st.Reasons[0].Detail)
	}
	if dryRun {
		for i, seq := range seqs {
			rep.Redelivered = append(rep.Redelivered, turn.Redelivery{TurnID: heldIDs[i], Sequence: seq, Result: "would_redeliver"})
		}
		rep.Resend = unanswered
		if flagged {
			rep.Reopened = "the flagged escalation"
		}
		return rep, nil
	}
	s.log().Info("replaying stuck conversation", "conversation", id, "by", by, "redeliver", len(seqs), "resend", len(unanswered), "reopen", flagged)
	defer func() {
		result := "replayed"
		if rep.Error != "" {
			result = "failed"
		}
		s.metrics().Replays.WithLabelValues(result).Inc()
	}()
	if err := s.redeliver(ctx, id, seqs, &rep); err != nil {
		rep.Error = err.Error()
		return rep, nil
	}
	if len(unanswered) == 0 && !flagged {
		return rep, nil
	}
	for range unanswered {
		if err := s.pace(ctx); err != nil {
			rep.Error = err.Error()
			return rep, nil
		}
	}
	h, err := s.Temporal.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
		WorkflowID: turn.WorkflowID(id), UpdateName: workflows.UpdateReplay, UpdateID: opts.UpdateID,
		Args: []any{workflows.ReplayRequest{By: by, SendUnknown: opts.SendUnknown}}, WaitForStage: client.WorkflowUpdateStageCompleted,
	})
	var res workflows.ReplayResult
	if err == nil {
		err = h.Get(ctx, &res)
	}
	if err != nil {
		rep.Error = "workflow replay: " + err.Error()
		return rep, nil
	}
	rep.Resent, rep.Reopened = res.Resent, res.Reopened
	return rep, nil
}

// redeliver hands the held turns to the workflow in stream order, and stops at the
// first failure so that order holds.
func (s *Conversations) redeliver(ctx context.Context, id string, seqs []uint64, rep *turn.ReplayReport) error {
	if len(seqs) == 0 {
		return nil
	}
	stream, err := s.JS.Stream(ctx, turn.TurnsStream)
	if err != nil {
		return err
	}
	slices.Sort(seqs)
	for _, seq := range seqs {
		if err := s.pace(ctx); err != nil {
			return err
		}
		raw, err := stream.GetMsg(ctx, seq)
		if err != nil {
			return fmt.Errorf("turn at stream sequence %d: %w", seq, err)
		}
		t, err := streams.DecodeTurn(raw.Data)
		if err != nil {
			return fmt.Errorf("turn at stream sequence %d: %w", seq, err)
		}
		d := turn.Redelivery{TurnID: t.ID, Sequence: seq, Result: "accepted"}
		acc, err := s.Deliver(ctx, t)
		if err != nil {
			d.Result, d.Error = "failed", err.Error()
			rep.Redelivered = append(rep.Redelivered, d)
			return fmt.Errorf("turn %s not taken by its workflow: %w", t.ID, err)
		}
		if acc.Duplicate {
			d.Result = "duplicate"
		}
		rep.Redelivered = append(rep.Redelivered, d)
		if err := s.Held.Release(ctx, id, t.ID); err != nil {
			s.log().Warn("replayed turn still listed as held until its entry expires", "turn", t.ID, "error", err)
		}
	}
	return nil
}

func (s *Conversations) pace(ctx context.Context) error {
	if s.Pace == nil {
		return nil
	}
	return s.Pace.Wait(ctx)
}

// Redrive re-sends unanswered replies without an operator. Every interval it lists
// the conversations whose workflow reports itself stuck, oldest first, and replays
// (Replay) each one whose only unfinished work is replies no CPaaS provider could
// send, as soon as Deliverable says a CPaaS provider of the conversation is in
// rotation again. The replay is paced by Pace like any other, sends with the
// original idempotency keys (nothing leaves twice), and applies the stale-reply
// policy.
//
// What automation must not decide stays for an operator's replay: replies of unknown
// delivery (the vendor may have them), escalations no queue acknowledged, turns held
// in JetStream and failing workflow tasks. A conversation with any of those is left
// alone, and stays listed as stuck.
func (s *Conversations) Redrive(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		s.redrive(ctx)
	}
}

func (s *Conversations) redrive(ctx context.Context) {
	if s.Deliverable == nil {
		return
	}
	tctx, cancel := context.WithTimeout(ctx, temporalWait)
	list, err := s.workflowStuck(tctx)
	cancel()
	if err != nil {
		s.log().Debug("redrive: stuck conversations not listed", "error", err)
		return
	}
	slices.SortFunc(list, func(a, b turn.Stuck) int { return a.Since.Compare(b.Since) })
	for _, st := range list {
		if ctx.Err() != nil {
			return
		}
		if !automatic(st) {
			continue
		}
		tr, err := s.transcript(ctx, st.ConversationID)
		if err != nil || !s.Deliverable(ctx, tr) {
			continue
		}
		// Every worker redrives: the same unanswered turns of the same transcript
		// make the same update id, so Temporal runs their replay once. A replay
		// that failed again recorded its outcomes, so the next one has a new id.
		parts := []string{fmt.Sprint(len(tr.Turns))}
		if n := len(tr.Turns); n > 0 {
			parts = append(parts, tr.Turns[n-1].CompletedAt.String())
		}
		for _, r := range st.Reasons {
			parts = append(parts, r.Turns...)
		}
		rep, err := s.Replay(ctx, st.ConversationID, turn.ReplayOptions{
			By: "redrive (a CPaaS provider is back)", UpdateID: turn.RedriveUpdateID(parts),
		})
		result := "replayed"
		if err != nil || rep.Error != "" {
			result = "failed"
			s.log().Warn("redrive: unanswered replies not re-sent", "conversation", st.ConversationID, "error", err, "detail", rep.Error)
		} else {
			s.log().Info("redrive: unanswered replies re-sent", "conversation", st.ConversationID, "resent", len(rep.Resent))
		}
		s.metrics().AutoReplays.WithLabelValues(result).Inc()
	}
}

// automatic reports whether a stuck conversation's only unfinished work is replies
// no CPaaS provider could send.
func automatic(st turn.Stuck) bool {
	return len(st.Reasons) > 0 && !slices.ContainsFunc(st.Reasons, func(r turn.StuckReason) bool { return r.Source != turn.StuckUnanswered })
}
