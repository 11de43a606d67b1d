package app

import (
	"log/slog"

	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
)

// TemporalClientOptions are the SDK client options `serve` dials Temporal with:
// cfg's address and namespace, and its TLS and API-key settings. Other commands that
// talk to the same Temporal (`switchboard setup`) use them so that they connect
// exactly as the service does.
func TemporalClientOptions(cfg Config, log *slog.Logger) (client.Options, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	o := client.Options{
		HostPort:  cfg.TemporalAddr,
		Namespace: cfg.Namespace,
		Logger:    sdklog.NewStructuredLogger(log.With("component", "temporal-sdk")),
	}
	if err := temporalConnection(&o, cfg); err != nil {
		return client.Options{}, err
	}
	return o, nil
}
