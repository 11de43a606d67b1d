// Package devtemporal runs a complete Temporal development server inside the calling
// process: frontend, history, matching and worker services backed by SQLite, plus the
// Temporal Web UI. `switchboard dev` uses it so a developer needs nothing installed
// but the switchboard binary, and end-to-end tests use it because the SDK's
// testsuite.StartDevServer downloads a CLI binary, which does not work offline.
//
// It is the only package in the module that imports go.temporal.io/server and
// github.com/temporalio/ui-server. That dependency is very large (a cold build takes
// minutes, and it is most of the binary), so only the dev stack (package devstack),
// cmd/switchboard's setup test and the end-to-end tests may import this package;
// unit tests use the SDK's test environment instead. It must not import anything of
// the project.
//
// What Start sets up, and why:
//
//   - SQLite in a file (Config.DBFile) in WAL mode, so conversations survive a restart;
//     the schema is created on first use and an existing file is reused as is. An empty
//     DBFile gives a private in-memory database, for tests.
//   - One namespace (Config.Namespace) with Config.Retention, created directly in the
//     database before the server starts so it is usable the moment Start returns.
//   - The custom search attributes in Config.SearchAttributes, registered idempotently:
//     on a new namespace at creation, on an existing one through the operator API for
//     the ones it lacks. An attribute that exists with another type is an error.
//   - Dynamic config tuned for a single-host, single-shard server (see
//     DefaultDynamicConfig): the history queue readers' poll rate limits otherwise add
//     a ~50 ms step to every workflow task.
//   - The Web UI (github.com/temporalio/ui-server) pointed at the frontend.
//
// Temporal's and the UI's own startup code terminate the process when a port cannot be
// bound, so Start first checks that the frontend and UI ports are free and returns a
// clear error ("frontend port 7233 is in use: ...") when one is not. Start returns only
// once the frontend answers calls and the namespace and search attributes are in place.
package devtemporal
