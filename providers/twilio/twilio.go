package twilio

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/twilio/twilio-go/client"
	openapi "github.com/twilio/twilio-go/rest/api/v2010"

	"github.com/switchboard-cc/switchboard/internal/turn"
	"github.com/switchboard-cc/switchboard/providers"
	"github.com/switchboard-cc/switchboard/providers/messaging"
)

// IdempotencyHeader carries turn.Message.IdempotencyKey to Twilio. It is the
// header Twilio itself uses to mark retried deliveries, so logs on both sides of the
// wire name a reply the same way.
const IdempotencyHeader = "I-Twilio-Idempotency-Token"

// WhatsAppPrefix marks a WhatsApp address in Twilio's addressing.
const WhatsAppPrefix = "whatsapp:"

const (
	defaultName    = "twilio"
	defaultTimeout = 5 * time.Second
	// maxResponse bounds what is read of a Twilio answer: a message resource is a
	// couple of KiB, so anything larger is not Twilio and must not exhaust memory.
	maxResponse = 1 << 20
)

// twilio-go refuses credentials with anything but letters and digits; checking at New
// turns a failure of every send into one configuration error.
var alphanumeric = regexp.MustCompile(`^[A-Za-z0-9]+$`)

// Config configures a Sender.
type Config struct {
	// Name identifies this provider in receipts, errors and fault switches.
	// Default "twilio".
	Name       string
	AccountSID string
	AuthToken  string
	// BaseURL replaces https://api.twilio.com, e.g. http://127.0.0.1:8081 for the
	// fake. Empty means the real Twilio.
	BaseURL string
	// Timeout bounds one send or probe, whatever the caller's deadline. Default 5s.
	Timeout time.Duration
}

// Validate fills defaults and reports the first invalid field. Values of secrets are
// never part of the error.
func (c *Config) Validate() error {
	if c.Name == "" {
		c.Name = defaultName
	}
	if c.Timeout == 0 {
		c.Timeout = defaultTimeout
	}
	switch {
	case c.AccountSID == "":
		return errors.New("twilio: AccountSID is required")
	case !alphanumeric.MatchString(c.AccountSID):
		return errors.New("twilio: AccountSID must contain only letters and digits")
	case c.AuthToken == "":
		return errors.New("twilio: AuthToken is required")
	case !alphanumeric.MatchString(c.AuthToken):
		return errors.New("twilio: AuthToken must contain only letters and digits")
	case c.Timeout < 0:
		return errors.New("twilio: Timeout must not be negative")
	}
	if c.BaseURL != "" {
		if _, err := parseBaseURL(c.BaseURL); err != nil {
			return fmt.Errorf("twilio: BaseURL: %w", err)
		}
	}
	return nil
}

func parseBaseURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, errors.New("not a URL")
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, errors.New("scheme must be http or https")
	}
	if u.Host == "" {
		return nil, errors.New("host is required")
	}
	if u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return nil, errors.New("must not carry credentials, a query or a fragment")
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	return u, nil
}

// Sender sends replies through Twilio. Safe for concurrent use.
type Sender struct {
	name    string
	sid     string
	token   string
	timeout time.Duration
	target  *url.URL          // nil: the real Twilio
	conns   http.RoundTripper // shared by every call so connections are reused
}

var (
	_ messaging.Sender                          = (*Sender)(nil)
	_ messaging.Finder                          = (*Sender)(nil)
	_ interface{ Probe(context.Context) error } = (*Sender)(nil)
)

// New returns a Sender for cfg.
func New(cfg Config) (*Sender, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := &Sender{
		name:    cfg.Name,
		sid:     cfg.AccountSID,
		token:   cfg.AuthToken,
		timeout: cfg.Timeout,
		conns:   http.DefaultTransport.(*http.Transport).Clone(),
	}
	if cfg.BaseURL != "" {
		s.target, _ = parseBaseURL(cfg.BaseURL) // checked by Validate
	}
	return s, nil
}

// Name is the provider name receipts and errors carry.
func (s *Sender) Name() string { return s.name }

