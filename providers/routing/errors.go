package routing

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/goccy/go-yaml/token"
)

// Error is one problem in a policy, at a line and column of its file.
type Error struct {
	File   string // "" when parsed from bytes
	Line   int    // 0 when unknown (a Policy built in Go)
	Column int
	Path   string // the field, e.g. channels.sms.nlu[2]; "" for YAML syntax errors
	Msg    string
}

func (e *Error) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		b.WriteString(":")
	}
	if e.Line > 0 {
		fmt.Fprintf(&b, "%d:", e.Line)
		if e.Column > 0 {
			fmt.Fprintf(&b, "%d:", e.Column)
		}
	}
	if b.Len() > 0 {
		b.WriteString(" ")
	}
	if e.Path != "" {
		b.WriteString(e.Path)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Errors returns the policy errors in err (as Parse, Load and Validate join them),
// in the order reported: file order for a parsed policy.
func Errors(err error) []*Error {
	switch e := err.(type) {
	case nil:
		return nil
	case *Error:
		return []*Error{e}
	case interface{ Unwrap() []error }:
		var out []*Error
		for _, x := range e.Unwrap() {
			out = append(out, Errors(x)...)
		}
		return out
	}
	var pe *Error
	if errors.As(err, &pe) {
		return []*Error{pe}
	}
	return nil
}

// source remembers where each field of a parsed policy sits in the file.
type source struct {
	file   string
	pos    map[string]token.Position // field path → its value
	keyPos map[string]token.Position // field path → its key
	// origin maps a resolved provider setting (providers.x.breaker.open_for) to the
	// path it was written at (defaults.breaker.open_for), when it was inherited.
	origin map[string]string
	// bad holds paths that failed to decode; validation stays quiet below them.
	bad map[string]bool
}

func (s *source) position(path string) (token.Position, bool) {
	if s == nil {
		return token.Position{}, false
	}
	if o, ok := s.origin[path]; ok {
		if pos, ok := s.position(o); ok {
			return pos, true
		}
	}
	if pos, ok := s.pos[path]; ok {
		return pos, true
	}
	if pos, ok := s.keyPos[path]; ok {
		return pos, true
	}
	if path == "" {
		return token.Position{Line: 1, Column: 1}, true
	}
	// Not written: the entry that should hold it.
	return s.keyPosition(parentPath(path))
}

// keyPosition prefers the key of path: for "this entry is missing a field".
func (s *source) keyPosition(path string) (token.Position, bool) {
	if s != nil {
		if pos, ok := s.keyPos[path]; ok {
			return pos, true
		}
	}
	return s.position(path)
}

// written reports whether path was written in the file. For a Policy built in Go,
// every field counts as written.
func (s *source) written(path string) bool {
	if s == nil {
		return true
	}
	_, ok := s.pos[path]
	return ok
}

func (s *source) quiet(path string) bool {
	if s == nil {
		return false
	}
	for p := path; ; p = parentPath(p) {
		if s.bad[p] {
			return true
		}
		if p == "" {
			return false
		}
	}
}

// parentPath: channels.sms.nlu[2] → channels.sms.nlu → channels.sms → channels → "".
func parentPath(p string) string {
	if strings.HasSuffix(p, "]") {
		if i := strings.LastIndexByte(p, '['); i >= 0 {
			return p[:i]
		}
	}
	if i := strings.LastIndexByte(p, '.'); i >= 0 {
		return p[:i]
	}
	return ""
}

type errorList struct {
	src  *source
	errs []*Error
}

// at reports a problem with the value at path.
func (l *errorList) at(path, format string, args ...any) {
	l.add(path, false, format, args...)
}

// in reports a problem with the entry at path as a whole (a missing field, say), at
// the line of its key.
func (l *errorList) in(path, format string, args ...any) {
	l.add(path, true, format, args...)
}

func (l *errorList) add(path string, key bool, format string, args ...any) {
	if l.src.quiet(path) {
		return
	}
	e := &Error{Path: path, Msg: fmt.Sprintf(format, args...)}
	if l.src != nil {
		e.File = l.src.file
		var pos token.Position
		var ok bool
		if key {
			pos, ok = l.src.keyPosition(path)
		} else {
			pos, ok = l.src.position(path)
		}
		if ok {
			e.Line, e.Column = pos.Line, pos.Column
		}
	}
	l.errs = append(l.errs, e)
}

func (l *errorList) err() error {
	if len(l.errs) == 0 {
		return nil
	}
	sort.SliceStable(l.errs, func(i, j int) bool {
		a, b := l.errs[i], l.errs[j]
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		if a.Column != b.Column {
			return a.Column < b.Column
		}
		return a.Path < b.Path
	})
	errs := make([]error, 0, len(l.errs))
	seen := map[string]bool{}
	for _, e := range l.errs {
		if s := e.Error(); !seen[s] {
			seen[s] = true
			errs = append(errs, e)
		}
	}
	return errors.Join(errs...)
}
