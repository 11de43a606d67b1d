package dialogflowcx_test

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"cloud.google.com/go/dialogflow/cx/apiv3/cxpb"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"

	"github.com/switchboard-cc/switchboard/providers"
	"github.com/switchboard-cc/switchboard/providers/dialogflowcx"
	"github.com/switchboard-cc/switchboard/providers/fake"
)

func TestProbeIsOneFixedDetectIntentOverTheWire(t *testing.T) {
	t.Setenv("GOOGLE_APPLICATION_CREDENTIALS", "/nonexistent/switchboard-test-credentials.json")
	agent, err := fake.LoadAgent(demoAgent)
	require.NoError(t, err)
	df := fake.NewDialogflow(agent, nil, "dialogflowcx")

	var (
		mu   sync.Mutex
		seen []*cxpb.DetectIntentRequest
	)
	srv := grpc.NewServer(grpc.UnaryInterceptor(func(ctx context.Context, req any, info *grpc.UnaryServerInfo,
		handler grpc.UnaryHandler) (any, error) {
		if r, ok := req.(*cxpb.DetectIntentRequest); ok {
			mu.Lock()
			seen = append(seen, r)
			mu.Unlock()
		}
		return handler(ctx, req)
	}))
	cxpb.RegisterSessionsServer(srv, df)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)

	c, err := dialogflowcx.New(t.Context(), dialogflowcx.Config{
		Endpoint: lis.Addr().String(), Insecure: true,
		ProjectID: "switchboard-test", Location: "us-central1", AgentID: "demo-agent", LanguageCode: "de",
	})
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })

	require.NoError(t, c.Probe(t.Context()), "a probe is healthy whatever intent matches")

	mu.Lock()
	defer mu.Unlock()
	require.Len(t, seen, 1)
	require.Equal(t, "projects/switchboard-test/locations/us-central1/agents/demo-agent/sessions/switchboard-probe",
		seen[0].GetSession())
	require.Equal(t, "switchboard health probe", seen[0].GetQueryInput().GetText().GetText())
	require.Equal(t, "de", seen[0].GetQueryInput().GetLanguageCode())
}

func TestProbeFollowsTheFakesFaults(t *testing.T) {
	f := newFixture(t, dialogflowcx.Config{})

	require.NoError(t, f.client.Probe(t.Context()), "fake ok")

	require.NoError(t, f.faults.Set(fake.Fault{Provider: "dialogflowcx", Mode: fake.ModeDown}))
	require.ErrorIs(t, f.client.Probe(t.Context()), providers.ErrUnavailable)

	require.NoError(t, f.faults.Set(fake.Fault{Provider: "dialogflowcx", Mode: fake.ModeErrors, Status: 429}))
	require.ErrorIs(t, f.client.Probe(t.Context()), providers.ErrRateLimited)

	require.NoError(t, f.faults.Set(fake.Fault{Provider: "dialogflowcx", Mode: fake.ModeErrors, Status: 403}))
	require.ErrorIs(t, f.client.Probe(t.Context()), providers.ErrRejected)

	require.NoError(t, f.faults.Set(fake.Fault{Provider: "dialogflowcx", Mode: fake.ModeOK}))
	require.NoError(t, f.client.Probe(t.Context()), "fake back")
	require.Equal(t, 5, f.fake.Calls(), "each probe is exactly one attempt")
}

func TestProbeIsBoundedByTheConfiguredTimeout(t *testing.T) {
	f, calls := newHangingFixture(t, dialogflowcx.Config{Timeout: 100 * time.Millisecond})

	err := requireGivesUp(t, calls, 100*time.Millisecond, func() error { return f.client.Probe(context.Background()) })

	require.ErrorIs(t, err, providers.ErrTimeout)
}
