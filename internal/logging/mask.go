// Package logging keeps customer data out of Switchboard's logs. Mask wraps a
// slog.Handler and masks by attribute key, not by a pattern over every value, so
// that ids (workflow and run ids, UUIDs, message SIDs, timestamps) pass through
// unchanged and can be found in the Temporal UI:
//
//   - attributes that carry an address (from, to, customer, phone, …) keep only
//     the last two digits of their value;
//   - attributes that carry message text (text, body, reply, …) are replaced by
//     their length;
//   - free text (the record's message, errors, and other values) is scanned for
//     E.164 numbers only: a '+' that is not part of a word, followed by 7 to 15
//     digits that are not followed by a letter or digit. Vendors' error texts
//     name the number they refused that way; no id has that shape.
package logging

import (
	"context"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
)

// e164 matches an E.164 number in free text. Go's regexp has no look-behind, so
// the character before the '+' is captured (or is the start) and kept.
var e164 = regexp.MustCompile(`(^|[^\w+])\+(\d{7,15})(?:$|[^\w])`)

// PhoneKeys name attributes whose value is a phone number or a channel address.
// ("address" is not one: it is a server's, such as the Temporal frontend's.)
var PhoneKeys = map[string]bool{
	"from": true, "to": true, "customer": true, "phone": true, "msisdn": true,
	"sender": true, "recipient": true, "caller": true, "From": true, "To": true,
}

// BodyKeys name attributes whose value is customer or agent text.
var BodyKeys = map[string]bool{
	"text": true, "body": true, "reply": true, "message_body": true, "Body": true, "Text": true,
	"content": true, "transcript": true, "utterance": true,
}

// MaskString masks the E.164 numbers in free text s, keeping their last two digits.
func MaskString(s string) string {
	if !strings.Contains(s, "+") {
		return s
	}
	var b strings.Builder
	rest := s
	for {
		loc := e164.FindStringSubmatchIndex(rest)
		if loc == nil {
			b.WriteString(rest)
			return b.String()
		}
		// loc[2:4] is the kept leading character, loc[4:6] the digits.
		b.WriteString(rest[:loc[3]])
		b.WriteString(maskDigits("+" + rest[loc[4]:loc[5]]))
		rest = rest[loc[5]:]
	}
}

// MaskAddress masks every digit of an address but the last two, keeping the rest
// ("whatsapp:+15551230001" → "whatsapp:+*********01").
func MaskAddress(s string) string { return maskDigits(s) }

func maskDigits(s string) string {
	digits := 0
	for _, r := range s {
		if r >= '0' && r <= '9' {
			digits++
		}
	}
	if digits <= 2 {
		return s
	}
	out := []byte(s)
	seen := 0
	for i, c := range out {
		if c >= '0' && c <= '9' {
			if seen < digits-2 {
				out[i] = '*'
			}
			seen++
		}
	}
	return string(out)
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
	if v.Kind() == slog.KindGroup {
		g := v.Group()
		cp := make([]any, len(g))
		for i, x := range g {
			cp[i] = maskAttr(x)
		}
		return slog.Group(a.Key, cp...)
	}
	var s string
	switch v.Kind() {
	case slog.KindString:
		s = v.String()
	case slog.KindAny:
		switch x := v.Any().(type) {
		case error:
			s = x.Error()
		case fmt.Stringer:
			s = x.String()
		default:
			s = fmt.Sprint(x)
		}
	default:
		if !BodyKeys[a.Key] && !PhoneKeys[a.Key] {
			return slog.Attr{Key: a.Key, Value: v} // numbers, times, durations, bools
		}
		s = v.String()
	}
	switch {
	case BodyKeys[a.Key]:
		return slog.String(a.Key, fmt.Sprintf("[%d bytes redacted]", len(s)))
	case PhoneKeys[a.Key]:
		return slog.String(a.Key, MaskAddress(s))
	case v.Kind() == slog.KindString && s == MaskString(s):
		return slog.Attr{Key: a.Key, Value: v}
	}
	return slog.String(a.Key, MaskString(s))
}
