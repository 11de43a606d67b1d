package llm

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
	"unicode"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/shared"

	"github.com/switchboard-cc/switchboard/internal/turn"
	"github.com/switchboard-cc/switchboard/providers"
	"github.com/switchboard-cc/switchboard/providers/localnlu"
	"github.com/switchboard-cc/switchboard/providers/nlu"
)

// Defaults filled in by Config.Validate.
const (
	DefaultName    = "llm"
	DefaultBaseURL = "https://api.openai.com/v1"
	DefaultTimeout = 5 * time.Second
)

// Limits on the model's answer and on what the prompt carries.
const (
	// MaxReplyLength is the longest reply, in characters, accepted from the model.
	// An approved reply (IntentSpec.Reply, Config.NoMatchReply) must fit too, since
	// the model is told to repeat it.
	MaxReplyLength = 1000
	// MaxExamples is how many training phrases per intent the prompt lists.
	MaxExamples = 5
	// maxResponseBody bounds the HTTP answer read from the server.
	maxResponseBody = 1 << 20
)

// ErrInvalidOutput is the cause of a failure whose model answered, but not with a
// usable classification. It is classified providers.ErrUnavailable: this provider
// failed the turn, another may not.
var ErrInvalidOutput = errors.New("invalid model output")

// IntentSpec is one intent the model may choose.
type IntentSpec struct {
	// Name is what Detect reports, e.g. "order.status". Required, unique, not
	// turn.NoMatch.
	Name string
	// Description says what the intent covers (optional).
	Description string
	// Examples are training phrases; the prompt lists the first MaxExamples.
	Examples []string
	// Reply is the approved reply the model is told to give word for word. Empty
	// lets the model write a short reply itself.
	Reply string
}

// Config locates an OpenAI-compatible chat completions endpoint and the intents to
// classify into.
type Config struct {
	// Name is the provider name errors and fault switches use (default "llm").
	Name string
	// BaseURL is the API root that /chat/completions is appended to (default
	// https://api.openai.com/v1). Examples: Azure OpenAI
	// https://<resource>.openai.azure.com/openai/v1, vLLM http://host:8000/v1,
	// Ollama http://localhost:11434/v1.
	BaseURL string
	// APIKey is sent as "Authorization: Bearer <key>" (optional: local vLLM and
	// Ollama need none). It never appears in errors.
	APIKey string
	// APIKeyHeader, when set, sends APIKey as the raw value of this header instead
	// of a bearer token, e.g. "api-key" for Azure OpenAI key authentication.
	APIKeyHeader string
	// Model is the model (or Azure deployment) name. Required.
	Model string
	// Temperature is sent when set; nil leaves the server's default (some
	// reasoning models accept no other).
	Temperature *float64
	// Timeout bounds one attempt when the caller's context allows longer (default 5s).
	Timeout time.Duration
	// AgentName names the business in the prompt (optional).
	AgentName string
	// Intents are what the model classifies into. Required.
	Intents []IntentSpec
	// NoMatchReply is the reply the model is told to give when no intent fits
	// (optional: without it the model asks the customer to rephrase).
	NoMatchReply string
}

// headerName is what APIKeyHeader may be: an HTTP header name.
var headerName = regexp.MustCompile(`^[A-Za-z0-9-]+$`)

// Validate checks the config and fills in defaults. Errors name the offending field
// and never contain the API key.
func (c *Config) Validate() error {
	if c.Name == "" {
		c.Name = DefaultName
	}
	if c.BaseURL == "" {
		c.BaseURL = DefaultBaseURL
	}
	u, err := url.Parse(c.BaseURL)
	switch {
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		return fmt.Errorf("llm: BaseURL %q is not an http(s) URL", redactURL(c.BaseURL))
	case u.User != nil:
		return errors.New("llm: BaseURL must not carry credentials: set APIKey")
	case u.RawQuery != "" || u.Fragment != "":
		return fmt.Errorf("llm: BaseURL %q must not have a query or fragment", c.BaseURL)
	}
	if strings.IndexFunc(c.APIKey, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) >= 0 {
		return errors.New("llm: APIKey must not contain spaces or control characters")
	}
	if c.APIKeyHeader != "" && !headerName.MatchString(c.APIKeyHeader) {
		return fmt.Errorf("llm: APIKeyHeader %q is not a header name", c.APIKeyHeader)
	}
	if strings.TrimSpace(c.Model) == "" {
		return errors.New("llm: Model is required")
	}
	if t := c.Temperature; t != nil && (*t < 0 || *t > 2) {
		return fmt.Errorf("llm: Temperature %v must be between 0 and 2", *t)
	}
	switch {
	case c.Timeout < 0:
		return fmt.Errorf("llm: Timeout %v must not be negative", c.Timeout)
	case c.Timeout == 0:
		c.Timeout = DefaultTimeout
	}
	if len([]rune(c.NoMatchReply)) > MaxReplyLength {
		return fmt.Errorf("llm: NoMatchReply is longer than %d characters", MaxReplyLength)
	}
	if len(c.Intents) == 0 {
		return errors.New("llm: Intents is empty")
	}
	seen := map[string]bool{}
	for i, in := range c.Intents {
		where := fmt.Sprintf("llm: Intents[%d]", i)
		switch {
		case strings.TrimSpace(in.Name) == "":
			return fmt.Errorf("%s: Name is required", where)
		case in.Name != strings.TrimSpace(in.Name):
			return fmt.Errorf("%s: Name %q has surrounding spaces", where, in.Name)
		case in.Name == turn.NoMatch:
			return fmt.Errorf("%s: Name %q is reserved for no match", where, turn.NoMatch)
		case seen[in.Name]:
			return fmt.Errorf("%s: Name %q is a duplicate", where, in.Name)
		case len([]rune(in.Reply)) > MaxReplyLength:
			return fmt.Errorf("%s (%q): Reply is longer than %d characters", where, in.Name, MaxReplyLength)
		}
		seen[in.Name] = true
	}
	return nil
}

