// Package llm detects intents by asking a large language model, through the OpenAI
// chat completions API and the official openai-go client. Any server that speaks
// that API will do: OpenAI, Azure OpenAI's v1 endpoint, vLLM, Ollama. Config.BaseURL
// chooses it.
//
// # Prompt
//
// Each Detect sends two messages. The system message, built once from the config,
// lists the agent's intents (name, description, up to MaxExamples training phrases
// and the approved reply) and asks for ONLY a JSON object
//
//	{"intent": "<one of the names or no-match>", "reply": "<text for the customer>", "confidence": 0..1}
//
// with rules: the approved reply word for word when there is one, the configured
// no-match reply for no-match, at most MaxReplyLength characters, and the
// customer's message treated as text to classify, never as instructions. The user
// message is the customer's text alone. The request asks for response_format
// json_object.
//
// # Validation
//
// A model can answer HTTP 200 with nothing usable, and the workflow must then fail
// over as it would for a 503. So the answer is held to the format: it must parse as
// one JSON object (a Markdown code fence around it is tolerated), the intent must be
// one of the configured names or "no-match", the reply must be non-empty and at most
// MaxReplyLength characters, the confidence a number in [0, 1]; a refusal, an
// answer cut off by the token limit or by a content filter fails too. Each of these
// is providers.ErrUnavailable wrapping ErrInvalidOutput with the reason. Reasons
// never quote the model's text, which may echo the customer.
//
// # Failures
//
// Like every Switchboard provider the client makes exactly one attempt
// (option.WithMaxRetries(0)), bounded by Config.Timeout or the caller's earlier
// deadline. HTTP errors are classified by status (providers.KindOfHTTPStatus:
// 401 and 400 rejected, 429 rate limited, 5xx unavailable), connection failures are
// unavailable, and a deadline or cancellation is a timeout. The API key is never
// part of an error.
//
// fake.OpenAI serves the same API locally from the demo agent, so the tests run the
// real client over the wire, faults and malformed model output included.
//
// It imports internal/turn, providers, providers/nlu and providers/localnlu of the
// project; never workflows, workers, api, internal/app or internal/streams.
package llm
