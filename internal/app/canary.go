package app

import (
	"context"
	"log/slog"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/switchboard-cc/switchboard/internal/canary"
	"github.com/switchboard-cc/switchboard/internal/conversations"
	"github.com/switchboard-cc/switchboard/internal/metrics"
	"github.com/switchboard-cc/switchboard/internal/turn"
	"github.com/switchboard-cc/switchboard/providers/routing"
	"github.com/switchboard-cc/switchboard/workers"
)

// canaryParts builds the process's stack canary: the scheduled activity (for
// workers.Activities.Canary) and the on-demand run (for api.Config.Canary). The
// canary's turns go through the same guarded provider clients as customer turns.
func canaryParts(policy func() *routing.Policy, nc *nats.Conn, js jetstream.JetStream, store conversations.Store, m *metrics.Metrics, log *slog.Logger) (*workers.CanaryActivity, func(context.Context) (turn.CanaryReport, error)) {
	r := canary.New(canary.Config{
		Policy: policy, NC: nc, JS: js,
		Transcript: store.Transcript,
	})
	return &workers.CanaryActivity{Run: r.Run, Metrics: m, Logger: log.With("component", "canary")}, r.Run
}
