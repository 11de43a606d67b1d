// Package fake holds local servers that speak each vendor's real wire protocol:
// Dialogflow CX over gRPC (Dialogflow), Twilio's and Vonage's REST APIs (NewTwilio,
// NewVonage), OpenAI's chat completions API (OpenAI), which OpenAI, Azure
// OpenAI's v1 endpoint, vLLM and Ollama all serve, and a web-chat backend that
// takes Switchboard's signed webhook replies (NewChatReceiver). The real vendor
// clients are pointed at them on 127.0.0.1, so tests and `switchboard dev` exercise
// the same code that talks to the vendors' clouds.
//
// Every fake obeys a shared set of fault switches (Faults) and the CPaaS fakes record
// what they were asked to send in an Outbox, duplicates included.
//
// # Probe endpoints
//
// The health registry (providers/health) probes a tripped provider with a cheap,
// real call, and each fake serves the one its client makes, under the same fault
// switches as the provider's other calls and without recording anything in the
// Outbox:
//
//   - Twilio: GET /2010-04-01/Accounts/{AccountSid}.json, the account resource
//     (basic auth; an active "Full" account in Twilio's JSON shape).
//   - Vonage: GET /account/get-balance, the Account API's balance, which Vonage
//     serves on rest.nexmo.com and the fake on the same host as /v1/messages
//     (basic auth or api_key/api_secret; {"value": 10.5, "autoReload": false}).
//   - Dialogflow CX: DetectIntent itself, on the session "switchboard-probe".
//   - OpenAI: POST /v1/chat/completions itself: a probe is one classification,
//     held to the same format as any other.
//   - Chat receiver: GET /healthz (a webhook provider's probe_url) and OPTIONS on
//     any path (its probe without one).
package fake
