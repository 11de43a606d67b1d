// Package devstack is the embedded dev stack: `switchboard dev` (Run), with NATS and
// JetStream (devnats), the Temporal server and its web UI (devtemporal) and the fake
// vendors (Fakes) in one process, and the service of package app on top of them. The
// benchmark (internal/bench) and the end-to-end tests run on it too.
//
// It is the only place that imports the Temporal server and UI modules
// (go.temporal.io/server, github.com/temporalio/ui-server), under devtemporal. So
// nothing of the production roles may import it: only cmd/switchboard's dev and bench
// commands (left out of the slim build, `-tags slim`), internal/bench and the
// end-to-end tests do, and the unit tests of other packages use devnats alone for a
// real JetStream. It must not be imported by app, api, workers, workflows or
// providers.
package devstack
