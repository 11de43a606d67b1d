package fake

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
)

// maxFaultBody bounds POST /dev/faults; a fault is a few dozen bytes.
const maxFaultBody = 1 << 20

// DevHandler serves the dev API through which tests, the dev tour and an operator
// watch and steer the fakes:
//
//	GET  /dev/outbox[?to=ADDR][&canary=1]
//	                            every message the CPaaS fakes accepted, oldest first;
//	                            the stack canary's replies only with canary=1
//	GET  /dev/faults            the faults in force
//	POST /dev/faults            set one provider's fault (a Fault as JSON)
//
// known says whether a provider name belongs to a fake; nil accepts any name. It
// guards against a typo silently switching nothing.
func DevHandler(outbox *Outbox, faults *Faults, known func(provider string) bool) http.Handler {
	if outbox == nil {
		outbox = &Outbox{}
	}
	if faults == nil {
		faults = &Faults{}
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /dev/outbox", func(w http.ResponseWriter, r *http.Request) {
		to := r.URL.Query().Get("to")
		canary := r.URL.Query().Get("canary") == "1" || r.URL.Query().Get("canary") == "true"
		out := []Sent{} // an empty outbox is [], not null
		for _, s := range outbox.List() {
			if (to == "" || s.To == to) && (canary || !s.Canary) {
				out = append(out, s)
			}
		}
		cpaasJSON(w, http.StatusOK, out)
	})
	mux.HandleFunc("GET /dev/faults", func(w http.ResponseWriter, r *http.Request) {
		cpaasJSON(w, http.StatusOK, faults.List())
	})
	mux.HandleFunc("POST /dev/faults", func(w http.ResponseWriter, r *http.Request) {
		f, status, err := decodeFault(w, r)
		if err != nil {
			devError(w, status, err.Error())
			return
		}
		if known != nil && f.Provider != "" && !known(f.Provider) {
			devError(w, http.StatusBadRequest, fmt.Sprintf("unknown provider %q", f.Provider))
			return
		}
		// Validate here rather than only in Set so the answer shows the defaults
		// that are now in force.
		if err := f.Validate(); err != nil {
			devError(w, http.StatusBadRequest, err.Error())
			return
		}
		if err := faults.Set(f); err != nil {
			devError(w, http.StatusBadRequest, err.Error())
			return
		}
		cpaasJSON(w, http.StatusOK, f)
	})
	return mux
}

func decodeFault(w http.ResponseWriter, r *http.Request) (Fault, int, error) {
	var f Fault
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxFaultBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		if errors.As(err, new(*http.MaxBytesError)) {
			return f, http.StatusRequestEntityTooLarge, errors.New("fault body is larger than 1 MiB")
		}
		return f, http.StatusBadRequest, fmt.Errorf("invalid fault JSON: %v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return f, http.StatusBadRequest, errors.New("invalid fault JSON: more than one value")
	}
	return f, 0, nil
}

func devError(w http.ResponseWriter, status int, msg string) {
	cpaasJSON(w, status, map[string]string{"error": msg})
}
