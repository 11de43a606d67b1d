package api

import (
	"errors"
	"net/http"

	"github.com/switchboard-cc/switchboard/internal/canary"
)

// mountCanary serves GET /v1/health/stack (ops) when the process has a canary.
func (s *Server) mountCanary(mux *http.ServeMux, ops func(http.Handler) http.Handler) {
	if s.cfg.Canary != nil {
		mux.Handle("GET /v1/health/stack", ops(http.HandlerFunc(s.stackHealth)))
	}
}

// stackHealth runs the stack canary: one synthetic turn through JetStream, the
// bridge, the conversation workflow, the NLU and the CPaaS provider. It answers 200
// with the report when every hop is OK, 503 with the report when one is not, and 501
// when the routing policy has no canary section. The run takes up to the canary's
// timeout (30 s by default), and its reply really goes out to the canary's customer.
func (s *Server) stackHealth(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	rep, err := s.cfg.Canary(r.Context())
	switch {
	case errors.Is(err, canary.ErrNotConfigured):
		writeError(w, http.StatusNotImplemented, err.Error()+": add a canary section to the routing policy")
	case err != nil:
		writeJSON(w, http.StatusServiceUnavailable, map[string]any{"error": err.Error(), "report": rep})
	case rep.OK:
		writeJSON(w, http.StatusOK, rep)
	default:
		s.log.Warn("stack canary failed", "turn", rep.TurnID, "error", rep.Error)
		writeJSON(w, http.StatusServiceUnavailable, rep)
	}
}
