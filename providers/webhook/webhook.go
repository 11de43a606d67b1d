package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/switchboard-cc/switchboard/internal/turn"
	"github.com/switchboard-cc/switchboard/providers"
	"github.com/switchboard-cc/switchboard/providers/messaging"
)

const (
	defaultName    = "webhook"
	defaultTimeout = 5 * time.Second
	// maxResponse bounds what is read of an answer: an id or an error text.
	maxResponse = 64 << 10
	// maxErrorText bounds the receiver's error text an error carries.
	maxErrorText = 200
)

// Config configures a Sender.
type Config struct {
	// Name identifies this provider in receipts, errors and fault switches.
	// Default "webhook".
	Name string
	// URL receives the replies (POST).
	URL string
	// ProbeURL, optional, is what Probe reads (GET, 2xx is healthy); without it
	// Probe sends OPTIONS to URL.
	ProbeURL string
	// Secret signs every request (at least MinSecretBytes). It is never part of an
	// error or a log.
	Secret []byte
	// InsecureHTTP allows http:// URLs to hosts other than loopback. Without it,
	// such URLs need https: a reply and its signature must not cross a network in
	// the clear.
	InsecureHTTP bool
	// Timeout bounds one send or probe, whatever the caller's deadline. Default 5s.
	Timeout time.Duration
}

// Validate fills defaults and reports the first invalid field.
func (c *Config) Validate() error {
	if c.Name == "" {
		c.Name = defaultName
	}
	if c.Timeout == 0 {
		c.Timeout = defaultTimeout
	}
	switch {
	case c.URL == "":
		return errors.New("webhook: URL is required")
	case len(c.Secret) < MinSecretBytes:
		return fmt.Errorf("webhook: Secret must be at least %d bytes", MinSecretBytes)
	case c.Timeout < 0:
		return errors.New("webhook: Timeout must not be negative")
	}
	if err := CheckURL(c.URL, c.InsecureHTTP); err != nil {
		return fmt.Errorf("webhook: URL %w", err)
	}
	if c.ProbeURL != "" {
		if err := CheckURL(c.ProbeURL, c.InsecureHTTP); err != nil {
			return fmt.Errorf("webhook: ProbeURL %w", err)
		}
	}
	return nil
}

// CheckURL says what is wrong with a receiver URL, as the end of a sentence naming
// the field: it must be http or https with a host, carry no credentials, query or
// fragment (the signature is what authenticates a request), and be https unless
// its host is loopback or insecureHTTP allows plain http. The URL is not quoted: it
// might carry credentials.
func CheckURL(raw string, insecureHTTP bool) error {
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return errors.New("is not a URL")
	case u.Scheme != "http" && u.Scheme != "https":
		return errors.New("scheme must be https (or http to loopback)")
	case u.Host == "":
		return errors.New("host is required")
	case u.User != nil || u.RawQuery != "" || u.Fragment != "":
		return errors.New("must not carry credentials, a query or a fragment")
	case u.Scheme == "http" && !insecureHTTP && !loopback(u.Hostname()):
		return errors.New("must be https outside loopback: replies and their signatures would cross the network in the clear (allow it with insecure_http: true)")
	}
	return nil
}

func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Reply is the JSON body of a reply request.
type Reply struct {
	ConversationID string `json:"conversation_id"`
	// TurnID is the customer turn the reply answers (for the JSON API, "api:" and
	// the message_id it posted); absent on an agent's message and on an
	// escalation's final message.
	TurnID         string `json:"turn_id,omitempty"`
	IdempotencyKey string `json:"idempotency_key"`
	Channel        string `json:"channel"`
	From           string `json:"from"` // the business address the customer wrote to
	To             string `json:"to"`   // the customer
	Body           string `json:"body"`
	// SentAt is when this attempt was made; a retry carries a later one.
	SentAt time.Time `json:"sent_at"`
}

// Sender posts replies to a receiver. Safe for concurrent use.
type Sender struct {
	name     string
	url      string
	probeURL string
	secret   []byte
	timeout  time.Duration
	http     *http.Client
}

var (
	_ messaging.Sender                          = (*Sender)(nil)
	_ interface{ Probe(context.Context) error } = (*Sender)(nil)
)

