// Package localnlu is Switchboard's last-resort NLU: it understands customers in
// process, from cached flows, when every NLU vendor is down.
//
// The cached flows are a local JSON file (an Agent): the agent's intents, their
// training phrases and their replies. Detector matches a message against the
// training phrases by their meaningful words (Agent.Match). It never calls out, so
// it fails only when the caller's context is done. A message it cannot place is
// turn.NoMatch with an empty reply: the workflow then sends its canned reply and
// escalates rather than let a word-overlap matcher improvise.
//
// # Refreshing the cached flows
//
// Export and Refresh rebuild the file from the real Dialogflow CX agent through its
// Intents API (ListIntents), so the local NLU knows the same intents and training
// phrases as the vendor it stands in for. Dialogflow CX keeps replies in pages and
// route fulfillments rather than in intents, so a refresh keeps each intent's reply
// (and the no-match reply) from the existing local file, matched by intent display
// name. A new CX intent is therefore left out, and reported in ExportResult.Omitted,
// until its reply is added to the file: the local NLU answers it as no match (canned
// reply, escalation) instead of with a reply nobody wrote. Descriptions come from CX,
// and an intent labelled switchboard-handoff=true in CX is marked Handoff.
//
// The fake Dialogflow CX server (providers/fake) serves ListIntents from the same
// Agent type, so a refresh is tested over the wire with the official client.
//
// It imports internal/turn, providers and providers/nlu of the project; never
// workflows, workers, api, internal/app or internal/streams.
package localnlu
