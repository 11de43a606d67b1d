// Package providers holds what every vendor integration shares: the classification of
// provider failures. Errors are classified once, at the provider boundary, so that the
// workflow's failover decisions never depend on parsing error strings.
//
// Vendor packages live below this one: nlu and messaging define the contracts,
// dialogflowcx, twilio and vonage implement them, and fake holds local servers that
// speak each vendor's wire protocol.
//
// It imports nothing of the project: every provider package may import it.
package providers

import (
	"errors"
	"fmt"
)

// Sentinel kinds of provider failure. Test with errors.Is.
var (
	// ErrUnavailable: the provider could not serve the call (5xx, connection refused,
	// gRPC UNAVAILABLE). Another provider may succeed.
	ErrUnavailable = errors.New("provider unavailable")
	// ErrRateLimited: the provider refused for load (HTTP 429, RESOURCE_EXHAUSTED).
	ErrRateLimited = errors.New("provider rate limited")
	// ErrTimeout: the attempt ran out of time. For sends the outcome is unknown: the
	// vendor may have accepted the message.
	ErrTimeout = errors.New("provider timed out")
	// ErrRejected: the provider refused this request for a reason that another
	// attempt will not fix (invalid number, bad credentials, malformed request).
	ErrRejected = errors.New("provider rejected the request")
)

// Error is a classified provider failure.
type Error struct {
	Provider string
	Kind     error // one of the sentinels above
	Status   int   // the vendor's HTTP or gRPC status code, when there was one
	Err      error // the underlying error
	// MaybeSent is set on a send failure after which the vendor may have accepted
	// the message (see MaybeDelivered).
	MaybeSent bool
}

func (e *Error) Error() string {
	var s string
	if e.Status != 0 {
		s = fmt.Sprintf("%s: %v (status %d): %v", e.Provider, e.Kind, e.Status, e.Err)
	} else {
		s = fmt.Sprintf("%s: %v: %v", e.Provider, e.Kind, e.Err)
	}
	if e.MaybeSent {
		s += " (delivery unknown: the vendor may have accepted the message)"
	}
	return s
}

// Is reports whether target is this error's kind.
func (e *Error) Is(target error) bool { return target == e.Kind }

func (e *Error) Unwrap() error { return e.Err }

// Classify wraps err as a provider failure of the given kind.
func Classify(provider string, kind error, status int, err error) error {
	return &Error{Provider: provider, Kind: kind, Status: status, Err: err}
}

// KindOfHTTPStatus maps an HTTP status of a failed vendor call to its kind.
func KindOfHTTPStatus(status int) error {
	switch {
	case status == 429:
		return ErrRateLimited
	case status == 408:
		return ErrTimeout
	case status >= 500:
		return ErrUnavailable
	default:
		return ErrRejected
	}
}

// Permanent reports whether err is a failure that no retry or other provider of the
// same request will fix.
func Permanent(err error) bool { return errors.Is(err, ErrRejected) }
