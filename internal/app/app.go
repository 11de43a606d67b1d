// Package app wires Switchboard's pieces into a running service: the HTTP API, the
// JetStream bridge and the Temporal worker, against a NATS server and a Temporal
// frontend given by address. `switchboard dev` runs it on an embedded stack (see
// dev.go); `switchboard serve` runs it against external clusters.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"

	"github.com/switchboard-cc/switchboard/api"
	"github.com/switchboard-cc/switchboard/internal/streams"
	"github.com/switchboard-cc/switchboard/providers/dialogflowcx"
	"github.com/switchboard-cc/switchboard/providers/messaging"
	"github.com/switchboard-cc/switchboard/providers/nlu"
	"github.com/switchboard-cc/switchboard/providers/routing"
	"github.com/switchboard-cc/switchboard/providers/twilio"
	"github.com/switchboard-cc/switchboard/providers/vonage"
	"github.com/switchboard-cc/switchboard/workers"
	"github.com/switchboard-cc/switchboard/workflows"
)

// Config is everything the service needs.
type Config struct {
	HTTPAddr  string // where the API listens
	PublicURL string // the base URL vendors call; webhook signatures are computed over it

	NATSURL      string
	TemporalAddr string
	Namespace    string
	TaskQueue    string

	Dialogflow dialogflowcx.Config
	Twilio     twilio.Config
	Vonage     vonage.Config
	// VonageSignatureSecret verifies Vonage inbound webhooks.
	VonageSignatureSecret string
	// APIVendor replies to JSON-API turns: twilio or vonage.
	APIVendor string

	Streams  streams.Config
	Bridge   workers.BridgeConfig
	Worker   workers.WorkerConfig
	Workflow workflows.Options
	API      api.Config

	// Dev is mounted under /dev/ when set.
	Dev http.Handler
}

// Validate fills defaults and reports the first bad field.
func (c *Config) Validate() error {
	if c.Namespace == "" {
		c.Namespace = "default"
	}
	if c.TaskQueue == "" {
		c.TaskQueue = "switchboard-conversations"
	}
	if c.APIVendor == "" {
		c.APIVendor = "twilio"
	}
	switch {
	case c.HTTPAddr == "":
		return errors.New("HTTPAddr (--http-addr) is required")
	case c.NATSURL == "":
		return errors.New("NATSURL (--nats-url) is required")
	case c.TemporalAddr == "":
		return errors.New("TemporalAddr (--temporal-address) is required")
	}
	if c.PublicURL == "" {
		// Run replaces the placeholder with the bound address once it listens.
		c.PublicURL = "http://" + c.HTTPAddr
	}
	c.Bridge.TaskQueue, c.Worker.TaskQueue = c.TaskQueue, c.TaskQueue
	c.Bridge.Workflow = c.Workflow
	c.API.PublicURL = c.PublicURL
	c.API.TwilioAuthToken = c.Twilio.AuthToken
	c.API.VonageSignatureSecret = c.VonageSignatureSecret
	c.API.Dev = c.Dev
	for _, v := range []interface{ Validate() error }{&c.Dialogflow, &c.Twilio, &c.Vonage, &c.Streams, &c.Bridge, &c.Worker, &c.API} {
		if err := v.Validate(); err != nil {
			return err
		}
	}
	return nil
}

// Ready describes a started service.
type Ready struct {
	HTTPAddr  string // the API's bound address
	PublicURL string // the base URL webhook signatures are computed over
}

