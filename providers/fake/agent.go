package fake

import "github.com/switchboard-cc/switchboard/providers/localnlu"

// The agent model lives in providers/localnlu, where the local fallback NLU serves
// it. These aliases keep the fakes' long-standing names working: a fake.Agent is a
// *localnlu.Agent, so the fakes and the local NLU answer from the very same value.

// Agent is localnlu.Agent: intents with training phrases and replies.
type Agent = localnlu.Agent

// Intent is localnlu.Intent: one thing a customer may want.
type Intent = localnlu.Intent

// MatchThreshold is localnlu.MatchThreshold, the lowest score Agent.Match accepts.
const MatchThreshold = localnlu.MatchThreshold

// LoadAgent reads and parses an agent file; see localnlu.LoadAgent.
func LoadAgent(path string) (*Agent, error) { return localnlu.LoadAgent(path) }

// ParseAgent parses and validates an agent in its JSON form; see localnlu.ParseAgent.
func ParseAgent(b []byte) (*Agent, error) { return localnlu.ParseAgent(b) }