// IntentsOf turns a local agent's intents into IntentSpecs: the same names,
// descriptions, training phrases and approved replies the other NLU providers use.
func IntentsOf(a *localnlu.Agent) []IntentSpec {
	out := make([]IntentSpec, 0, len(a.Intents))
	for _, in := range a.Intents {
		out = append(out, IntentSpec{
			Name:        in.Name,
			Description: in.Description,
			Examples:    in.TrainingPhrases,
			Reply:       in.Reply,
		})
	}
	return out
}

// Client detects intents by asking a chat model. Safe for concurrent use.
type Client struct {
	cfg         Config
	completions openai.ChatCompletionService
	system      string
	known       map[string]bool
}

var (
	_ nlu.Detector                              = (*Client)(nil)
	_ interface{ Probe(context.Context) error } = (*Client)(nil)
)

// ProbeText is the customer message a probe asks the model to classify.
const ProbeText = "switchboard health probe"

// New validates cfg and returns a client. It does not connect: the first Detect
// does. The client reads no OPENAI_* environment variables; cfg is all it uses.
func New(cfg Config) (*Client, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	opts := []option.RequestOption{
		option.WithBaseURL(cfg.BaseURL),
		option.WithHTTPClient(&http.Client{Transport: limitedTransport{http.DefaultTransport}}),
		// The SDK retries twice by default. Switchboard decides failover itself, so
		// each Detect is a single attempt.
		option.WithMaxRetries(0),
	}
	switch {
	case cfg.APIKey == "":
	case cfg.APIKeyHeader == "":
		opts = append(opts, option.WithAPIKey(cfg.APIKey))
	default:
		opts = append(opts, option.WithHeaderDel("Authorization"), option.WithHeader(cfg.APIKeyHeader, cfg.APIKey))
	}
	known := map[string]bool{turn.NoMatch: true}
	for _, in := range cfg.Intents {
		known[in.Name] = true
	}
	return &Client{
		cfg:         cfg,
		completions: openai.NewChatCompletionService(opts...),
		system:      systemPrompt(cfg),
		known:       known,
	}, nil
}

// Name is the provider name.
func (c *Client) Name() string { return c.cfg.Name }

// SystemPrompt is the system message every request carries.
func (c *Client) SystemPrompt() string { return c.system }

// Detect asks the model to classify q.Text and returns its intent (turn.NoMatch when
// none fits), its reply and its confidence. The model is stateless here: the
// session id is not needed and not sent. An answer that is not a valid
// classification fails with providers.ErrUnavailable wrapping ErrInvalidOutput.
func (c *Client) Detect(ctx context.Context, q nlu.Query) (nlu.Result, error) {
	text := strings.TrimSpace(q.Text)
	if text == "" {
		return nlu.Result{}, providers.Classify(c.cfg.Name, providers.ErrRejected, 0, errors.New("query has no text"))
	}
	// WithTimeout keeps the caller's deadline when it is the earlier one.
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()

	params := openai.ChatCompletionNewParams{
		Model: shared.ChatModel(c.cfg.Model),
		Messages: []openai.ChatCompletionMessageParamUnion{
			openai.SystemMessage(c.system),
			openai.UserMessage(text),
		},
		ResponseFormat: openai.ChatCompletionNewParamsResponseFormatUnion{
			OfJSONObject: &shared.ResponseFormatJSONObjectParam{},
		},
	}
	if c.cfg.Temperature != nil {
		params.Temperature = openai.Float(*c.cfg.Temperature)
	}
	var resp *http.Response
	completion, err := c.completions.New(ctx, params, option.WithResponseInto(&resp))
	if err != nil {
		return nlu.Result{}, c.classify(ctx, resp, err)
	}
	res, err := c.parse(completion)
	if err != nil {
		return nlu.Result{}, providers.Classify(c.cfg.Name, providers.ErrUnavailable, 0, err)
	}
	return res, nil
}

