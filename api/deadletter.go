package api

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/switchboard-cc/switchboard/internal/streams"
)

// The dead-letter stream (ops role):
//
//	GET  /v1/deadletter[?limit=N]                         its turns, oldest first
//	POST /v1/deadletter/replay[?dry_run=true][&limit=N]   re-drive them through the turns stream
//
// A replay publishes each turn again on its conversation's partition of the turns
// stream, where the bridge hands it to the workflow as any other turn, and removes
// it from the dead-letter stream (streams.ReplayDeadLetters). Malformed turns stay.

func (s *Server) mountDeadLetter(mux *http.ServeMux, ops func(http.Handler) http.Handler) {
	mux.Handle("GET /v1/deadletter", ops(http.HandlerFunc(s.listDeadLetters)))
	mux.Handle("POST /v1/deadletter/replay", ops(http.HandlerFunc(s.replayDeadLetters)))
}

// deadLetterTimeout bounds one list or replay.
const deadLetterTimeout = 2 * time.Minute

func deadLetterQuery(w http.ResponseWriter, r *http.Request) (limit int, dryRun, ok bool) {
	q := r.URL.Query()
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > streams.MaxDeadLetterBatch {
			writeError(w, http.StatusBadRequest, "limit must be a number between 0 and "+strconv.Itoa(streams.MaxDeadLetterBatch))
			return 0, false, false
		}
		limit = n
	}
	if v := q.Get("dry_run"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			writeError(w, http.StatusBadRequest, "dry_run must be true or false")
			return 0, false, false
		}
		dryRun = b
	}
	return limit, dryRun, true
}

func (s *Server) listDeadLetters(w http.ResponseWriter, r *http.Request) {
	limit, _, ok := deadLetterQuery(w, r)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), deadLetterTimeout)
	defer cancel()
	list, err := streams.ListDeadLetters(ctx, s.js, limit)
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, "dead-letter stream: "+err.Error())
		return
	}
	if list == nil {
		list = []streams.DeadLetter{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"dead_letters": list})
}

func (s *Server) replayDeadLetters(w http.ResponseWriter, r *http.Request) {
	limit, dryRun, ok := deadLetterQuery(w, r)
	if !ok {
		return
	}
	_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(deadLetterTimeout + 5*time.Second))
	ctx, cancel := context.WithTimeout(r.Context(), deadLetterTimeout)
	defer cancel()
	rep, err := streams.ReplayDeadLetters(ctx, s.js, limit, dryRun)
	status := http.StatusOK
	for _, e := range rep.Entries {
		if e.Result == "failed" {
			status = http.StatusBadGateway
		}
	}
	if err != nil {
		// Partial: say what was done, with a status a script notices.
		writeJSON(w, http.StatusServiceUnavailable, map[string]any{"dry_run": rep.DryRun, "entries": rep.Entries, "error": "dead-letter stream: " + err.Error()})
		return
	}
	s.log.Info("dead-letter replay", "dry_run", dryRun, "entries", len(rep.Entries), "by", r.RemoteAddr)
	writeJSON(w, status, rep)
}
