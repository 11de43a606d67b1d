// Package twilio delivers replies through Twilio's Programmable Messaging API and reads
// the webhooks Twilio posts when a customer writes in.
//
// It exists so that the rest of Switchboard sees Twilio only as a messaging.Sender
// whose failures are already classified (providers.ErrUnavailable, ErrRateLimited,
// ErrTimeout, ErrRejected): the failover policy decides on kinds, never on Twilio's
// error codes or strings.
//
// It uses the official twilio-go client (rest/api/v2010 only, not the root package
// that pulls in every Twilio product) and adapts two things that client lacks:
//
//   - Per-call context. twilio-go builds every request on context.Background. Each
//     Send gives the client a one-call transport that re-attaches the caller's
//     context, bounded by Config.Timeout, so the deadline is min(ctx, Timeout) and
//     nothing outlives the call.
//   - Per-call headers. Each Send wraps the client in a BaseClient that adds the
//     message's idempotency key as the I-Twilio-Idempotency-Token header, so retries
//     of one reply can be traced and reconciled on the vendor side.
//
// Setting Config.BaseURL points the client at another host (the fake in
// providers/fake in tests and `switchboard dev`): the same code talks to both.
//
// It imports internal/turn, providers and providers/messaging of the project; never
// workflows, workers, api, internal/app or internal/streams.
package twilio
