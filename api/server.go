package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/switchboard-cc/switchboard/internal/auth"
	"github.com/switchboard-cc/switchboard/internal/metrics"
	"github.com/switchboard-cc/switchboard/internal/streams"
	"github.com/switchboard-cc/switchboard/internal/turn"
	"github.com/switchboard-cc/switchboard/providers/routing"
	"github.com/switchboard-cc/switchboard/providers/vonage"
)

// Config configures the HTTP API.
type Config struct {
	// PublicURL is the base URL vendors call (scheme://host[:port]); Twilio signs
	// webhooks over it, so it must match what Twilio was configured with.
	PublicURL string
	// TwilioAuthToken verifies X-Twilio-Signature.
	TwilioAuthToken string
	// VonageSignatureSecret verifies the JWT of Vonage inbound webhooks.
	VonageSignatureSecret string
	// VonageMaxTokenAge is how old (by its iat) a Vonage webhook JWT may be
	// (default vonage.DefaultMaxTokenAge, 5 min). An older one is refused.
	VonageMaxTokenAge time.Duration
	// SeenTokens refuses webhook JWTs whose jti was seen before. Nil: the NATS KV
	// bucket streams.WebhookTokensBucket, through the server's JetStream.
	SeenTokens auth.SeenTokens
	// MaxBodyBytes bounds every request body.
	MaxBodyBytes int64
	// MaxWait caps the ?wait duration of POST /v1/turns.
	MaxWait time.Duration
	// PublishTimeout bounds the JetStream publish of one turn.
	PublishTimeout time.Duration
	// Dev, when set, is mounted under /dev/ (the fake vendors' outbox and faults).
	Dev http.Handler
	// Providers, when set, serves /v1/providers (health and overrides).
	Providers http.Handler
	// Policy, when set, reports the routing policy in force on /v1/policy.
	Policy PolicyStatus
	// Metrics are served on /metrics and counted by ingress.
	Metrics *metrics.Metrics
	// Tokens authenticate the ops, agent-desk and turn endpoints. At least one ops
	// token is required, and an ingress token unless AnonymousTurns is set.
	Tokens auth.Tokens
	// AnonymousTurns opens POST /v1/turns to callers without a token
	// (--insecure-anonymous-turns). Anyone who can reach the API may then speak as
	// any customer of the API's conversations, and have the business reply to any
	// address. New logs a warning. It excludes ingress tokens.
	AnonymousTurns bool
	// Stuck, when set, lists stuck conversations (?status=stuck) and replays them.
	Stuck StuckConversations
	// Ready reports whether the process can do its job (NATS and Temporal reachable,
	// the worker polling); /readyz answers 503 with its error otherwise.
	Ready func(ctx context.Context) error
	// Canary, when set, runs the stack canary for GET /v1/health/stack (canary.go).
	Canary func(ctx context.Context) (turn.CanaryReport, error)
}

// PolicyStatus is the routing policy watcher, as the API reports it.
type PolicyStatus interface {
	Current() *routing.Policy
	LastError() error
}

// Defaults for Config.
const (
	DefaultMaxBodyBytes   = 64 << 10
	DefaultMaxWait        = 30 * time.Second
	DefaultPublishTimeout = 5 * time.Second
	// MaxVonageTokenAge bounds VonageMaxTokenAge: a longer one only widens the
	// window in which a captured webhook can be replayed.
	MaxVonageTokenAge = time.Hour
)

// Validate fills defaults and reports the first bad field.
func (c *Config) Validate() error {
	if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if c.MaxWait == 0 {
		c.MaxWait = DefaultMaxWait
	}
	if c.PublishTimeout == 0 {
		c.PublishTimeout = DefaultPublishTimeout
	}
	if c.VonageMaxTokenAge == 0 {
		c.VonageMaxTokenAge = vonage.DefaultMaxTokenAge
	}
	switch {
	case c.PublicURL == "":
		return errors.New("api: PublicURL is required")
	case c.TwilioAuthToken == "":
		return errors.New("api: TwilioAuthToken is required")
	case c.VonageSignatureSecret == "":
		return errors.New("api: VonageSignatureSecret is required")
	case c.MaxBodyBytes < 1024:
		return errors.New("api: MaxBodyBytes must be at least 1024")
	case c.MaxWait < 0:
		return errors.New("api: MaxWait must not be negative")
	case c.VonageMaxTokenAge < 10*time.Second || c.VonageMaxTokenAge > MaxVonageTokenAge:
		return fmt.Errorf("api: VonageMaxTokenAge (--vonage-jwt-max-age) must be between 10s and %s", MaxVonageTokenAge)
	}
	if err := c.Tokens.Validate(); err != nil {
		return fmt.Errorf("api: %w", err)
	}
	switch hasIngress := c.Tokens.Has(auth.RoleIngress); {
	case !hasIngress && !c.AnonymousTurns:
		return errors.New("api: POST /v1/turns needs an ingress token: set --ingress-token (SWITCHBOARD_INGRESS_TOKEN), " +
			"or --insecure-anonymous-turns (SWITCHBOARD_INSECURE_ANONYMOUS_TURNS=true) to let anyone who reaches the API post turns")
	case hasIngress && c.AnonymousTurns:
		return errors.New("api: --ingress-token and --insecure-anonymous-turns exclude each other: " +
			"the JSON turn API either requires a token or is open to anyone")
	}
	return nil
}

// Server serves the API.
type Server struct {
	cfg    Config
	tokens auth.SeenTokens // nil: webhooks that need a replay check get 503
	nc     *nats.Conn
	js     jetstream.JetStream
	convs  Conversations
	desk   Desk
	log    *slog.Logger
	now    func() time.Time
}

