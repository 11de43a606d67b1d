// Package streamstest starts an embedded NATS server with Switchboard's streams and
// buckets for tests. It is for tests only; no production code imports it.
package streamstest

import (
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/switchboard-cc/switchboard/internal/devstack/devnats"
	"github.com/switchboard-cc/switchboard/internal/streams"
)

// Start runs an embedded NATS server on a random port until the test ends, and
// creates the streams and buckets with cfg, in memory. It returns the server's URL.
func Start(t testing.TB, cfg streams.Config) string {
	t.Helper()
	ns, err := devnats.Start(devnats.Config{Port: devnats.RandomPort})
	if err != nil {
		t.Fatalf("embedded NATS: %v", err)
	}
	t.Cleanup(ns.Stop)
	_, js := Connect(t, ns.ClientURL())
	cfg.MemoryStorage = true
	if err := streams.Ensure(t.Context(), js, cfg); err != nil {
		t.Fatalf("streams: %v", err)
	}
	return ns.ClientURL()
}

// Connect opens a connection of its own to url, as a separate process would,
// closed when the test ends.
func Connect(t testing.TB, url string) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatalf("connect to NATS: %v", err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatalf("JetStream: %v", err)
	}
	return nc, js
}
