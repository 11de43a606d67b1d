// Package deploy ships the files `switchboard dev` needs inside the binary, so it runs
// from any directory: the dev routing policy. The rest of this folder (the policy
// example, the demo agent in agent/) is documentation and configuration for people.
package deploy

import _ "embed"

// DevPolicy is policy.dev.yaml: the routing policy of the dev stack's fake vendors.
//
//go:embed policy.dev.yaml
var DevPolicy []byte
