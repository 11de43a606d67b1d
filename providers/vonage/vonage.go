package vonage

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/switchboard-cc/switchboard/internal/turn"
	"github.com/switchboard-cc/switchboard/providers"
	"github.com/switchboard-cc/switchboard/providers/messaging"
)

const (
	defaultName           = "vonage"
	defaultBaseURL        = "https://api.nexmo.com"
	defaultAccountBaseURL = "https://rest.nexmo.com"
	defaultTimeout        = 5 * time.Second
	// maxResponse bounds what is read of an answer: a message_uuid, a balance or a
	// problem document is well under a KiB, anything larger is not Vonage.
	maxResponse = 64 << 10
)

// Config configures a Sender.
type Config struct {
	// Name identifies this provider in receipts, errors and fault switches.
	// Default "vonage".
	Name      string
	APIKey    string
	APISecret string
	// BaseURL of the Messages API. Default https://api.nexmo.com; e.g.
	// http://127.0.0.1:8082 for the fake.
	BaseURL string
	// AccountBaseURL of the Account API, whose balance Probe reads. Default
	// https://rest.nexmo.com, where Vonage serves it; in dev the fake serves it on
	// the same host as messages, so both URLs point there.
	AccountBaseURL string
	// Timeout bounds one send or probe, whatever the caller's deadline. Default 5s.
	Timeout time.Duration
}

// Validate fills defaults and reports the first invalid field. Values of secrets are
// never part of the error.
func (c *Config) Validate() error {
	if c.Name == "" {
		c.Name = defaultName
	}
	if c.BaseURL == "" {
		c.BaseURL = defaultBaseURL
	}
	if c.AccountBaseURL == "" {
		c.AccountBaseURL = defaultAccountBaseURL
	}
	if c.Timeout == 0 {
		c.Timeout = defaultTimeout
	}
	switch {
	case c.APIKey == "":
		return errors.New("vonage: APIKey is required")
	case c.APISecret == "":
		return errors.New("vonage: APISecret is required")
	case c.Timeout < 0:
		return errors.New("vonage: Timeout must not be negative")
	}
	if err := checkBaseURL(c.BaseURL); err != nil {
		return fmt.Errorf("vonage: BaseURL %w", err)
	}
	if err := checkBaseURL(c.AccountBaseURL); err != nil {
		return fmt.Errorf("vonage: AccountBaseURL %w", err)
	}
	return nil
}

// checkBaseURL says what is wrong with a base URL, as the end of a sentence naming
// the field. The URL is not quoted: it might carry credentials.
func checkBaseURL(raw string) error {
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return errors.New("is not a URL")
	case u.Scheme != "http" && u.Scheme != "https":
		return errors.New("scheme must be http or https")
	case u.Host == "":
		return errors.New("host is required")
	case u.User != nil || u.RawQuery != "" || u.Fragment != "":
		return errors.New("must not carry credentials, a query or a fragment")
	}
	return nil
}

