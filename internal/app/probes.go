package app

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/nats-io/nats.go"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"

	"github.com/switchboard-cc/switchboard/internal/auth"
	"github.com/switchboard-cc/switchboard/internal/metrics"
)

// probeHandler is the HTTP listener of a process without the API role: liveness,
// readiness (the same check as the API's /readyz) and metrics, which need an ops
// token as on the API.
func probeHandler(ready func(context.Context) error, tokens auth.Tokens, m *metrics.Metrics) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		probeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
		defer cancel()
		if err := ready(ctx); err != nil {
			probeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "not ready", "error": err.Error()})
			return
		}
		probeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
	})
	mux.Handle("GET /metrics", auth.Require(tokens, m.Handler(), auth.RoleOps))
	return mux
}

func probeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// readiness checks what a turn needs from this process: NATS connected, Temporal
// answering, and, when the process runs a worker (identity is set), that worker
// among the task queue's pollers and its bridge without a configuration fault
// (bridgeFault, when set).
func readiness(nc *nats.Conn, tc client.Client, taskQueue, identity string, bridgeFault func() error) func(context.Context) error {
	return func(ctx context.Context) error {
		if !nc.IsConnected() {
			return fmt.Errorf("NATS: %s", nc.Status())
		}
		if bridgeFault != nil {
			if err := bridgeFault(); err != nil {
				return fmt.Errorf("bridge: %w", err)
			}
		}
		if _, err := tc.CheckHealth(ctx, &client.CheckHealthRequest{}); err != nil {
			return fmt.Errorf("Temporal: %w", err)
		}
		if identity == "" {
			return nil // the API role: turns go to JetStream, any worker takes them
		}
		resp, err := tc.DescribeTaskQueue(ctx, taskQueue, enumspb.TASK_QUEUE_TYPE_WORKFLOW)
		if err != nil {
			return fmt.Errorf("Temporal task queue %s: %w", taskQueue, err)
		}
		for _, p := range resp.GetPollers() {
			if p.GetIdentity() == identity {
				return nil
			}
		}
		return fmt.Errorf("the worker is not polling task queue %s yet", taskQueue)
	}
}
