package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/switchboard-cc/switchboard/providers/health"
)

// maxOverrideBody bounds the body of an override request; {"state":"closed"} is 18
// bytes.
const maxOverrideBody = 1 << 10

// ProvidersHandler serves the providers' circuit breakers:
//
//   - GET /v1/providers: every provider's health.Status, as a JSON list sorted by
//     name;
//   - POST /v1/providers/{name}/override with {"state":"open|closed|auto"}: force the
//     provider's breaker open (out of rotation) or closed (in rotation, failures not
//     counted), or hand it back to the breaker. Every worker honours the override.
//     The answer is the provider's Status once the override is in force.
//
// It routes on full paths: mount it on "/v1/providers" and "/v1/providers/".
func ProvidersHandler(reg health.Registry) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/providers", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, reg.Snapshot())
	})
	mux.HandleFunc("POST /v1/providers/{name}/override", func(w http.ResponseWriter, r *http.Request) {
		overrideProvider(reg, w, r)
	})
	return mux
}

type overrideRequest struct {
	State *string `json:"state"`
}

func overrideProvider(reg health.Registry, w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	r.Body = http.MaxBytesReader(w, r.Body, maxOverrideBody)
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	var req overrideRequest
	if err := dec.Decode(&req); err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("request body is larger than %d bytes", maxOverrideBody))
			return
		}
		writeError(w, http.StatusBadRequest, `request body must be a JSON object like {"state":"open"}: `+err.Error())
		return
	}
	if err := dec.Decode(&struct{}{}); err != io.EOF {
		writeError(w, http.StatusBadRequest, "request body must hold a single JSON object")
		return
	}
	if req.State == nil {
		writeError(w, http.StatusBadRequest, `"state" is required: open, closed or auto`)
		return
	}
	mode, err := health.ParseMode(*req.State)
	if err != nil {
		writeError(w, http.StatusBadRequest, fmt.Sprintf(`"state" must be open, closed or auto, got %q`, *req.State))
		return
	}
	if err := reg.Override(r.Context(), name, string(mode)); err != nil {
		if errors.Is(err, health.ErrUnknownProvider) {
			writeError(w, http.StatusNotFound, fmt.Sprintf("unknown provider %q", name))
			return
		}
		w.Header().Set("Retry-After", "2")
		writeError(w, http.StatusServiceUnavailable, "override not stored, retry: "+err.Error())
		return
	}
	for _, s := range reg.Snapshot() {
		if s.Name == name {
			writeJSON(w, http.StatusOK, s)
			return
		}
	}
	// Dropped by a policy reload in between.
	writeError(w, http.StatusNotFound, fmt.Sprintf("unknown provider %q", name))
}