// Send makes one attempt to hand m to Twilio. The attempt ends at the earlier of
// ctx's deadline and Config.Timeout.
func (s *Sender) Send(ctx context.Context, m turn.Message) (messaging.Receipt, error) {
	to, err := address(m.Channel, m.To)
	if err != nil {
		return messaging.Receipt{}, providers.Classify(s.name, providers.ErrRejected, 0, err)
	}
	from, err := address(m.Channel, m.From)
	if err != nil {
		return messaging.Receipt{}, providers.Classify(s.name, providers.ErrRejected, 0, err)
	}

	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	api, wire := s.call(ctx, m.IdempotencyKey)
	// twilio-go leaves error bodies open; closing here returns nothing to the pool
	// (the body may be unread) but makes sure no read outlives the call.
	defer wire.close()

	params := &openapi.CreateMessageParams{}
	params.SetTo(to).SetFrom(from).SetBody(m.Body)
	msg, err := api.CreateMessage(params)
	if err == nil && (msg.Sid == nil || *msg.Sid == "") {
		err = providers.Classify(s.name, providers.ErrUnavailable, wire.status, errors.New("accepted answer carried no message sid"))
	}
	if err != nil {
		err = s.classify(ctx, "send", wire.status, err)
		if wire.trace.Wrote() && ((wire.status == 0 && ctx.Err() != nil) || wire.status/100 == 2) {
			// The request reached Twilio and the attempt ran out before an answer, or
			// the 2xx answer could not be read: Twilio may have the message. A
			// connection Twilio closed without answering is taken as a refusal, the
			// usual face of an outage, so that failover goes on.
			err = providers.MaybeDelivered(s.name, err)
		}
		return messaging.Receipt{}, err
	}
	return messaging.Receipt{Provider: s.name, MessageID: *msg.Sid}, nil
}