// Probe checks that the model classifies: one Detect of ProbeText, with the same
// system prompt, parameters, single attempt, timeout and validation, so an answer
// that is not a valid classification is unhealthy (ErrUnavailable wrapping
// ErrInvalidOutput) and any valid one, no-match included, is healthy.
//
// It costs one classification's tokens per probe, and probes run only while the
// breaker is open or half-open. Listing models (GET /models) would be free, but it
// says nothing about what trips this provider: completions failing or timing out
// while the rest of the API answers, a model turned away by rate limits, a model
// that stopped keeping to the format. Since a probe success counts as a trial
// success towards closing the breaker, a probe that cannot see those would bring the
// provider back for real turns to fail on.
func (c *Client) Probe(ctx context.Context) error {
	_, err := c.Detect(ctx, nlu.Query{Text: ProbeText})
	return err
}

// classify turns a failed call into a providers.Error carrying the HTTP status.
func (c *Client) classify(ctx context.Context, resp *http.Response, err error) error {
	var (
		kind   error
		status int
		apiErr *openai.Error
	)
	switch {
	case ctx.Err() != nil || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled):
		// Out of time, whoever's clock ran out. A cancelled caller is reported the
		// same way: the attempt's outcome is unknown.
		kind = providers.ErrTimeout
		if ctx.Err() != nil && !errors.Is(err, ctx.Err()) {
			err = fmt.Errorf("%w: %w", ctx.Err(), err)
		}
	case errors.As(err, &apiErr):
		status, kind = apiErr.StatusCode, providers.KindOfHTTPStatus(apiErr.StatusCode)
		// The SDK's own message dumps the request URL and the raw body; this one
		// keeps what helps an operator.
		err = fmt.Errorf("chat completions answered HTTP %d: %s", status, describeAPIError(apiErr))
	case resp != nil && resp.StatusCode >= 400:
		// An error status whose body was not OpenAI's error JSON (a proxy's page).
		status, kind = resp.StatusCode, providers.KindOfHTTPStatus(resp.StatusCode)
		err = fmt.Errorf("chat completions answered HTTP %d without an API error body", status)
	default:
		// Refused or dropped connections, TLS and DNS failures, an unreadable 200.
		kind = providers.ErrUnavailable
	}
	return providers.Classify(c.cfg.Name, kind, status, c.redact(err))
}

func describeAPIError(e *openai.Error) string {
	var parts []string
	if e.Type != "" {
		parts = append(parts, "type "+e.Type)
	}
	if e.Code != "" {
		parts = append(parts, "code "+e.Code)
	}
	msg := truncate(e.Message, 300)
	if msg == "" {
		msg = http.StatusText(e.StatusCode)
	}
	if len(parts) == 0 {
		return msg
	}
	return fmt.Sprintf("%s (%s)", msg, strings.Join(parts, ", "))
}

// redact keeps the API key out of an error a server or transport produced, should
// it ever echo it: the message is rewritten, and errors.Is still sees the causes.
func (c *Client) redact(err error) error {
	if c.cfg.APIKey == "" || !strings.Contains(err.Error(), c.cfg.APIKey) {
		return err
	}
	return redactedError{msg: strings.ReplaceAll(err.Error(), c.cfg.APIKey, "[redacted]"), cause: err}
}

// redactedError does not unwrap, so the original message cannot be reached; Is
// answers for the original chain.
type redactedError struct {
	msg   string
	cause error
}

func (e redactedError) Error() string        { return e.msg }
func (e redactedError) Is(target error) bool { return errors.Is(e.cause, target) }

// redactURL drops any userinfo from a URL for an error message.
func redactURL(s string) string {
	if u, err := url.Parse(s); err == nil && u.User != nil {
		u.User = url.User("redacted")
		return u.String()
	}
	if strings.Contains(s, "@") {
		return "(unparsable URL)"
	}
	return s
}

func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n]) + "…"
}

// limitedTransport bounds the response bodies read from the server, so a
// misbehaving endpoint cannot make Detect buffer without limit.
type limitedTransport struct{ base http.RoundTripper }

func (t limitedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	resp.Body = &limitedBody{rc: resp.Body, left: maxResponseBody}
	return resp, nil
}

type limitedBody struct {
	rc   io.ReadCloser
	left int64
}

var errBodyTooLarge = fmt.Errorf("response body is larger than %d bytes", maxResponseBody)

func (b *limitedBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		// At the limit: fine if the body ends here, an error if it goes on.
		var one [1]byte
		if n, err := b.rc.Read(one[:]); n == 0 && err != nil {
			return 0, err
		}
		return 0, errBodyTooLarge
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.rc.Read(p)
	b.left -= int64(n)
	return n, err
}

func (b *limitedBody) Close() error { return b.rc.Close() }
