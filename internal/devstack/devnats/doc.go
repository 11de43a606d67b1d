// Package devnats runs an embedded NATS server with JetStream inside the calling
// process. `switchboard dev` uses it so that a developer needs no NATS installation,
// and unit and end-to-end tests of other packages use it to get a real JetStream
// (streams, acks, dedupe windows, redelivery) on a random port in milliseconds.
//
// It is deliberately light: it imports nats-server only, never Temporal nor anything
// of the project, so the tests of any package may use it without pulling in the
// Temporal server build; no production code may.
//
// JetStream stores its data in files under Config.StoreDir, so streams and their
// messages survive a restart on the same directory; an empty StoreDir gives a
// temporary directory that Stop removes. Start checks that the client port is free and
// fails with "port 4222 is in use: ..." rather than letting the server fail later.
package devnats