// New returns a Sender for cfg.
func New(cfg Config) (*Sender, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Sender{
		name:     cfg.Name,
		url:      cfg.URL,
		probeURL: cfg.ProbeURL,
		secret:   bytes.Clone(cfg.Secret),
		timeout:  cfg.Timeout,
		http: &http.Client{
			Transport: http.DefaultTransport.(*http.Transport).Clone(),
			// A redirected POST would lose its body; a receiver moved elsewhere
			// is a policy to update.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}, nil
}

// Name is the provider name receipts and errors carry.
func (s *Sender) Name() string { return s.name }

// Send makes one attempt to post m to the receiver. The attempt ends at the earlier
// of ctx's deadline and Config.Timeout.
func (s *Sender) Send(ctx context.Context, m turn.Message) (messaging.Receipt, error) {
	if m.IdempotencyKey == "" {
		return messaging.Receipt{}, providers.Classify(s.name, providers.ErrRejected, 0,
			errors.New("a reply needs an idempotency key: receivers deduplicate on it"))
	}
	now := time.Now()
	body, err := json.Marshal(Reply{
		ConversationID: m.ConversationID, TurnID: m.TurnID, IdempotencyKey: m.IdempotencyKey,
		Channel: m.Channel, From: m.From, To: m.To, Body: m.Body, SentAt: now.UTC(),
	})
	if err != nil {
		return messaging.Receipt{}, providers.Classify(s.name, providers.ErrRejected, 0, err)
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	req, err := s.request(ctx, http.MethodPost, s.url, body, now)
	if err != nil {
		return messaging.Receipt{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(HeaderIdempotency, m.IdempotencyKey)

	resp, err := providers.DoSend(ctx, s.http, req, s.name)
	if err != nil {
		return messaging.Receipt{}, err
	}
	defer resp.Body.Close()
	// The status is the answer: a 2xx whose body is cut off was still delivered.
	data, _ := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return messaging.Receipt{}, s.refused(resp.StatusCode, data)
	}
	var stored struct {
		ID string `json:"id"`
	}
	if json.Unmarshal(data, &stored) != nil || stored.ID == "" {
		stored.ID = m.IdempotencyKey
	}
	return messaging.Receipt{Provider: s.name, MessageID: stored.ID}, nil
}

// Probe asks the receiver whether it is up, sending no reply: a signed GET of
// Config.ProbeURL, healthy on a 2xx, or without one an OPTIONS request to the reply
// URL, healthy on any answer but 408, 429 and 5xx. Like Send it makes one attempt,
// ending at the earlier of ctx's deadline and Config.Timeout, and its failures are
// classified as Send's are.
func (s *Sender) Probe(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	method, target := http.MethodGet, s.probeURL
	if target == "" {
		method, target = http.MethodOptions, s.url
	}
	req, err := s.request(ctx, method, target, nil, time.Now())
	if err != nil {
		return err
	}
	resp, err := s.http.Do(req)
	if err != nil {
		return providers.TransportFailure(ctx, s.name, "probe", 0, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	healthy := resp.StatusCode >= 200 && resp.StatusCode <= 299
	if method == http.MethodOptions {
		// Up is any answer that would not fail a send as unavailable, rate
		// limited or timed out.
		healthy = resp.StatusCode < 400 || errors.Is(providers.KindOfHTTPStatus(resp.StatusCode), providers.ErrRejected)
	}
	if !healthy {
		return s.refused(resp.StatusCode, data)
	}
	return nil
}

// request builds a signed request with body (nil: none) made at now.
func (s *Sender) request(ctx context.Context, method, target string, body []byte, now time.Time) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, method, target, bytes.NewReader(body))
	if err != nil {
		return nil, providers.Classify(s.name, providers.ErrRejected, 0, err)
	}
	ts := strconv.FormatInt(now.Unix(), 10)
	req.Header.Set(HeaderTimestamp, ts)
	req.Header.Set(HeaderSignature, Sign(s.secret, ts, body))
	req.Header.Set("User-Agent", "switchboard-webhook/1")
	return req, nil
}

// refused classifies an answer with an error status, with the receiver's error
// text (a JSON {"error": ...}, bounded) or the status text as the cause.
func (s *Sender) refused(status int, body []byte) error {
	var doc struct {
		Error string `json:"error"`
	}
	text := http.StatusText(status)
	if json.Unmarshal(body, &doc) == nil && strings.TrimSpace(doc.Error) != "" {
		text = doc.Error
		if len(text) > maxErrorText {
			text = text[:maxErrorText] + "…"
		}
	}
	return providers.Classify(s.name, providers.KindOfHTTPStatus(status), status, errors.New(text))
}
