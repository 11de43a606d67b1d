package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"

	"github.com/switchboard-cc/switchboard/internal/turn"
	"github.com/switchboard-cc/switchboard/workflows"
)

// ErrNotFound is returned for a conversation Temporal does not know.
var ErrNotFound = errors.New("conversation not found")

// Conversations reads conversations from Temporal.
type Conversations interface {
	// Transcript queries the conversation's workflow. ErrNotFound if unknown.
	Transcript(ctx context.Context, id string) (turn.Transcript, error)
	// ListByCustomer lists a customer's conversations from Temporal visibility,
	// newest first. Visibility is eventually consistent: a conversation started a
	// moment ago may be missing.
	ListByCustomer(ctx context.Context, customer string, limit int) ([]Summary, error)
}

// Summary is one conversation in a listing.
type Summary struct {
	ConversationID string     `json:"conversation_id"`
	WorkflowID     string     `json:"workflow_id"`
	RunID          string     `json:"run_id"`
	Channel        string     `json:"channel"`
	Customer       string     `json:"customer"`
	Status         string     `json:"status"`
	Turns          int64      `json:"turns"`
	LastTurnAt     *time.Time `json:"last_turn_at,omitempty"`
	StartedAt      time.Time  `json:"started_at"`
}

// TemporalConversations implements Conversations with a Temporal client.
type TemporalConversations struct {
	Client    client.Client
	Namespace string
}

// Transcript implements Conversations.
func (c TemporalConversations) Transcript(ctx context.Context, id string) (turn.Transcript, error) {
	v, err := c.Client.QueryWorkflow(ctx, turn.WorkflowID(id), "", workflows.QueryTranscript)
	if err != nil {
		var nf *serviceerror.NotFound
		if errors.As(err, &nf) {
			return turn.Transcript{}, ErrNotFound
		}
		return turn.Transcript{}, err
	}
	var tr turn.Transcript
	err = v.Get(&tr)
	return tr, err
}

// ListByCustomer implements Conversations.
func (c TemporalConversations) ListByCustomer(ctx context.Context, customer string, limit int) ([]Summary, error) {
	q := fmt.Sprintf("%s = %s", workflows.SACustomer.GetName(), quote(customer))
	resp, err := c.Client.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
		Namespace: c.Namespace, Query: q, PageSize: int32(limit),
	})
	if err != nil {
		return nil, err
	}
	dc := converter.GetDefaultDataConverter()
	out := make([]Summary, 0, len(resp.Executions))
	for _, e := range resp.Executions {
		id, ok := turn.ConversationFromWorkflowID(e.GetExecution().GetWorkflowId())
		if !ok {
			continue
		}
		s := Summary{ConversationID: id, WorkflowID: e.GetExecution().GetWorkflowId(), RunID: e.GetExecution().GetRunId(), StartedAt: e.GetStartTime().AsTime()}
		fields := e.GetSearchAttributes().GetIndexedFields()
		get := func(name string, into any) {
			if p, ok := fields[name]; ok {
				_ = dc.FromPayload(p, into)
			}
		}
		get(workflows.SAChannel.GetName(), &s.Channel)
		get(workflows.SACustomer.GetName(), &s.Customer)
		get(workflows.SAStatus.GetName(), &s.Status)
		get(workflows.SATurns.GetName(), &s.Turns)
		var last time.Time
		get(workflows.SALastTurnAt.GetName(), &last)
		if !last.IsZero() {
			s.LastTurnAt = &last
		}
		out = append(out, s)
	}
	return out, nil
}

// quote makes a string literal for a visibility query.
func quote(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}

func (s *Server) getConversation(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if !turn.ValidConversationID(id) {
		writeError(w, http.StatusNotFound, "conversation not found")
		return
	}
	tr, err := s.convs.Transcript(r.Context(), id)
	switch {
	case errors.Is(err, ErrNotFound):
		writeError(w, http.StatusNotFound, "conversation not found")
	case err != nil:
		s.log.Error("conversation query failed", "conversation", id, "error", err)
		writeError(w, http.StatusServiceUnavailable, "conversation store unavailable")
	default:
		writeJSON(w, http.StatusOK, tr)
	}
}

func (s *Server) listConversations(w http.ResponseWriter, r *http.Request) {
	customer := r.URL.Query().Get("customer")
	if customer == "" {
		writeError(w, http.StatusBadRequest, "customer is required")
		return
	}
	if len(customer) > 256 {
		writeError(w, http.StatusBadRequest, "customer must be at most 256 characters")
		return
	}
	list, err := s.convs.ListByCustomer(r.Context(), customer, 100)
	if err != nil {
		s.log.Error("conversation listing failed", "error", err)
		writeError(w, http.StatusServiceUnavailable, "conversation store unavailable")
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"conversations": list})
}
