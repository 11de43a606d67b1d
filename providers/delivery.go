package providers

import (
	"context"
	"errors"
	"net/http/httptrace"
	"sync/atomic"
)

// A send can fail in two ways that must never be confused. Either the vendor
// definitely did not take the message (the connection was refused or closed without
// an answer, the vendor answered with an error), and another attempt may send it; or
// the request reached the vendor and no definite answer came back (the attempt ran
// out after the request was written, a 2xx whose body was cut off or carried no
// message id). Then the vendor may have accepted the message, and sending it again
// could reach the customer twice. Such a failure is marked with MaybeDelivered;
// DeliveryUnknown reports it.
//
// A connection closed after the request and before any answer is taken as a
// refusal: it is how most outages look, and taking it as unknown would stop every
// failover during them. A vendor that accepted a message and then crashed before
// answering can so cause one duplicate.

// MaybeDelivered marks err, a send failure, as one after which the vendor may have
// accepted the message. An err that is not a *Error (the caller gave up: a
// cancellation says nothing of the vendor's health) keeps counting for no kind.
func MaybeDelivered(provider string, err error) error {
	var pe *Error
	if !errors.As(err, &pe) {
		return &Error{Provider: provider, Kind: errAbandoned, Err: err, MaybeSent: true}
	}
	c := *pe
	c.MaybeSent = true
	return &c
}

// errAbandoned is the kind of a send whose caller gave up after writing it: none
// of the sentinels, so breakers do not count it.
var errAbandoned = errors.New("send abandoned")

// DeliveryUnknown reports whether err is a send failure after which the vendor may
// have accepted the message (see MaybeDelivered).
func DeliveryUnknown(err error) bool {
	var pe *Error
	return errors.As(err, &pe) && pe.MaybeSent
}

// WireTrace notes whether an HTTP request was written to the vendor in full: a
// failure before that is a definite non-delivery, one after it is not. The zero
// value is ready; Context attaches it to a request's context.
type WireTrace struct {
	wrote atomic.Bool
}

// Context returns ctx with the trace attached (net/http/httptrace).
func (w *WireTrace) Context(ctx context.Context) context.Context {
	return httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
		WroteRequest: func(i httptrace.WroteRequestInfo) {
			if i.Err == nil {
				w.wrote.Store(true)
			}
		},
	})
}

// Wrote reports whether a request was written in full.
func (w *WireTrace) Wrote() bool { return w.wrote.Load() }
