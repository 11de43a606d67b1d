// Package agent ships the demo Dialogflow CX agent that `switchboard dev` serves from
// its fake Dialogflow CX server. The JSON file beside this one is the source; it is
// embedded so the binary runs from any directory.
package agent

import _ "embed"

// Demo is the demo agent (demo-agent.json).
//
//go:embed demo-agent.json
var Demo []byte
