package dialogflowcx

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	cx "cloud.google.com/go/dialogflow/cx/apiv3"
	"cloud.google.com/go/dialogflow/cx/apiv3/cxpb"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/switchboard-cc/switchboard/internal/turn"
	"github.com/switchboard-cc/switchboard/providers"
	"github.com/switchboard-cc/switchboard/providers/nlu"
)

// Defaults filled in by Config.Validate.
const (
	DefaultName         = "dialogflowcx"
	DefaultLanguageCode = "en"
	DefaultTimeout      = 5 * time.Second
)

// Config locates a Dialogflow CX agent and bounds calls to it.
type Config struct {
	// Name is the provider name errors and fault switches use (default "dialogflowcx").
	Name string
	// Endpoint is host:port. Empty means Google's endpoint for Location:
	// {location}-dialogflow.googleapis.com:443, or dialogflow.googleapis.com:443 for
	// "global". A regional agent is only reachable through its regional endpoint.
	Endpoint string
	// Insecure dials Endpoint in plaintext without credentials: for the local fake only.
	Insecure bool

	ProjectID    string
	Location     string // e.g. "global", "us-central1"
	AgentID      string
	LanguageCode string // used when a query has none (default "en")
	// Timeout bounds one attempt when the caller's context allows longer (default 5s).
	Timeout time.Duration
}

// Validate checks the config and fills in defaults, Endpoint included. Errors name
// the offending field.
func (c *Config) Validate() error {
	if c.Name == "" {
		c.Name = DefaultName
	}
	for _, f := range []struct{ name, value string }{
		{"ProjectID", c.ProjectID},
		{"Location", c.Location},
		{"AgentID", c.AgentID},
	} {
		switch {
		case strings.TrimSpace(f.value) == "":
			return fmt.Errorf("dialogflowcx: %s is required", f.name)
		case strings.ContainsAny(f.value, "/ "):
			// These are segments of a resource path.
			return fmt.Errorf("dialogflowcx: %s %q must not contain '/' or spaces", f.name, f.value)
		}
	}
	if c.LanguageCode == "" {
		c.LanguageCode = DefaultLanguageCode
	}
	switch {
	case c.Timeout < 0:
		return fmt.Errorf("dialogflowcx: Timeout %v must not be negative", c.Timeout)
	case c.Timeout == 0:
		c.Timeout = DefaultTimeout
	}
	if c.Endpoint == "" {
		if c.Insecure {
			return errors.New("dialogflowcx: Insecure needs an explicit Endpoint: Google is not served in plaintext")
		}
		c.Endpoint = regionalEndpoint(c.Location)
	}
	if _, port, err := net.SplitHostPort(c.Endpoint); err != nil || port == "" {
		return fmt.Errorf("dialogflowcx: Endpoint %q is not host:port", c.Endpoint)
	}
	return nil
}

func regionalEndpoint(location string) string {
	if location == "global" {
		return "dialogflow.googleapis.com:443"
	}
	return location + "-dialogflow.googleapis.com:443"
}

// Client detects intents with one Dialogflow CX agent. Safe for concurrent use.
type Client struct {
	cfg      Config
	sessions *cx.SessionsClient
}

var (
	_ nlu.Detector                              = (*Client)(nil)
	_ interface{ Probe(context.Context) error } = (*Client)(nil)
)

// The probe's fixed query: one session for every probe, so probes do not spread
// sessions over the agent, and a text no intent is trained on.
const (
	ProbeSessionID = "switchboard-probe"
	ProbeText      = "switchboard health probe"
)

// New validates cfg and dials the agent's endpoint. Unless cfg.Insecure, the client
// authenticates with Application Default Credentials.
func New(ctx context.Context, cfg Config) (*Client, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	opts := []option.ClientOption{option.WithEndpoint(cfg.Endpoint)}
	if cfg.Insecure {
		opts = append(opts,
			option.WithoutAuthentication(),
			option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())),
		)
	}
	sessions, err := cx.NewSessionsClient(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("dialogflowcx: connect to %s: %w", cfg.Endpoint, err)
	}
	// The default call options retry UNAVAILABLE with backoff for up to 220s.
	// Switchboard decides failover itself, so each Detect is a single attempt.
	sessions.CallOptions.DetectIntent = nil
	return &Client{cfg: cfg, sessions: sessions}, nil
}

