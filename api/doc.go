// Package api is Switchboard's HTTP surface: the vendor webhooks (Twilio, Vonage),
// the JSON turn API, the conversation API and the health endpoint.
//
// Ingress does as little as it safely can: verify the vendor's signature, bound and
// validate the body, normalise it to a turn, and publish it to JetStream with the
// turn id as Nats-Msg-Id. A webhook is answered 2xx only after JetStream acknowledged
// the publish; if NATS cannot take it, the vendor gets a 503 and retries, and the
// retry is deduplicated by the same message id.
//
// Nobody outside speaks for a customer: webhooks are authenticated by their vendor's
// signature (a Vonage JWT also by its age and its never-seen jti, see auth.SeenTokens),
// and POST /v1/turns by an ingress or ops bearer token, unless it is explicitly
// opened (Config.AnonymousTurns). A JSON-API turn belongs to the API's own
// conversations only (ids "api-..."), never to a Twilio or Vonage one.
//
// Bearer tokens and their roles are internal/auth's; conversations are read and
// acted on through the Conversations and Desk interfaces (internal/conversations in
// production). It must not import app, workers, internal/devstack or the Temporal
// server.
package api
