// Package dialogflowcx detects intents with Google Dialogflow CX, Switchboard's
// primary NLU vendor, through the official Go client.
//
// It exists to put Dialogflow behind Switchboard's failover rules rather than the
// client's own: the client's default retries of UNAVAILABLE, which would hold a
// customer's turn for minutes while the vendor is down, are switched off, each call
// is one attempt bounded by a deadline, and every failure is classified once with
// the providers package so the conversation workflow can decide at once whether to
// retry, fail over to another NLU, or give up.
//
// Pointing Config.Endpoint at fake.Dialogflow (with Insecure) runs the same client
// code against a local server, without Google credentials.
//
// It imports internal/turn, providers and providers/nlu of the project; never
// workflows, workers, api, internal/app or internal/streams.
package dialogflowcx