// Close closes the connection to Dialogflow.
func (c *Client) Close() error { return c.sessions.Close() }

// Name is the provider name.
func (c *Client) Name() string { return c.cfg.Name }

// Detect sends q to the agent in the session q.SessionID and returns the matched
// intent (turn.NoMatch when none) and the agent's text reply.
func (c *Client) Detect(ctx context.Context, q nlu.Query) (nlu.Result, error) {
	if q.SessionID == "" {
		return nlu.Result{}, providers.Classify(c.cfg.Name, providers.ErrRejected, 0, errors.New("query has no session id"))
	}
	lang := q.LanguageCode
	if lang == "" {
		lang = c.cfg.LanguageCode
	}
	// WithTimeout keeps the caller's deadline when it is the earlier one.
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()

	resp, err := c.sessions.DetectIntent(ctx, &cxpb.DetectIntentRequest{
		Session: fmt.Sprintf("projects/%s/locations/%s/agents/%s/sessions/%s",
			c.cfg.ProjectID, c.cfg.Location, c.cfg.AgentID, sessionID(q.SessionID)),
		QueryInput: &cxpb.QueryInput{
			Input:        &cxpb.QueryInput_Text{Text: &cxpb.TextInput{Text: q.Text}},
			LanguageCode: lang,
		},
	})
	if err != nil {
		return nlu.Result{}, c.classify(ctx, err)
	}
	return result(resp.GetQueryResult()), nil
}

// Probe checks that the agent answers: one DetectIntent of ProbeText in the session
// ProbeSessionID, in Config.LanguageCode, a single attempt bounded by Config.Timeout
// or ctx's earlier deadline, as Detect makes. Any answer is a success, a no-match
// included; failures are classified as Detect's are.
func (c *Client) Probe(ctx context.Context) error {
	_, err := c.Detect(ctx, nlu.Query{SessionID: ProbeSessionID, Text: ProbeText})
	return err
}

// sessionID returns id when Dialogflow accepts it as is (at most 36 characters, no
// path separators) and otherwise a stable 32-character digest of it, so a long
// conversation id still maps to one Dialogflow session.
func sessionID(id string) string {
	if len(id) <= 36 && !strings.ContainsAny(id, "/?#% ") {
		return id
	}
	sum := sha256.Sum256([]byte(id))
	return hex.EncodeToString(sum[:16])
}

func result(qr *cxpb.QueryResult) nlu.Result {
	var texts []string
	for _, m := range qr.GetResponseMessages() {
		for _, t := range m.GetText().GetText() {
			if t != "" {
				texts = append(texts, t)
			}
		}
	}
	r := nlu.Result{
		Intent:     turn.NoMatch,
		Reply:      strings.Join(texts, "\n"),
		Confidence: qr.GetMatch().GetConfidence(),
	}
	if m := qr.GetMatch(); m.GetMatchType() != cxpb.Match_NO_MATCH && m.GetIntent().GetDisplayName() != "" {
		r.Intent = m.GetIntent().GetDisplayName()
	}
	return r
}

// classify turns a failed call into a providers.Error carrying the gRPC code.
func (c *Client) classify(ctx context.Context, err error) error {
	code := status.Code(err)
	var kind error
	switch {
	case ctx.Err() != nil || code == codes.DeadlineExceeded || code == codes.Canceled:
		// Out of time, whoever's clock ran out. A cancelled caller is reported the
		// same way: the attempt's outcome is unknown.
		kind = providers.ErrTimeout
	default:
		switch code {
		case codes.ResourceExhausted:
			kind = providers.ErrRateLimited
		case codes.InvalidArgument, codes.NotFound, codes.PermissionDenied, codes.Unauthenticated,
			codes.FailedPrecondition, codes.OutOfRange, codes.AlreadyExists, codes.Unimplemented:
			// The same request to this agent will fail the same way.
			kind = providers.ErrRejected
		default:
			// UNAVAILABLE, INTERNAL, UNKNOWN, ABORTED, DATA_LOSS and anything newer:
			// the vendor failed, another attempt or provider may succeed.
			kind = providers.ErrUnavailable
		}
	}
	if ctx.Err() != nil {
		err = fmt.Errorf("%w: %w", ctx.Err(), err)
	}
	return providers.Classify(c.cfg.Name, kind, int(code), err)
}
