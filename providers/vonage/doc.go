// Package vonage delivers replies through the Vonage Messages API and reads the signed
// webhooks Vonage posts when a customer writes in.
//
// It exists so that Vonage can stand in for Twilio (or the reverse) when one of them
// fails: the rest of Switchboard sees only a messaging.Sender whose failures are
// already classified with the providers package, never Vonage's problem documents.
//
// The official Vonage Go SDK has no Messages API, so this package speaks it directly:
// one JSON POST to /v1/messages with basic auth, bounded by the caller's context and
// Config.Timeout. The reply's idempotency key travels as client_ref, which Vonage
// echoes in every status webhook, so retries can be reconciled.
//
// Vonage numbers are E.164 without the plus; Switchboard's are with it. Send removes
// the plus and ParseInbound restores it, so addresses stay provider-neutral.
//
// It imports internal/turn, providers and providers/messaging of the project; never
// workflows, workers, api, internal/app or internal/streams.
package vonage
