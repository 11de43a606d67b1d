package api

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/switchboard-cc/switchboard/internal/conversations"
	"github.com/switchboard-cc/switchboard/internal/turn"
	"github.com/switchboard-cc/switchboard/workflows"
)

// The agent-desk API. Escalations wait in JetStream, one subject per queue, and the
// conversation workflow is the source of truth of their state (see package
// conversations): a stale action is refused before anything is recorded.
//
//	GET  /v1/queues/{queue}/escalations        open escalations waiting in the queue
//	POST /v1/queues/{queue}/claim              {agent}: claim the next escalation
//	POST /v1/conversations/{id}/escalation/ack      {escalation_id, agent}
//	POST /v1/conversations/{id}/escalation/reply    {escalation_id, agent, text}
//	POST /v1/conversations/{id}/escalation/resolve  {escalation_id, agent}
//
// ack, reply and resolve take an Idempotency-Key header (at most 200 characters):
// a retried call with the same key is the same workflow update, deduplicated by
// Temporal, and gets the first call's answer; a reply is sent to the customer once.
// Without the header every call is a new update: a repeated ack or resolve is
// judged against the escalation as it is then (409 once it was resolved), and every
// reply is a new message.

// Desk performs agent actions on escalations (conversations.Store, in production).
type Desk interface {
	// Act sends a desk update (workflows.UpdateClaim, UpdateAck, ...) to a
	// conversation. Errors wrap conversations.ErrRejected or turn.ErrNoConversation
	// where that is the cause.
	Act(ctx context.Context, conversationID, update string, r workflows.DeskRequest) (turn.Escalation, error)
	// Waiting lists the open escalations whose conversation waits in queue.
	Waiting(ctx context.Context, queue string, limit int) ([]turn.Escalation, error)
}

type deskBody struct {
	EscalationID string `json:"escalation_id"`
	Agent        string `json:"agent"`
	Text         string `json:"text,omitempty"`
}

func (s *Server) decodeDesk(w http.ResponseWriter, r *http.Request) (deskBody, bool) {
	var b deskBody
	body, ok := s.readBody(w, r)
	if !ok {
		return b, false
	}
	if err := strictJSON(body, &b); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return b, false
	}
	if b.Agent == "" {
		writeError(w, http.StatusBadRequest, "agent is required")
		return b, false
	}
	return b, true
}

func (s *Server) waitingEscalations(w http.ResponseWriter, r *http.Request) {
	queue := r.PathValue("queue")
	if !turn.ValidQueueName(queue) {
		writeError(w, http.StatusBadRequest, "queue name is not valid")
		return
	}
	list, err := s.desk.Waiting(r.Context(), queue, 100)
	if err != nil {
		s.log.Error("escalation listing failed", "queue", queue, "error", err)
		writeError(w, http.StatusServiceUnavailable, "conversation store unavailable")
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"escalations": list})
}

// claim hands the next escalation of a queue to an agent. Entries the workflow
// refuses (the escalation moved on or was resolved) are dropped from the queue.
func (s *Server) claim(w http.ResponseWriter, r *http.Request) {
	queue := r.PathValue("queue")
	if !turn.ValidQueueName(queue) {
		writeError(w, http.StatusBadRequest, "queue name is not valid")
		return
	}
	b, ok := s.decodeDesk(w, r)
	if !ok {
		return
	}
	ctx := r.Context()
	cons, err := s.js.CreateOrUpdateConsumer(ctx, turn.EscalationsStream, jetstream.ConsumerConfig{
		Durable: turn.DeskConsumer(queue), FilterSubject: turn.EscalationSubject(queue),
		AckPolicy: jetstream.AckExplicitPolicy, AckWait: 30 * time.Second, Description: "Agent desk claims of queue " + queue,
	})
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, "escalation queues unavailable")
		return
	}
	for range 20 {
		batch, err := cons.FetchNoWait(1)
		if err != nil {
			writeError(w, http.StatusServiceUnavailable, "escalation queues unavailable")
			return
		}
		var m jetstream.Msg
		for msg := range batch.Messages() {
			m = msg
		}
		if m == nil {
			writeError(w, http.StatusNotFound, "no escalation waiting in queue "+queue)
			return
		}
		var e turn.Escalation
		if err := json.Unmarshal(m.Data(), &e); err != nil {
			_ = m.Term()
			continue
		}
		got, err := s.desk.Act(ctx, e.ConversationID, workflows.UpdateClaim, workflows.DeskRequest{EscalationID: e.ID, Queue: queue, Agent: b.Agent})
		switch {
		case err == nil:
			_ = m.Ack()
			writeJSON(w, http.StatusOK, got)
			return
		case errors.Is(err, conversations.ErrRejected), errors.Is(err, turn.ErrNoConversation):
			_ = m.Term() // stale: the workflow moved on
		default:
			_ = m.Nak()
			s.log.Error("claim failed", "escalation", e.ID, "error", err)
			writeError(w, http.StatusServiceUnavailable, "conversation store unavailable")
			return
		}
	}
	writeError(w, http.StatusNotFound, "no escalation waiting in queue "+queue)
}

func (s *Server) escalationAction(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	update, ok := map[string]string{"ack": workflows.UpdateAck, "reply": workflows.UpdateReply, "resolve": workflows.UpdateResolve}[r.PathValue("action")]
	if !ok {
		writeError(w, http.StatusNotFound, "action must be ack, reply or resolve")
		return
	}
	if !turn.ValidConversationID(id) {
		writeError(w, http.StatusNotFound, "conversation not found")
		return
	}
	b, ok := s.decodeDesk(w, r)
	if !ok {
		return
	}
	if b.EscalationID == "" {
		writeError(w, http.StatusBadRequest, "escalation_id is required")
		return
	}
	updateID, ok := deskUpdateID(w, r, update, b)
	if !ok {
		return
	}
	e, err := s.desk.Act(r.Context(), id, update, workflows.DeskRequest{EscalationID: b.EscalationID, Agent: b.Agent, Text: b.Text, UpdateID: updateID})
	switch {
	case errors.Is(err, turn.ErrNoConversation):
		writeError(w, http.StatusNotFound, "conversation not found")
	case errors.Is(err, conversations.ErrRejected):
		writeError(w, http.StatusConflict, err.Error())
	case err != nil:
		s.log.Error("escalation action failed", "conversation", id, "action", r.PathValue("action"), "error", err)
		writeError(w, http.StatusServiceUnavailable, "conversation store unavailable")
	default:
		writeJSON(w, http.StatusOK, e)
	}
}

// deskUpdateID is the update id of a desk action: from the Idempotency-Key header.
// "" lets Temporal choose: without the header a call is never taken for a retry.
func deskUpdateID(w http.ResponseWriter, r *http.Request, update string, b deskBody) (string, bool) {
	key := r.Header.Get("Idempotency-Key")
	switch {
	case len(key) > 200:
		writeError(w, http.StatusBadRequest, "Idempotency-Key must be at most 200 characters")
		return "", false
	case key != "":
		return turn.DeskUpdateID(update, b.EscalationID, key), true
	}
	return "", true
}
