// Package logging keeps customer data out of Switchboard's logs. Mask wraps a
// slog.Handler: phone numbers anywhere in a record (message, attributes, errors, also
// those the Temporal SDK logs through it) keep only their last two digits, and the
// values of attributes that carry message bodies are replaced by their length.
package logging

import (
	"context"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
)

// phone matches E.164 numbers and other long digit runs such as national numbers.
var phone = regexp.MustCompile(`\+?\d[\d ().-]{6,}\d`)

// bodyKeys name attributes whose value is customer or agent text.
var bodyKeys = map[string]bool{"text": true, "body": true, "reply": true, "message_body": true, "Body": true}

// MaskString masks the phone numbers in s.
func MaskString(s string) string {
	return phone.ReplaceAllStringFunc(s, func(m string) string {
		digits := 0
		for _, r := range m {
			if r >= '0' && r <= '9' {
				digits++
			}
		}
		if digits < 7 {
			return m
		}
		return "+" + strings.Repeat("*", digits-2) + m[len(m)-2:]
	})
}

// Mask wraps h so that every record it handles is masked.
func Mask(h slog.Handler) slog.Handler { return masked{h} }

type masked struct{ slog.Handler }

func (m masked) Handle(ctx context.Context, r slog.Record) error {
	out := slog.NewRecord(r.Time, r.Level, MaskString(r.Message), r.PC)
	r.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(maskAttr(a))
		return true
	})
	return m.Handler.Handle(ctx, out)
}

func (m masked) WithAttrs(as []slog.Attr) slog.Handler {
	cp := make([]slog.Attr, len(as))
	for i, a := range as {
		cp[i] = maskAttr(a)
	}
	return masked{m.Handler.WithAttrs(cp)}
}

func (m masked) WithGroup(name string) slog.Handler { return masked{m.Handler.WithGroup(name)} }

func maskAttr(a slog.Attr) slog.Attr {
	v := a.Value.Resolve()
	switch {
	case bodyKeys[a.Key] && v.Kind() == slog.KindString:
		return slog.String(a.Key, fmt.Sprintf("[%d bytes redacted]", len(v.String())))
	case v.Kind() == slog.KindString:
		return slog.String(a.Key, MaskString(v.String()))
	case v.Kind() == slog.KindGroup:
		g := v.Group()
		cp := make([]any, len(g))
		for i, x := range g {
			cp[i] = maskAttr(x)
		}
		return slog.Group(a.Key, cp...)
	case v.Kind() == slog.KindAny:
		if err, ok := v.Any().(error); ok {
			return slog.String(a.Key, MaskString(err.Error()))
		}
		if s, ok := v.Any().(fmt.Stringer); ok {
			return slog.String(a.Key, MaskString(s.String()))
		}
		return slog.String(a.Key, MaskString(fmt.Sprint(v.Any())))
	}
	return a
}
