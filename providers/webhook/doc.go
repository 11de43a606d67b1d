// Package webhook delivers replies to a business's own backend, such as the web-chat
// server whose customers write in through the JSON API, by posting each reply as a
// signed JSON document to a URL the routing policy names (provider kind webhook).
//
// It exists so that a chat reply goes back to the chat client, not out as an SMS to
// whatever the customer's address looks like, through the same machinery as every
// CPaaS vendor: it is a messaging.Sender whose failures are classified with the
// providers package, so the breaker, the probes, failover, the send ledger and the
// redrive treat it as they treat Twilio and Vonage.
//
// # The request
//
// One POST per attempt, with the reply (Reply) as its JSON body, and these headers:
//
//	Content-Type: application/json
//	Idempotency-Key: <the reply's idempotency key>
//	X-Switchboard-Timestamp: <Unix time of the attempt, in seconds>
//	X-Switchboard-Signature: v1=<hex HMAC-SHA256 of timestamp "." body>
//
// The key of the HMAC is the provider's signing secret, which the policy names by
// an environment variable (secret_env) or a file (secret_file), never by value.
// Every attempt (a retry, a failover back, a redrive, a replay) carries the same
// Idempotency-Key and a fresh timestamp and signature.
//
// # What a receiver does
//
//  1. Read the raw body before parsing it, and the two X-Switchboard headers.
//  2. Compute HMAC-SHA256 with the secret over the timestamp header's text, a
//     full stop, and the raw body; hex-encode it and compare it, in constant
//     time, with the signature after "v1=" (Verify does steps 2 and 3). A
//     mismatch is answered 401: nobody else may speak for the business. To
//     rotate the secret, have the receiver accept the old and the new one, give
//     the workers the new one (they read it at start), then drop the old one.
//  3. Refuse a timestamp more than the replay window (DefaultWindow, 5 minutes)
//     away from its own clock, with 401, so that a captured request cannot be
//     replayed later.
//  4. Deduplicate on Idempotency-Key: a key seen before is answered 2xx again and
//     not shown to the customer twice. Keep keys as long as a reply may still be
//     re-sent: a reply held through an outage is redriven hours later.
//  5. Answer 2xx once the reply is stored (a JSON body {"id": "..."} names the
//     receiver's id for it, which transcripts show; without one the idempotency
//     key stands in).
//
// # How answers are taken
//
//   - 2xx: delivered.
//   - 4xx other than 408 and 429: rejected. No retry and no failover: another
//     attempt would be refused alike. A wrong signature (401) is one of these.
//   - 408, 429 and 5xx, a refused or dropped connection: unavailable (or rate
//     limited, or timed out); the attempt is retried and fails over, and it counts
//     against the provider's breaker. The policy's classify section may override
//     the mapping of statuses, as for any HTTP vendor.
//   - No answer before the attempt's deadline once the request was written: the
//     receiver may have stored the reply (providers.MaybeDelivered). The send
//     ledger then keeps the key as delivery unknown.
//
// A receiver cannot be asked which replies it holds: the protocol asks of a
// backend only that it take a POST and deduplicate it, and a lookup API is more
// than most chat backends have. So the Sender is no messaging.Finder, and a reply
// of unknown delivery waits for an operator's replay, as one sent through Vonage
// does. Because receivers deduplicate on Idempotency-Key, `switchboard replay
// --send-unknown` is safe for a webhook provider.
//
// # Health
//
// Probe asks the receiver whether it is up: a signed GET of the policy's probe_url
// (a 2xx is healthy), or, without one, an OPTIONS request to the reply URL, which
// any answer but 408, 429 or a 5xx counts as up (a server that answers at all
// serves HTTP; most answer OPTIONS with 204 or 405). Neither sends a reply.
package webhook
