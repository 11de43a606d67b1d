package app

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"os"

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

// temporalConnection applies the TLS, API-key and compression settings to the
// Temporal client.
func temporalConnection(o *client.Options, cfg Config) error {
	if cfg.TemporalTLS || cfg.TemporalCAFile != "" || cfg.TemporalAPIKey != "" {
		tlsCfg := &tls.Config{MinVersion: tls.VersionTLS12}
		if cfg.TemporalCAFile != "" {
			pem, err := os.ReadFile(cfg.TemporalCAFile)
			if err != nil {
				return fmt.Errorf("Temporal CA file: %w", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return fmt.Errorf("Temporal CA file %s holds no PEM certificate", cfg.TemporalCAFile)
			}
			tlsCfg.RootCAs = pool
		}
		o.ConnectionOptions.TLS = tlsCfg
	}
	if cfg.TemporalAPIKey != "" {
		o.Credentials = client.NewAPIKeyStaticCredentials(cfg.TemporalAPIKey)
	}
	if cfg.TemporalCompression == "none" {
		o.ConnectionOptions.GrpcCompression = &client.GrpcCompressionNone{}
	}
	return nil
}
