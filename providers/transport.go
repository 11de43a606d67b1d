package providers

import (
	"context"
	"errors"
	"fmt"
)

// TransportFailure classifies an HTTP call of provider (op names it: "send",
// "probe") that got no answer, or no complete one: status is the answer's status,
// 0 if none arrived. The caller's deadline is a timeout; the caller giving up
// (ctx cancelled) says nothing about the vendor and is left unclassified, so that
// no breaker counts it; anything else (connection refused or reset, EOF before an
// answer) is the vendor failing to serve the call.
func TransportFailure(ctx context.Context, provider, op string, status int, err error) error {
	switch ctx.Err() {
	case context.DeadlineExceeded:
		return Classify(provider, ErrTimeout, status, err)
	case context.Canceled:
		return fmt.Errorf("%s: %s abandoned: %w", provider, op, context.Canceled)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return Classify(provider, ErrTimeout, status, err)
	}
	return Classify(provider, ErrUnavailable, status, err)
}
