// Package nlu is the interface of the natural-language understanding providers
// (Dialogflow CX and its fallbacks): Detector, its Query and Result.
//
// It imports nothing of the project; an intent that matched nothing is the
// contract's turn.NoMatch.
package nlu

import "context"

// Query is one customer utterance within a session. SessionID is the conversation id:
// a provider that keeps dialogue state keys it by session.
type Query struct {
	SessionID    string
	Text         string
	LanguageCode string
}

// Result is the provider's understanding of a query and the reply it proposes.
type Result struct {
	Intent     string  // display name of the matched intent; turn.NoMatch when none matched
	Reply      string  // the agent's reply text, possibly empty
	Confidence float32 // 0..1
}

// Detector detects the intent of a query.
//
// Implementations are safe for concurrent use. Detect honours ctx's deadline and
// makes exactly one attempt: retries and failover are the caller's decision. Errors
// are classified with the providers package (unavailable, rate limited, rejected,
// timed out) so callers never parse error strings.
type Detector interface {
	Detect(ctx context.Context, q Query) (Result, error)
}