// Find looks for m among the messages Twilio holds from m.From to m.To created at
// or after since: the way to learn whether a send whose outcome is unknown (see
// providers.MaybeDelivered) reached Twilio after all. It reads one page of Twilio's
// message list (GET .../Messages.json?To=&From=, newest first) and matches the body
// and the creation time; Twilio's own filter on date_sent cannot be used, since a
// queued message has none. Of several matches it returns the oldest. Like Send it
// makes one attempt, ending at the earlier of ctx's deadline and Config.Timeout.
func (s *Sender) Find(ctx context.Context, m turn.Message, since time.Time) (messaging.Receipt, bool, error) {
	to, err := address(m.Channel, m.To)
	if err != nil {
		return messaging.Receipt{}, false, providers.Classify(s.name, providers.ErrRejected, 0, err)
	}
	from, err := address(m.Channel, m.From)
	if err != nil {
		return messaging.Receipt{}, false, providers.Classify(s.name, providers.ErrRejected, 0, err)
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	api, wire := s.call(ctx, "")
	defer wire.close()

	params := &openapi.ListMessageParams{}
	params.SetTo(to).SetFrom(from).SetPageSize(findPageSize)
	page, err := api.PageMessage(params, "", "")
	if err != nil {
		return messaging.Receipt{}, false, s.classify(ctx, "find", wire.status, err)
	}
	var found *openapi.ApiV2010Message
	var foundAt time.Time
	for i, msg := range page.Messages {
		if msg.Sid == nil || msg.Body == nil || *msg.Body != m.Body || msg.DateCreated == nil {
			continue
		}
		at, err := time.Parse(time.RFC1123Z, *msg.DateCreated)
		if err != nil || at.Before(since.Truncate(time.Second)) {
			continue // Twilio's dates carry whole seconds
		}
		if found == nil || at.Before(foundAt) {
			found, foundAt = &page.Messages[i], at
		}
	}
	if found == nil {
		return messaging.Receipt{}, false, nil
	}
	return messaging.Receipt{Provider: s.name, MessageID: *found.Sid}, true, nil
}

// findPageSize is how many of the newest messages between two addresses Find reads.
const findPageSize = 50

// Probe checks that Twilio serves this account: one authenticated GET of the
// account resource (/2010-04-01/Accounts/{AccountSid}.json, twilio-go FetchAccount),
// which sends nothing and costs nothing. Like Send it makes one attempt, ending at
// the earlier of ctx's deadline and Config.Timeout, and its errors are classified
// as Send's are (ErrUnavailable, ErrRateLimited, ErrTimeout, ErrRejected). An
// account that Twilio reports as anything but "active" (suspended, closed) cannot
// send, so that is ErrUnavailable too. The account resource carries the auth
// token; Probe reads only its sid and status and keeps none of it.
func (s *Sender) Probe(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	api, wire := s.call(ctx, "")
	defer wire.close()

	acct, err := api.FetchAccount(s.sid)
	if err != nil {
		return s.classify(ctx, "probe", wire.status, err)
	}
	switch {
	case acct.Sid == nil || *acct.Sid != s.sid:
		return providers.Classify(s.name, providers.ErrUnavailable, wire.status,
			errors.New("account answer did not carry the account's sid"))
	case acct.Status == nil || *acct.Status != "active":
		status := "no status"
		if acct.Status != nil {
			status = fmt.Sprintf("status %q", *acct.Status)
		}
		return providers.Classify(s.name, providers.ErrUnavailable, wire.status,
			fmt.Errorf("account is not active (%s)", status))
	}
	return nil
}

// call returns the twilio-go API of one call bound to ctx, and the transport its
// requests go through; the caller must close the transport when done. A non-empty
// key travels as the idempotency header.
func (s *Sender) call(ctx context.Context, key string) (*openapi.ApiService, *callTransport) {
	wire := &callTransport{next: s.conns, target: s.target}
	wire.ctx = wire.trace.Context(ctx)
	c := &client.Client{
		Credentials: client.NewCredentials(s.sid, s.token),
		HTTPClient: &http.Client{
			Transport: wire,
			// A redirected POST would lose its form; Twilio does not redirect sends
			// nor fetches of the account.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		UserAgentExtensions: []string{"switchboard"},
	}
	c.SetAccountSid(s.sid)
	return openapi.NewApiServiceWithClient(&keyedClient{Client: c, key: key}), wire
}

// classify turns what twilio-go returned into a providers.Error, once, here.
// op names the call ("send", "probe"); status is the HTTP status the call saw, 0 if
// no answer arrived.
func (s *Sender) classify(ctx context.Context, op string, status int, err error) error {
	var classified *providers.Error
	if errors.As(err, &classified) {
		return err
	}
	var rest *client.TwilioRestError
	if errors.As(err, &rest) {
		if rest.Status != 0 {
			status = rest.Status
		}
		// twilio-go's text repeats the status and prints empty details; the
		// providers.Error says the status once.
		err = restError{rest}
		if status == 0 {
			return providers.Classify(s.name, providers.ErrUnavailable, 0, err)
		}
		return providers.Classify(s.name, providers.KindOfHTTPStatus(status), status, err)
	}
	if status >= 400 {
		// Twilio answered with an error twilio-go could not decode (a proxy's HTML
		// page, say): the status still says what kind of failure it was.
		return providers.Classify(s.name, providers.KindOfHTTPStatus(status), status, err)
	}
	// No answer, or a garbled one: a timeout, the caller giving up, or Twilio
	// failing to serve the call.
	return providers.TransportFailure(ctx, s.name, op, status, err)
}

// restError is a Twilio API error as the transcript shows it: code, message and
// the page that explains it, once.
type restError struct{ *client.TwilioRestError }

func (e restError) Error() string {
	s := fmt.Sprintf("ApiError %d: %s", e.Code, e.Message)
	if e.MoreInfo != "" {
		s += " (" + e.MoreInfo + ")"
	}
	return s
}

func (e restError) Unwrap() error { return e.TwilioRestError }

// address maps a channel-neutral address to Twilio's addressing.
func address(channel, addr string) (string, error) {
	switch channel {
	case "", "sms":
		return addr, nil
	case "whatsapp":
		if strings.HasPrefix(addr, WhatsAppPrefix) {
			return addr, nil
		}
		return WhatsAppPrefix + addr, nil
	default:
		return "", fmt.Errorf("channel %q is not supported", channel)
	}
}

// keyedClient is the twilio-go BaseClient for one call: it adds the idempotency
// header of a send, which CreateMessageParams has no field for.
type keyedClient struct {
	*client.Client
	key string
}

func (k *keyedClient) SendRequest(method, rawURL string, data url.Values,
	headers map[string]interface{}, body ...byte) (*http.Response, error) {
	if k.key != "" {
		h := make(map[string]interface{}, len(headers)+1)
		for name, v := range headers {
			h[name] = v
		}
		h[IdempotencyHeader] = k.key
		headers = h
	}
	return k.Client.SendRequest(method, rawURL, data, headers, body...)
}

// callTransport is the http.RoundTripper of one call (a send or a probe). It re-attaches the call's
// context (twilio-go builds requests on context.Background), redirects to BaseURL,
// bounds the answer and remembers its status for classification.
type callTransport struct {
	ctx    context.Context
	trace  providers.WireTrace // whether a request was written in full
	next   http.RoundTripper
	target *url.URL
	status int
	body   io.Closer
}

func (t *callTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	r := req.Clone(t.ctx)
	if t.target != nil {
		r.URL.Scheme = t.target.Scheme
		r.URL.Host = t.target.Host
		r.URL.Path = t.target.Path + r.URL.Path
		r.URL.RawPath = ""
		r.Host = ""
	}
	resp, err := t.next.RoundTrip(r)
	if err != nil {
		return nil, err
	}
	t.status = resp.StatusCode
	t.body = resp.Body
	resp.Body = struct {
		io.Reader
		io.Closer
	}{io.LimitReader(resp.Body, maxResponse), resp.Body}
	return resp, nil
}

func (t *callTransport) close() {
	if t.body != nil {
		t.body.Close()
	}
}
