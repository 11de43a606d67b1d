package dialogflowcx_test

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/dialogflow/cx/apiv3/cxpb"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"

	"github.com/switchboard-cc/switchboard/providers"
	"github.com/switchboard-cc/switchboard/providers/dialogflowcx"
	"github.com/switchboard-cc/switchboard/providers/fake"
	"github.com/switchboard-cc/switchboard/providers/nlu"
	"github.com/switchboard-cc/switchboard/providers/nlu/nlutest"
)

const demoAgent = "../../deploy/agent/demo-agent.json"

type fixture struct {
	client *dialogflowcx.Client
	fake   *fake.Dialogflow
	faults *fake.Faults
	agent  *fake.Agent
}

// newFixture starts the fake on 127.0.0.1 and a client pointed at it. cfg's
// ProjectID, Location, AgentID and Endpoint are filled in.
func newFixture(t *testing.T, cfg dialogflowcx.Config) fixture {
	t.Helper()
	// Were the client to look for Google credentials, this would make it fail.
	t.Setenv("GOOGLE_APPLICATION_CREDENTIALS", "/nonexistent/switchboard-test-credentials.json")

	agent, err := fake.LoadAgent(demoAgent)
	require.NoError(t, err)
	faults := &fake.Faults{}
	df := fake.NewDialogflow(agent, faults, "dialogflowcx")
	addr, err := df.Start("127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(df.Stop)

	cfg.Endpoint, cfg.Insecure = addr, true
	cfg.ProjectID, cfg.Location, cfg.AgentID = "switchboard-test", "us-central1", "demo-agent"
	c, err := dialogflowcx.New(t.Context(), cfg)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return fixture{client: c, fake: df, faults: faults, agent: agent}
}

// neverMS makes the fake slow for ten minutes, far beyond any deadline in these
// tests: a call against it that returns at all was ended by a deadline.
const neverMS = 600_000

// liveness bounds how long a test waits for a call that must give up. It is
// generous, for -race on a loaded machine: it fails a test that hangs, and says
// nothing about how fast the call gave up.
const liveness = 60 * time.Second

// hangingCall is what the fake saw of one DetectIntent that its caller gave up.
type hangingCall struct {
	// remaining is how much of the call's deadline was left when the fake got it.
	// gRPC carries the deadline to the server, so it is never more than what the
	// client set, however loaded the machine: checking it is not a timing check.
	remaining   time.Duration
	hasDeadline bool
	gaveUp      bool // the call's context ended before the fake answered
}

// newHangingFixture is newFixture with the fake slow for ten minutes, served behind
// an interceptor that reports every DetectIntent on the returned channel once the
// fake is done with it.
func newHangingFixture(t *testing.T, cfg dialogflowcx.Config) (fixture, <-chan hangingCall) {
	t.Helper()
	t.Setenv("GOOGLE_APPLICATION_CREDENTIALS", "/nonexistent/switchboard-test-credentials.json")
	agent, err := fake.LoadAgent(demoAgent)
	require.NoError(t, err)
	faults := &fake.Faults{}
	require.NoError(t, faults.Set(fake.Fault{Provider: "dialogflowcx", Mode: fake.ModeSlow, LatencyMS: neverMS}))
	df := fake.NewDialogflow(agent, faults, "dialogflowcx")

	calls := make(chan hangingCall, 16)
	srv := grpc.NewServer(grpc.UnaryInterceptor(func(ctx context.Context, req any, info *grpc.UnaryServerInfo,
		handler grpc.UnaryHandler) (any, error) {
		var c hangingCall
		if dl, ok := ctx.Deadline(); ok {
			c.remaining, c.hasDeadline = time.Until(dl), true
		}
		resp, err := handler(ctx, req)
		c.gaveUp = ctx.Err() != nil
		select {
		case calls <- c:
		default:
		}
		return resp, err
	}))
	cxpb.RegisterSessionsServer(srv, df)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)

	cfg.Endpoint, cfg.Insecure = lis.Addr().String(), true
	cfg.ProjectID, cfg.Location, cfg.AgentID = "switchboard-test", "us-central1", "demo-agent"
	c, err := dialogflowcx.New(t.Context(), cfg)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return fixture{client: c, fake: df, faults: faults, agent: agent}, calls
}

