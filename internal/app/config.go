package app

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/switchboard-cc/switchboard/api"
	"github.com/switchboard-cc/switchboard/internal/streams"
	"github.com/switchboard-cc/switchboard/providers/vonage"
	"github.com/switchboard-cc/switchboard/workers"
	"github.com/switchboard-cc/switchboard/workers/bridge"
	"github.com/switchboard-cc/switchboard/workflows"
)

// Roles say which parts of the service a process runs.
type Roles uint8

const (
	// RoleAPI serves the HTTP API: vendor webhooks, turns, conversations, the agent
	// desk, providers, policy, metrics and health.
	RoleAPI Roles = 1 << iota
	// RoleWorker runs the Temporal worker, the JetStream bridge, the provider clients
	// and their health probes, with an HTTP listener for /healthz, /readyz and
	// /metrics only.
	RoleWorker
	// RolesAll runs both in one process. It is what a zero Roles means.
	RolesAll = RoleAPI | RoleWorker
)

// Has reports whether r includes role.
func (r Roles) Has(role Roles) bool { return r&role == role }

func (r Roles) String() string {
	switch r {
	case RoleAPI:
		return "api"
	case RoleWorker:
		return "worker"
	case RolesAll:
		return "api+worker"
	}
	return fmt.Sprintf("Roles(%d)", uint8(r))
}

// Config is everything the service needs.
type Config struct {
	// Roles this process runs; zero means RolesAll.
	Roles Roles

	HTTPAddr  string // where the API (the worker role alone: health and metrics) listens
	PublicURL string // the base URL vendors call; webhook signatures are computed over it

	NATSURL string
	// NATSCredsFile is a NATS credentials file (JWT and NKey seed); NATSCAFile a CA
	// bundle that makes the connection require TLS.
	NATSCredsFile string
	NATSCAFile    string

	TemporalAddr string
	Namespace    string
	TaskQueue    string
	// TemporalTLS dials Temporal over TLS (TemporalCAFile adds a CA bundle);
	// TemporalAPIKey authenticates, as Temporal Cloud wants.
	TemporalTLS    bool
	TemporalCAFile string
	TemporalAPIKey string
	// TemporalCompression is the gRPC compression of requests to Temporal: "gzip"
	// (the default: it saves bandwidth across a network) or "none" (cheaper in CPU
	// on loopback, as in dev).
	TemporalCompression string

	// PolicyFile is the routing policy, reloaded when it changes.
	PolicyFile string
	// Connections say how to reach the providers the policy names.
	Connections Connections
	// VonageSignatureSecret verifies Vonage inbound webhooks.
	VonageSignatureSecret string
	// Instance names this process in shared breaker state (default: host-random).
	Instance string
	// ReplayRate bounds the turns re-driven and replies re-sent per second by the
	// replays of stuck conversations this process runs (default 5).
	ReplayRate float64
	// RedriveInterval is how often the worker role re-sends the replies no CPaaS
	// provider could send, once a provider is in rotation again (stuck.Conversations
	// Redrive; default 5s, negative: never).
	RedriveInterval time.Duration
	// SendClaimGrace is how long past its attempt's deadline a reply's send-ledger
	// claim still holds (workers.SendLedger.Grace; zero keeps its default).
	SendClaimGrace time.Duration

	Streams  streams.Config
	Bridge   bridge.Config
	Worker   workers.WorkerConfig
	Workflow workflows.Options
	// API configures the API role. Its Tokens also guard the worker role's /metrics.
	API api.Config

	// Dev is mounted under /dev/ when set.
	Dev http.Handler
}

// Validate fills defaults and reports the first bad field.
func (c *Config) Validate() error {
	if c.Roles == 0 {
		c.Roles = RolesAll
	}
	if c.Roles&^RolesAll != 0 {
		return fmt.Errorf("unknown roles %s", c.Roles)
	}
	if c.Namespace == "" {
		c.Namespace = "default"
	}
	if c.TaskQueue == "" {
		c.TaskQueue = "switchboard-conversations"
	}
	switch {
	case c.PolicyFile == "":
		return errors.New("PolicyFile (--policy) is required")
	case c.HTTPAddr == "":
		return errors.New("HTTPAddr (--http-addr) is required")
	case c.NATSURL == "":
		return errors.New("NATSURL (--nats-url) is required")
	case c.TemporalAddr == "":
		return errors.New("TemporalAddr (--temporal-address) is required")
	}
	if c.SendClaimGrace < 0 {
		return errors.New("SendClaimGrace (--send-claim-grace) must not be negative")
	}
	switch c.TemporalCompression {
	case "":
		c.TemporalCompression = "gzip"
	case "gzip", "none":
	default:
		return fmt.Errorf("TemporalCompression (--temporal-compression) must be gzip or none, not %q", c.TemporalCompression)
	}
	if c.ReplayRate == 0 {
		c.ReplayRate = DefaultReplayRate
	}
	if c.ReplayRate < 0 {
		return errors.New("ReplayRate (--replay-rate) must not be negative")
	}
	if c.RedriveInterval == 0 {
		c.RedriveInterval = DefaultRedriveInterval
	}
	if c.RedriveInterval > 0 && c.RedriveInterval < 100*time.Millisecond {
		return fmt.Errorf("RedriveInterval (--redrive-interval) must be at least 100ms, or negative to turn it off, not %s", c.RedriveInterval)
	}
	// Both roles hand turns to workflows: the worker's bridge, the API's replays.
	c.Bridge.TaskQueue, c.Worker.TaskQueue = c.TaskQueue, c.TaskQueue
	if c.Workflow.MaxPending < 0 || c.Workflow.MaxPending > 10_000 {
		return fmt.Errorf("Workflow.MaxPending (--max-pending-turns) must be between 1 and 10000, not %d", c.Workflow.MaxPending)
	}
	c.Bridge.Workflow = c.Workflow
	parts := []interface{ Validate() error }{&c.Streams, &c.Bridge}
	if c.Roles.Has(RoleWorker) {
		parts = append(parts, &c.Worker)
	}
	if c.Roles.Has(RoleAPI) {
		if c.PublicURL == "" {
			// Run replaces the placeholder with the bound address once it listens.
			c.PublicURL = "http://" + c.HTTPAddr
		}
		c.API.PublicURL = c.PublicURL
		c.API.TwilioAuthToken = c.Connections.Twilio.AuthToken
		c.API.VonageSignatureSecret = c.VonageSignatureSecret
		c.API.Dev = c.Dev
		parts = append(parts, &c.API)
	} else if err := c.API.Tokens.Validate(); err != nil {
		return fmt.Errorf("worker /metrics: %w", err)
	}
	for _, v := range parts {
		if err := v.Validate(); err != nil {
			return err
		}
	}
	if c.Roles.Has(RoleAPI) {
		// Remember accepted webhook tokens as long as the API would accept them.
		c.Streams.WebhookTokenTTL = vonage.ReplayWindow(c.API.VonageMaxTokenAge)
	}
	return nil
}

// Ready describes a started service.
type Ready struct {
	Roles     Roles
	HTTPAddr  string // the bound address of the API, or of the worker role's health listener
	PublicURL string // the base URL webhook signatures are computed over (API role)
}

// DefaultReplayRate is the default of Config.ReplayRate.
const DefaultReplayRate = 5

// DefaultRedriveInterval is the default of Config.RedriveInterval.
const DefaultRedriveInterval = 5 * time.Second
