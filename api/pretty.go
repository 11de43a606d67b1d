package api

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
)

// Pretty indents the JSON answers of h for a client that asks for it, with
// ?pretty=1 (or true) or an Accept header with an indent parameter
// ("application/json; indent"), or always, for always (the dev endpoints, read
// with curl by people). Other answers pass through untouched.
func Pretty(h http.Handler, always bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !always && !WantsPretty(r) {
			h.ServeHTTP(w, r)
			return
		}
		pw := &prettyWriter{ResponseWriter: w}
		h.ServeHTTP(pw, r)
		pw.finish()
	})
}

// WantsPretty reports whether the request asks for indented JSON.
func WantsPretty(r *http.Request) bool {
	if v := r.URL.Query().Get("pretty"); v != "" {
		b, err := strconv.ParseBool(v)
		return err == nil && b
	}
	for _, accept := range r.Header.Values("Accept") {
		for _, mt := range strings.Split(accept, ",") {
			parts := strings.Split(mt, ";")
			if t := strings.TrimSpace(parts[0]); t != "application/json" && t != "*/*" && t != "application/*" {
				continue
			}
			for _, p := range parts[1:] {
				if k, _, _ := strings.Cut(strings.TrimSpace(p), "="); strings.EqualFold(k, "indent") {
					return true
				}
			}
		}
	}
	return false
}

// prettyWriter holds a JSON answer back to indent it; anything else goes straight
// through.
type prettyWriter struct {
	http.ResponseWriter
	status  int
	decided bool
	hold    bool
	buf     bytes.Buffer
}

func (p *prettyWriter) WriteHeader(status int) {
	if p.decided {
		return
	}
	p.decided, p.status = true, status
	p.hold = strings.HasPrefix(p.Header().Get("Content-Type"), "application/json")
	if !p.hold {
		p.ResponseWriter.WriteHeader(status)
	}
}

func (p *prettyWriter) Write(b []byte) (int, error) {
	if !p.decided {
		p.WriteHeader(http.StatusOK)
	}
	if p.hold {
		return p.buf.Write(b)
	}
	return p.ResponseWriter.Write(b)
}

// Flush passes a streaming answer on; a held JSON answer is written at the end.
func (p *prettyWriter) Flush() {
	if f, ok := p.ResponseWriter.(http.Flusher); ok && !p.hold {
		f.Flush()
	}
}

func (p *prettyWriter) finish() {
	if !p.hold {
		return
	}
	out := p.buf.Bytes()
	var ind bytes.Buffer
	if json.Indent(&ind, out, "", "  ") == nil {
		out = ind.Bytes()
		if len(out) > 0 && out[len(out)-1] != '\n' {
			out = append(out, '\n')
		}
	}
	p.Header().Del("Content-Length")
	p.ResponseWriter.WriteHeader(p.status)
	_, _ = p.ResponseWriter.Write(out)
}
