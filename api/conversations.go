package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
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
var ErrNotFound = turn.ErrNoConversation

// Conversations reads conversations from Temporal.
type Conversations interface {
	// Transcript queries the conversation's workflow. ErrNotFound if unknown.
	Transcript(ctx context.Context, id string) (turn.Transcript, error)
	// List lists conversations from Temporal visibility, newest first. Visibility
	// is eventually consistent: a conversation started a moment ago may be missing.
	List(ctx context.Context, f ListFilter, limit int) ([]Summary, error)
}

// ListFilter selects conversations; empty fields match every conversation.
type ListFilter struct {
	Customer string
	Status   string // a SwitchboardStatus value
}

// query is the filter as a visibility query.
func (f ListFilter) query() string {
	q := fmt.Sprintf("WorkflowType = %s", quote(workflows.WorkflowName))
	if f.Customer != "" {
		q += fmt.Sprintf(" AND %s = %s", workflows.SACustomer.GetName(), quote(f.Customer))
	}
	if f.Status != "" {
		q += fmt.Sprintf(" AND %s = %s", workflows.SAStatus.GetName(), quote(f.Status))
	}
	return q
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

// List implements Conversations.
func (c TemporalConversations) List(ctx context.Context, f ListFilter, limit int) ([]Summary, error) {
	resp, err := c.Client.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
		Namespace: c.Namespace, Query: f.query(), PageSize: int32(limit),
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

// DefaultRecentLimit is how many conversations a listing without a filter returns
// unless it asks for a limit.
const DefaultRecentLimit = 20

// listConversations serves GET /v1/conversations?customer=&status=&limit=. The
// stuck status is answered by the stuck finder (see stuck.go), which also sees
// turns Temporal never got.
func (s *Server) listConversations(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f := ListFilter{Customer: q.Get("customer"), Status: q.Get("status")}
	if len(f.Customer) > 256 {
		writeError(w, http.StatusBadRequest, "customer must be at most 256 characters")
		return
	}
	switch f.Status {
	case "", workflows.StatusActive, workflows.StatusWaitingHuman, workflows.StatusClosed:
	case workflows.StatusStuck:
		if f.Customer != "" {
			writeError(w, http.StatusBadRequest, "status=stuck lists every stuck conversation; it takes no customer")
			return
		}
		s.listStuck(w, r)
		return
	default:
		writeError(w, http.StatusBadRequest, fmt.Sprintf("status must be one of %s, %s, %s, %s", workflows.StatusActive, workflows.StatusWaitingHuman, workflows.StatusStuck, workflows.StatusClosed))
		return
	}
	// Without a filter: the most recent conversations, a page of them.
	limit := 100
	if f == (ListFilter{}) {
		limit = DefaultRecentLimit
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			writeError(w, http.StatusBadRequest, "limit must be a number between 1 and 1000")
			return
		}
		limit = n
	}
	list, err := s.convs.List(r.Context(), f, limit)
	if err != nil {
		s.log.Error("conversation listing failed", "error", err)
		writeError(w, http.StatusServiceUnavailable, "conversation store unavailable")
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"conversations": list})
}
