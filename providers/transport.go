package providers

import (
	"context"
	"errors"
	"fmt"
	"net/http"
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

// DoSend makes one attempt at a send request (req bound to ctx) and classifies a
// failure to get an answer: the request reached provider and ctx ran out before an
// answer means the vendor may have the message (MaybeDelivered); a connection the
// vendor closed without answering is taken as a refusal, the usual face of an
// outage, so that failover goes on. An answer, whatever its status, is the caller's
// to read.
func DoSend(ctx context.Context, client *http.Client, req *http.Request, provider string) (*http.Response, error) {
	var wire WireTrace
	resp, err := client.Do(req.WithContext(wire.Context(ctx)))
	if err == nil {
		return resp, nil
	}
	err = TransportFailure(ctx, provider, "send", 0, err)
	if wire.Wrote() && ctx.Err() != nil {
		err = MaybeDelivered(provider, err)
	}
	return nil, err
}
