// Package app wires Switchboard's pieces into a running service: the HTTP API, the
// JetStream bridge and the Temporal worker, against a NATS server and a Temporal
// frontend given by address. A process runs the API role, the worker role or both
// (Config.Roles): `switchboard api` and `switchboard worker` run one each against
// external clusters, `switchboard serve` runs both, and `switchboard dev` runs both on
// an embedded stack (see dev.go).
package app