// Store is where conversations live: Temporal, in production.
type Store interface {
	Conversations
	Desk
}

// New builds the API server.
func New(cfg Config, nc *nats.Conn, js jetstream.JetStream, store Store, log *slog.Logger) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.Default()
	}
	if cfg.Metrics == nil {
		cfg.Metrics = metrics.Discard()
	}
	s := &Server{cfg: cfg, tokens: cfg.SeenTokens, nc: nc, js: js, convs: store, desk: store, log: log, now: time.Now}
	if s.tokens == nil && js != nil {
		s.tokens = &auth.KVSeenTokens{JS: js}
	}
	if cfg.AnonymousTurns {
		log.Warn("POST /v1/turns is open to anonymous callers (--insecure-anonymous-turns): anyone who reaches this API " +
			"can post turns as any customer of its conversations and have the business reply to any address; " +
			"set --ingress-token instead unless only trusted callers can reach it")
	}
	return s, nil
}

// Handler returns the API's routes.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /webhooks/twilio/messaging", s.twilioMessaging)
	mux.HandleFunc("POST /webhooks/vonage/inbound", s.vonageInbound)
	s.voiceRoutes(mux)
	var turns http.Handler = http.HandlerFunc(s.postTurn)
	if !s.cfg.AnonymousTurns {
		turns = auth.Require(s.cfg.Tokens, turns, auth.RoleIngress, auth.RoleOps)
	}
	mux.Handle("POST /v1/turns", turns)
	ops := func(h http.Handler) http.Handler { return auth.Require(s.cfg.Tokens, h, auth.RoleOps) }
	desk := func(f http.HandlerFunc) http.Handler {
		return auth.Require(s.cfg.Tokens, f, auth.RoleOps, auth.RoleAgent)
	}
	mux.Handle("GET /v1/conversations/{id}", desk(s.getConversation))
	mux.Handle("GET /v1/conversations", ops(http.HandlerFunc(s.listConversations)))
	mux.Handle("GET /v1/queues/{queue}/escalations", desk(s.waitingEscalations))
	mux.Handle("POST /v1/queues/{queue}/claim", desk(s.claim))
	mux.Handle("POST /v1/conversations/{id}/escalation/{action}", desk(s.escalationAction))
	mux.Handle("POST /v1/conversations/{id}/replay", ops(http.HandlerFunc(s.replay)))
	mux.Handle("GET /metrics", ops(s.cfg.Metrics.Handler()))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", s.readyz)
	if s.cfg.Providers != nil {
		mux.Handle("/v1/providers", ops(s.cfg.Providers))
		mux.Handle("/v1/providers/", ops(s.cfg.Providers))
	}
	if s.cfg.Policy != nil {
		mux.Handle("GET /v1/policy", ops(http.HandlerFunc(s.policyStatus)))
	}
	s.mountCanary(mux, ops)
	s.mountDeadLetter(mux, ops)
	if s.cfg.Dev != nil {
		mux.Handle("/dev/", Pretty(s.cfg.Dev, true)) // read with curl: always indented
	}
	return Pretty(mux, false)
}

// publish stores a turn in JetStream. It answers the vendor's question "may I
// forget this message?": only a nil error means yes.
func (s *Server) publish(ctx context.Context, t turn.Turn) (duplicate bool, err error) {
	if s.js == nil {
		s.log.Error("turn not accepted: no JetStream connection", "turn", t.ID)
		return false, errors.New("no JetStream connection")
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.PublishTimeout)
	defer cancel()
	_, dup, err := streams.PublishTurn(ctx, s.js, t)
	if err != nil {
		s.cfg.Metrics.TurnsReceived.WithLabelValues(t.Vendor, "unavailable").Inc()
		s.log.Error("turn not accepted: JetStream publish failed", "turn", t.ID, "error", err)
		return false, err
	}
	result := "accepted"
	if dup {
		result = "duplicate"
	}
	s.cfg.Metrics.TurnsReceived.WithLabelValues(t.Vendor, result).Inc()
	s.log.Info("turn accepted", "turn", t.ID, "conversation", t.ConversationID, "duplicate", dup)
	return dup, nil
}

// readyz is readiness: liveness plus the dependencies a turn needs.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	if s.cfg.Ready != nil {
		ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
		defer cancel()
		if err := s.cfg.Ready(ctx); err != nil {
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "not ready", "error": err.Error()})
			return
		}
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

// policyStatus tells whether the policy file in force is the one on disk: after a
// refused reload, error names what is wrong and the previous policy still routes.
func (s *Server) policyStatus(w http.ResponseWriter, r *http.Request) {
	p := s.cfg.Policy.Current()
	body := map[string]any{"source": p.Source(), "providers": p.ProviderNames(), "channels": p.ChannelNames()}
	if err := s.cfg.Policy.LastError(); err != nil {
		body["error"] = err.Error()
	}
	writeJSON(w, http.StatusOK, body)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}

// writeUnavailable tells the caller to retry: the turn was not stored.
func writeUnavailable(w http.ResponseWriter) {
	w.Header().Set("Retry-After", "2")
	writeError(w, http.StatusServiceUnavailable, "turn not accepted: the turn store is unavailable, retry")
}

// readBody reads a bounded body. It answers 413 itself when the body is too large.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	r.Body = http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes)
	b, err := io.ReadAll(r.Body)
	if err != nil {
		bodyError(w, err)
		return nil, false
	}
	return b, true
}

func bodyError(w http.ResponseWriter, err error) {
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		writeError(w, http.StatusRequestEntityTooLarge, "request body is larger than the limit")
		return
	}
	writeError(w, http.StatusBadRequest, "could not read request body: "+err.Error())
}