// requireGivesUp runs call against a newHangingFixture fake: call must return
// within liveness although the fake would answer only after ten minutes, the fake
// must have seen the call's context end, and the deadline the call carried must
// have been no longer than bound (so the bound, not some longer default, ended
// it). It returns call's error.
func requireGivesUp(t *testing.T, calls <-chan hangingCall, bound time.Duration, call func() error) error {
	t.Helper()
	errc := make(chan error, 1)
	go func() { errc <- call() }()
	var err error
	select {
	case err = <-errc:
	case <-time.After(liveness):
		t.Fatalf("the call was still waiting after %v on a fake that answers after 10 minutes: no deadline ended it", liveness)
	}
	select {
	case c := <-calls:
		require.True(t, c.gaveUp, "the fake answered, or failed, before the call's context ended")
		require.True(t, c.hasDeadline, "the call reached the fake without a deadline")
		require.LessOrEqual(t, c.remaining, bound, "the call carried a deadline longer than the one that should bound it")
	case <-time.After(liveness):
		t.Fatalf("the call returned %v, but the fake was not done with it within %v", err, liveness)
	}
	return err
}

func TestDetectorContract(t *testing.T) {
	f := newFixture(t, dialogflowcx.Config{})
	nlutest.Run(t, nlutest.Harness{
		Detector: f.client,
		Agent:    f.agent,
		Faults:   f.faults,
		Provider: f.client.Name(),
	})
}

func TestFailureIsASingleAttempt(t *testing.T) {
	f := newFixture(t, dialogflowcx.Config{})
	require.NoError(t, f.faults.Set(fake.Fault{Provider: "dialogflowcx", Mode: fake.ModeDown}))

	_, err := f.client.Detect(t.Context(), nlu.Query{SessionID: "s1", Text: "hello"})

	require.ErrorIs(t, err, providers.ErrUnavailable)
	require.Equal(t, 1, f.fake.Calls(), "the client retried on its own")
}

func TestVendorFailuresAreClassifiedWithTheGRPCCode(t *testing.T) {
	f := newFixture(t, dialogflowcx.Config{})
	for _, tc := range []struct {
		httpStatus int
		kind       error
		code       codes.Code
	}{
		{400, providers.ErrRejected, codes.InvalidArgument},
		{401, providers.ErrRejected, codes.Unauthenticated},
		{403, providers.ErrRejected, codes.PermissionDenied},
		{404, providers.ErrRejected, codes.NotFound},
		{429, providers.ErrRateLimited, codes.ResourceExhausted},
		{500, providers.ErrUnavailable, codes.Unavailable},
		{503, providers.ErrUnavailable, codes.Unavailable},
		{504, providers.ErrTimeout, codes.DeadlineExceeded},
	} {
		require.NoError(t, f.faults.Set(fake.Fault{Provider: "dialogflowcx", Mode: fake.ModeErrors, Status: tc.httpStatus}))

		_, err := f.client.Detect(t.Context(), nlu.Query{SessionID: "s1", Text: "hello"})

		require.ErrorIs(t, err, tc.kind, "HTTP %d", tc.httpStatus)
		var pe *providers.Error
		require.True(t, errors.As(err, &pe))
		require.Equal(t, "dialogflowcx", pe.Provider)
		require.Equal(t, int(tc.code), pe.Status, "HTTP %d", tc.httpStatus)
	}
}

func TestConfigTimeoutBoundsAnAttemptWithoutCallerDeadline(t *testing.T) {
	f, calls := newHangingFixture(t, dialogflowcx.Config{Timeout: 100 * time.Millisecond})

	err := requireGivesUp(t, calls, 100*time.Millisecond, func() error {
		_, err := f.client.Detect(context.Background(), nlu.Query{SessionID: "s1", Text: "hello"})
		return err
	})

	require.ErrorIs(t, err, providers.ErrTimeout)
}

func TestCancelledCallerIsReportedAsTimeout(t *testing.T) {
	f := newFixture(t, dialogflowcx.Config{})
	require.NoError(t, f.faults.Set(fake.Fault{Provider: "dialogflowcx", Mode: fake.ModeSlow, LatencyMS: 10_000}))
	ctx, cancel := context.WithCancel(t.Context())
	time.AfterFunc(50*time.Millisecond, cancel)

	_, err := f.client.Detect(ctx, nlu.Query{SessionID: "s1", Text: "hello"})

	require.ErrorIs(t, err, providers.ErrTimeout)
	require.ErrorIs(t, err, context.Canceled)
}

