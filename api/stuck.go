package api

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/switchboard-cc/switchboard/internal/turn"
)

// Stuck conversations and their replay (ops role):
//
//	GET  /v1/conversations?status=stuck            every stuck conversation, oldest first
//	POST /v1/conversations/{id}/replay[?dry_run=true][&send_unknown=true]  replay one

// StuckConversations finds and replays stuck conversations (stuck.Conversations).
type StuckConversations interface {
	// List returns the stuck conversations, oldest first, and the sources it
	// could not read.
	List(ctx context.Context) ([]turn.Stuck, []string)
	// Replay replays one conversation, or with opts.DryRun says what it would do.
	// Errors: turn.ErrNotStuck, turn.ErrNoConversation.
	Replay(ctx context.Context, id string, opts turn.ReplayOptions) (turn.ReplayReport, error)
}

func (s *Server) listStuck(w http.ResponseWriter, r *http.Request) {
	if s.cfg.Stuck == nil {
		writeError(w, http.StatusNotImplemented, "stuck conversations are not tracked by this process")
		return
	}
	list, problems := s.cfg.Stuck.List(r.Context())
	if list == nil {
		list = []turn.Stuck{}
	}
	body := map[string]any{"conversations": list}
	if len(problems) > 0 {
		// The list is partial: say so, and say it with a status a script notices.
		body["problems"] = problems
		writeJSON(w, http.StatusServiceUnavailable, body)
		return
	}
	writeJSON(w, http.StatusOK, body)
}

// replayTimeout bounds one replay.
const replayTimeout = 4 * time.Minute

func (s *Server) replay(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if !turn.ValidConversationID(id) {
		writeError(w, http.StatusNotFound, "conversation not found")
		return
	}
	if s.cfg.Stuck == nil {
		writeError(w, http.StatusNotImplemented, "replay is not available in this process")
		return
	}
	opts := turn.ReplayOptions{By: "ops via the API from " + r.RemoteAddr}
	for name, dst := range map[string]*bool{"dry_run": &opts.DryRun, "send_unknown": &opts.SendUnknown} {
		if v := r.URL.Query().Get(name); v != "" {
			b, err := strconv.ParseBool(v)
			if err != nil {
				writeError(w, http.StatusBadRequest, name+" must be true or false")
				return
			}
			*dst = b
		}
	}
	// A paced replay may outlast the server's write timeout, which is sized for turns.
	_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(replayTimeout))
	ctx, cancel := context.WithTimeout(r.Context(), replayTimeout)
	defer cancel()
	rep, err := s.cfg.Stuck.Replay(ctx, id, opts)
	switch {
	case errors.Is(err, turn.ErrNoConversation):
		writeError(w, http.StatusNotFound, "conversation not found")
	case errors.Is(err, turn.ErrNotStuck):
		writeError(w, http.StatusConflict, "conversation "+id+" is not stuck: nothing to replay")
	case errors.Is(err, turn.ErrNotReplayable):
		writeError(w, http.StatusConflict, err.Error())
	case err != nil:
		s.log.Error("replay failed", "conversation", id, "error", err)
		writeError(w, http.StatusServiceUnavailable, "replay failed: "+err.Error())
	case rep.Error != "":
		s.log.Error("replay stopped short", "conversation", id, "error", rep.Error)
		writeJSON(w, http.StatusBadGateway, rep)
	default:
		writeJSON(w, http.StatusOK, rep)
	}
}
