// Package app is the composition root, and only that: it turns a Config into the
// running roles of one process. A process runs the API role, the worker role or both
// (Config.Roles): `switchboard api` and `switchboard worker` run one each against
// external clusters, `switchboard serve` runs both, and `switchboard dev`
// (internal/devstack) runs both on an embedded stack. Run builds the process step by
// step (app.go): the routing policy, NATS and its streams, the Temporal client, the
// bridge, the conversation store and the stuck finder, the provider clients and
// their health, the worker, the HTTP listener; it takes them down in reverse.
//
// What it builds lives elsewhere: the HTTP API in api, bearer tokens in
// internal/auth, the store in internal/conversations, the bridge, activities and the
// guarded provider call in workers, the vendor clients in providers. It holds only
// the settings (config.go), the provider clients built from them (providers.go), the
// worker role's probe listener (probes.go), policy reloads (policy.go) and how to
// dial Temporal (temporal.go).
//
// It must not import internal/devstack (the embedded stack imports app, not the
// other way round) nor the Temporal server; nothing but cmd/switchboard, devstack,
// internal/bench and the end-to-end tests imports app.
package app