// Run runs the service until ctx is cancelled, then shuts it down: the API stops
// taking turns first, the bridge finishes the turns in hand, the worker drains.
// onReady is called once turns are accepted.
func Run(ctx context.Context, cfg Config, log *slog.Logger, onReady func(Ready)) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	nc, err := nats.Connect(cfg.NATSURL, nats.Name("switchboard"), nats.MaxReconnects(-1), nats.ReconnectWait(time.Second))
	if err != nil {
		return fmt.Errorf("connect to NATS at %s: %w", cfg.NATSURL, err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	if err := streams.Ensure(ctx, js, cfg.Streams); err != nil {
		return fmt.Errorf("set up JetStream: %w", err)
	}
	ledgerKV, err := js.KeyValue(ctx, streams.SendsBucket)
	if err != nil {
		return err
	}

	tc, err := client.DialContext(ctx, client.Options{
		HostPort:  cfg.TemporalAddr,
		Namespace: cfg.Namespace,
		Logger:    sdklog.NewStructuredLogger(log.With("component", "temporal-sdk")),
	})
	if err != nil {
		return fmt.Errorf("connect to Temporal at %s: %w", cfg.TemporalAddr, err)
	}
	defer tc.Close()

	acts, closeProviders, err := buildActivities(ctx, cfg, js, ledgerKV, log)
	if err != nil {
		return err
	}
	defer closeProviders()

	w, err := workers.NewWorker(tc, cfg.Worker, acts)
	if err != nil {
		return err
	}
	if err := w.Start(); err != nil {
		return fmt.Errorf("start Temporal worker: %w", err)
	}
	defer w.Stop()

	bridge, err := workers.NewBridge(js, tc, cfg.Bridge, log.With("component", "bridge"))
	if err != nil {
		return err
	}
	bctx, stopBridge := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := bridge.Run(bctx); err != nil {
			log.Error("bridge stopped", "error", err)
		}
	}()
	defer func() { stopBridge(); wg.Wait() }()

	publicURLDefaulted := cfg.PublicURL == "http://"+cfg.HTTPAddr
	lis, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.HTTPAddr, err)
	}
	defer lis.Close()
	if publicURLDefaulted {
		cfg.API.PublicURL = "http://" + lis.Addr().String() // a :0 port is known only now
	}
	srv, err := api.New(cfg.API, nc, js, api.TemporalConversations{Client: tc, Namespace: cfg.Namespace}, log.With("component", "api"))
	if err != nil {
		return err
	}
	hs := &http.Server{
		Handler:           srv.Handler(),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      cfg.API.MaxWait + 15*time.Second,
		IdleTimeout:       2 * time.Minute,
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- hs.Serve(lis) }()
	if onReady != nil {
		onReady(Ready{HTTPAddr: lis.Addr().String(), PublicURL: cfg.API.PublicURL})
	}
	select {
	case <-ctx.Done():
	case err := <-serveErr:
		return fmt.Errorf("HTTP server: %w", err)
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil {
		log.Warn("HTTP shutdown", "error", err)
	}
	return nil
}

func buildActivities(ctx context.Context, cfg Config, js jetstream.JetStream, kv jetstream.KeyValue, log *slog.Logger) (*workers.Activities, func(), error) {
	cx, err := dialogflowcx.New(ctx, cfg.Dialogflow)
	if err != nil {
		return nil, nil, fmt.Errorf("Dialogflow CX client: %w", err)
	}
	tw, err := twilio.New(cfg.Twilio)
	if err != nil {
		cx.Close()
		return nil, nil, fmt.Errorf("Twilio client: %w", err)
	}
	vg, err := vonage.New(cfg.Vonage)
	if err != nil {
		cx.Close()
		return nil, nil, fmt.Errorf("Vonage client: %w", err)
	}
	detectors := map[string]nlu.Detector{cx.Name(): cx}
	senders := map[string]messaging.Sender{tw.Name(): tw, vg.Name(): vg}
	router := &routing.Static{NLU: []string{cx.Name()}, APIVendor: cfg.APIVendor}
	known := func(n string) bool { return detectors[n] != nil || senders[n] != nil }
	if err := router.Validate(known); err != nil {
		cx.Close()
		return nil, nil, err
	}
	acts := &workers.Activities{
		Router: router, NLU: detectors, Senders: senders,
		Ledger: workers.NewSendLedger(kv), Events: js, Logger: log.With("component", "activities"),
	}
	return acts, func() { cx.Close() }, nil
}