func TestUnreachableEndpointIsUnavailable(t *testing.T) {
	t.Setenv("GOOGLE_APPLICATION_CREDENTIALS", "/nonexistent/switchboard-test-credentials.json")
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := lis.Addr().String()
	require.NoError(t, lis.Close()) // nothing listens there now

	c, err := dialogflowcx.New(t.Context(), dialogflowcx.Config{
		Endpoint: addr, Insecure: true, ProjectID: "p", Location: "global", AgentID: "a",
	})
	require.NoError(t, err, "dialling is lazy: New succeeds while the vendor is down")
	defer c.Close()

	_, err = c.Detect(t.Context(), nlu.Query{SessionID: "s1", Text: "hello"})

	require.ErrorIs(t, err, providers.ErrUnavailable)
}

func TestLongConversationIDStillMapsToASession(t *testing.T) {
	f := newFixture(t, dialogflowcx.Config{})
	long := "conversation-" + strings.Repeat("0123456789", 6) // beyond Dialogflow's 36

	res, err := f.client.Detect(t.Context(), nlu.Query{SessionID: long, Text: "where is my order"})

	require.NoError(t, err)
	require.Equal(t, "order.status", res.Intent)
}

func TestQueryWithoutSessionIsRejectedWithoutACall(t *testing.T) {
	f := newFixture(t, dialogflowcx.Config{})

	_, err := f.client.Detect(t.Context(), nlu.Query{Text: "hello"})

	require.ErrorIs(t, err, providers.ErrRejected)
	require.Zero(t, f.fake.Calls())
}

func TestHandoffPhraseReturnsHandoffIntent(t *testing.T) {
	f := newFixture(t, dialogflowcx.Config{})

	res, err := f.client.Detect(t.Context(), nlu.Query{SessionID: "s1", Text: "Can I talk to a real person please?"})

	require.NoError(t, err)
	require.Equal(t, "handoff.human", res.Intent)
	in, _ := f.agent.Intent("handoff.human")
	require.Equal(t, in.Reply, res.Reply)
}

func TestConfigValidate(t *testing.T) {
	valid := func() dialogflowcx.Config {
		return dialogflowcx.Config{ProjectID: "p", Location: "us-central1", AgentID: "a"}
	}

	t.Run("fills defaults", func(t *testing.T) {
		c := valid()
		require.NoError(t, c.Validate())
		require.Equal(t, "dialogflowcx", c.Name)
		require.Equal(t, "en", c.LanguageCode)
		require.Equal(t, 5*time.Second, c.Timeout)
		require.Equal(t, "us-central1-dialogflow.googleapis.com:443", c.Endpoint)
	})

	t.Run("global location uses the global endpoint", func(t *testing.T) {
		c := valid()
		c.Location = "global"
		require.NoError(t, c.Validate())
		require.Equal(t, "dialogflow.googleapis.com:443", c.Endpoint)
	})

	t.Run("keeps what is set", func(t *testing.T) {
		c := valid()
		c.Name, c.LanguageCode, c.Timeout, c.Endpoint = "df-eu", "de", time.Second, "localhost:9000"
		require.NoError(t, c.Validate())
		require.Equal(t, "df-eu", c.Name)
		require.Equal(t, "de", c.LanguageCode)
		require.Equal(t, time.Second, c.Timeout)
		require.Equal(t, "localhost:9000", c.Endpoint)
	})

	for _, tc := range []struct {
		name   string
		mutate func(*dialogflowcx.Config)
		field  string
	}{
		{"missing project", func(c *dialogflowcx.Config) { c.ProjectID = "" }, "ProjectID"},
		{"missing location", func(c *dialogflowcx.Config) { c.Location = "" }, "Location"},
		{"missing agent", func(c *dialogflowcx.Config) { c.AgentID = " " }, "AgentID"},
		{"agent with a slash", func(c *dialogflowcx.Config) { c.AgentID = "a/b" }, "AgentID"},
		{"negative timeout", func(c *dialogflowcx.Config) { c.Timeout = -time.Second }, "Timeout"},
		{"insecure without endpoint", func(c *dialogflowcx.Config) { c.Insecure = true }, "Endpoint"},
		{"endpoint without port", func(c *dialogflowcx.Config) { c.Endpoint = "localhost" }, "Endpoint"},
	} {
		t.Run(tc.name+" names "+tc.field, func(t *testing.T) {
			c := valid()
			tc.mutate(&c)
			err := c.Validate()
			require.Error(t, err)
			require.Contains(t, err.Error(), tc.field)
		})
	}
}