// Sender sends replies through the Vonage Messages API. Safe for concurrent use.
type Sender struct {
	name     string
	key      string
	secret   string
	endpoint string
	balance  string // the Account API's get-balance URL, which Probe reads
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
		key:      cfg.APIKey,
		secret:   cfg.APISecret,
		endpoint: strings.TrimSuffix(cfg.BaseURL, "/") + "/v1/messages",
		balance:  strings.TrimSuffix(cfg.AccountBaseURL, "/") + "/account/get-balance",
		timeout:  cfg.Timeout,
		http: &http.Client{
			Transport: http.DefaultTransport.(*http.Transport).Clone(),
			// A redirected POST would lose its body, and a redirected GET its
			// credentials; Vonage redirects neither.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}, nil
}

// Name is the provider name receipts and errors carry.
func (s *Sender) Name() string { return s.name }

// Problem is the RFC 7807 document Vonage answers a failed call with. It is the
// underlying error of a classified send failure (errors.As reaches it).
type Problem struct {
	Type     string `json:"type"`
	Title    string `json:"title"`
	Detail   string `json:"detail"`
	Instance string `json:"instance"`
}

func (p *Problem) Error() string {
	switch {
	case p.Title != "" && p.Detail != "":
		return p.Title + ": " + p.Detail
	case p.Title != "":
		return p.Title
	case p.Detail != "":
		return p.Detail
	}
	return "no problem details"
}

type sendRequest struct {
	MessageType string `json:"message_type"`
	Text        string `json:"text"`
	To          string `json:"to"`
	From        string `json:"from"`
	Channel     string `json:"channel"`
	ClientRef   string `json:"client_ref,omitempty"`
}

// Send makes one attempt to hand m to Vonage. The attempt ends at the earlier of
// ctx's deadline and Config.Timeout.
func (s *Sender) Send(ctx context.Context, m turn.Message) (messaging.Receipt, error) {
	channel := m.Channel
	switch channel {
	case "":
		channel = "sms"
	case "sms", "whatsapp":
	default:
		return messaging.Receipt{}, providers.Classify(s.name, providers.ErrRejected, 0,
			fmt.Errorf("channel %q is not supported", channel))
	}
	body, err := json.Marshal(sendRequest{
		MessageType: "text",
		Text:        m.Body,
		To:          strings.TrimPrefix(m.To, "+"),
		From:        strings.TrimPrefix(m.From, "+"),
		Channel:     channel,
		ClientRef:   m.IdempotencyKey,
	})
	if err != nil {
		return messaging.Receipt{}, providers.Classify(s.name, providers.ErrRejected, 0, err)
	}

	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.endpoint, bytes.NewReader(body))
	if err != nil {
		return messaging.Receipt{}, providers.Classify(s.name, providers.ErrRejected, 0, err)
	}
	req.SetBasicAuth(s.key, s.secret)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")

	resp, err := providers.DoSend(ctx, s.http, req, s.name)
	if err != nil {
		return messaging.Receipt{}, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if err != nil && resp.StatusCode < 300 {
		// Accepted, but the answer was cut off: the message may well be on its way.
		return messaging.Receipt{}, providers.MaybeDelivered(s.name, s.failure(ctx, "send", resp.StatusCode, err))
	}

	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return messaging.Receipt{}, s.refused(resp.StatusCode, data)
	}
	var accepted struct {
		MessageUUID string `json:"message_uuid"`
	}
	if err := json.Unmarshal(data, &accepted); err != nil || accepted.MessageUUID == "" {
		return messaging.Receipt{}, providers.MaybeDelivered(s.name, providers.Classify(s.name, providers.ErrUnavailable, resp.StatusCode,
			errors.New("accepted answer carried no message_uuid")))
	}
	return messaging.Receipt{Provider: s.name, MessageID: accepted.MessageUUID}, nil
}

// Probe checks that Vonage serves this account: one authenticated GET of the
// account balance (GET /account/get-balance on Config.AccountBaseURL), which sends
// nothing and costs nothing. The key and secret travel in the basic auth header,
// which Vonage's Account API accepts like its api_key/api_secret query parameters,
// so that they can never appear in a URL an error or a log prints. Like Send it
// makes one attempt, ending at the earlier of ctx's deadline and Config.Timeout, and
// its failures are classified as Send's are. The balance itself is not judged: an
// answer with a numeric value is a success.
func (s *Sender) Probe(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.balance, nil)
	if err != nil {
		return providers.Classify(s.name, providers.ErrRejected, 0, err)
	}
	req.SetBasicAuth(s.key, s.secret)
	req.Header.Set("Accept", "application/json")

	resp, err := s.http.Do(req)
	if err != nil {
		return s.failure(ctx, "probe", 0, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if err != nil {
		return s.failure(ctx, "probe", resp.StatusCode, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return s.refused(resp.StatusCode, data)
	}
	var balance struct {
		Value *float64 `json:"value"`
	}
	if err := json.Unmarshal(data, &balance); err != nil || balance.Value == nil {
		return providers.Classify(s.name, providers.ErrUnavailable, resp.StatusCode,
			errors.New("balance answer carried no value"))
	}
	return nil
}

// refused classifies an answer with an error status, keeping Vonage's problem
// document (or the status text, when the body was not one) as the cause.
func (s *Sender) refused(status int, body []byte) error {
	p := &Problem{}
	if json.Unmarshal(body, p) != nil || (p.Title == "" && p.Detail == "") {
		p = &Problem{Title: http.StatusText(status)}
	}
	return providers.Classify(s.name, providers.KindOfHTTPStatus(status), status, p)
}

// failure classifies a call (op: "send", "probe") that got no (complete) answer.
func (s *Sender) failure(ctx context.Context, op string, status int, err error) error {
	return providers.TransportFailure(ctx, s.name, op, status, err)
}
