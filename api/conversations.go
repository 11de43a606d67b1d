package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/switchboard-cc/switchboard/internal/conversations"
	"github.com/switchboard-cc/switchboard/internal/turn"
	"github.com/switchboard-cc/switchboard/workflows"
)

// Conversations reads conversations (conversations.Store, in production).
type Conversations interface {
	// Transcript queries the conversation's workflow: turn.ErrNoConversation if
	// unknown.
	Transcript(ctx context.Context, id string) (turn.Transcript, error)
	// List lists conversations from Temporal visibility, newest first. Visibility
	// is eventually consistent: a conversation started a moment ago may be missing.
	List(ctx context.Context, f conversations.ListFilter, limit int) ([]conversations.Summary, error)
}

func (s *Server) getConversation(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if !turn.ValidConversationID(id) {
		writeError(w, http.StatusNotFound, "conversation not found")
		return
	}
	tr, err := s.convs.Transcript(r.Context(), id)
	switch {
	case errors.Is(err, turn.ErrNoConversation):
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
	f := conversations.ListFilter{Customer: q.Get("customer"), Status: q.Get("status")}
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
	if f == (conversations.ListFilter{}) {
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
