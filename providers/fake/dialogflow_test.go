package fake_test

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/dialogflow/cx/apiv3/cxpb"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/switchboard-cc/switchboard/providers/fake"
)

const dfSession = "projects/p/locations/global/agents/a/sessions/s1"

// startDialogflowFake serves the demo agent on 127.0.0.1 and returns a raw gRPC
// client to it: these tests check the wire, not the Switchboard client.
func startDialogflowFake(t *testing.T) (*fake.Dialogflow, *fake.Faults, cxpb.SessionsClient) {
	t.Helper()
	faults := &fake.Faults{}
	df := fake.NewDialogflow(loadDemoAgent(t), faults, "")
	addr, err := df.Start("127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(df.Stop)
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })
	return df, faults, cxpb.NewSessionsClient(conn)
}

func dfRequest(session, text string) *cxpb.DetectIntentRequest {
	return &cxpb.DetectIntentRequest{
		Session: session,
		QueryInput: &cxpb.QueryInput{
			Input:        &cxpb.QueryInput_Text{Text: &cxpb.TextInput{Text: text}},
			LanguageCode: "en",
		},
	}
}

func TestDialogflowFakeAnswersAMatchedIntent(t *testing.T) {
	_, _, c := startDialogflowFake(t)

	resp, err := c.DetectIntent(t.Context(), dfRequest(dfSession, "where is my order"))

	require.NoError(t, err)
	qr := resp.GetQueryResult()
	require.Equal(t, cxpb.Match_INTENT, qr.GetMatch().GetMatchType())
	require.Equal(t, "order.status", qr.GetMatch().GetIntent().GetDisplayName())
	require.True(t, strings.HasPrefix(qr.GetMatch().GetIntent().GetName(), "projects/p/locations/global/agents/a/intents/"))
	require.InDelta(t, 1.0, qr.GetMatch().GetConfidence(), 1e-6)
	require.Equal(t, "where is my order", qr.GetText())
	require.Equal(t, "en", qr.GetLanguageCode())
	require.NotEmpty(t, qr.GetCurrentPage().GetDisplayName())
	require.Len(t, qr.GetResponseMessages(), 1)
	require.Contains(t, qr.GetResponseMessages()[0].GetText().GetText()[0], "corner-store.example/orders")
}

func TestDialogflowFakeAnswersNoMatchWithTheNoMatchReply(t *testing.T) {
	_, _, c := startDialogflowFake(t)

	resp, err := c.DetectIntent(t.Context(), dfRequest(dfSession, "zxqv blorft"))

	require.NoError(t, err)
	qr := resp.GetQueryResult()
	require.Equal(t, cxpb.Match_NO_MATCH, qr.GetMatch().GetMatchType())
	require.Nil(t, qr.GetMatch().GetIntent())
	require.Equal(t, []string{loadDemoAgent(t).NoMatchReply}, qr.GetResponseMessages()[0].GetText().GetText())
}

func TestDialogflowFakeSignalsLiveAgentHandoff(t *testing.T) {
	_, _, c := startDialogflowFake(t)

	resp, err := c.DetectIntent(t.Context(), dfRequest(dfSession, "talk to a human"))

	require.NoError(t, err)
	msgs := resp.GetQueryResult().GetResponseMessages()
	require.Equal(t, "handoff.human", resp.GetQueryResult().GetMatch().GetIntent().GetDisplayName())
	require.Len(t, msgs, 2)
	require.NotNil(t, msgs[1].GetLiveAgentHandoff())
}

func TestDialogflowFakeAcceptsEnvironmentSessions(t *testing.T) {
	_, _, c := startDialogflowFake(t)

	_, err := c.DetectIntent(t.Context(), dfRequest("projects/p/locations/global/agents/a/environments/prod/sessions/s1", "hi"))

	require.NoError(t, err)
}

func TestDialogflowFakeRejectsMalformedRequests(t *testing.T) {
	_, _, c := startDialogflowFake(t)
	noLanguage := dfRequest(dfSession, "hi")
	noLanguage.QueryInput.LanguageCode = ""

	for name, req := range map[string]*cxpb.DetectIntentRequest{
		"empty session":           dfRequest("", "hi"),
		"session without agent":   dfRequest("projects/p/locations/global/sessions/s1", "hi"),
		"session with extra part": dfRequest(dfSession+"/x", "hi"),
		"session id over 36":      dfRequest("projects/p/locations/global/agents/a/sessions/"+strings.Repeat("x", 37), "hi"),
		"no language":             noLanguage,
		"no text":                 dfRequest(dfSession, "  "),
		"no query input":          {Session: dfSession},
	} {
		_, err := c.DetectIntent(t.Context(), req)
		require.Equal(t, codes.InvalidArgument, status.Code(err), "%s: %v", name, err)
	}
}

func TestDialogflowFakeObeysFaults(t *testing.T) {
	df, faults, c := startDialogflowFake(t)

	require.NoError(t, faults.Set(fake.Fault{Provider: df.Name(), Mode: fake.ModeDown}))
	_, err := c.DetectIntent(t.Context(), dfRequest(dfSession, "hi"))
	require.Equal(t, codes.Unavailable, status.Code(err), "down: %v", err)

	for httpStatus, want := range map[int]codes.Code{
		400: codes.InvalidArgument,
		401: codes.Unauthenticated,
		403: codes.PermissionDenied,
		404: codes.NotFound,
		408: codes.DeadlineExceeded,
		429: codes.ResourceExhausted,
		500: codes.Unavailable,
		502: codes.Unavailable,
		503: codes.Unavailable,
		504: codes.DeadlineExceeded,
	} {
		require.NoError(t, faults.Set(fake.Fault{Provider: df.Name(), Mode: fake.ModeErrors, Status: httpStatus}))
		_, err := c.DetectIntent(t.Context(), dfRequest(dfSession, "hi"))
		require.Equal(t, want, status.Code(err), "HTTP %d: %v", httpStatus, err)
	}

	require.NoError(t, faults.Set(fake.Fault{Provider: df.Name(), Mode: fake.ModeOK}))
	_, err = c.DetectIntent(t.Context(), dfRequest(dfSession, "hi"))
	require.NoError(t, err)
}

func TestDialogflowFakeFaultsAreScopedToItsProviderName(t *testing.T) {
	_, faults, c := startDialogflowFake(t)
	require.NoError(t, faults.Set(fake.Fault{Provider: "some-other-vendor", Mode: fake.ModeDown}))

	_, err := c.DetectIntent(t.Context(), dfRequest(dfSession, "hi"))

	require.NoError(t, err)
}

func TestDialogflowFakeSlowModeAnswersLateOrGivesUpWithTheCaller(t *testing.T) {
	df, faults, c := startDialogflowFake(t)

	require.NoError(t, faults.Set(fake.Fault{Provider: df.Name(), Mode: fake.ModeSlow, LatencyMS: 50}))
	start := time.Now()
	_, err := c.DetectIntent(t.Context(), dfRequest(dfSession, "hi"))
	require.NoError(t, err)
	require.GreaterOrEqual(t, time.Since(start), 50*time.Millisecond)

	require.NoError(t, faults.Set(fake.Fault{Provider: df.Name(), Mode: fake.ModeSlow, LatencyMS: 10_000}))
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	_, err = c.DetectIntent(ctx, dfRequest(dfSession, "hi"))
	require.Equal(t, codes.DeadlineExceeded, status.Code(err))
}

func TestDialogflowFakeCountsCalls(t *testing.T) {
	df, _, c := startDialogflowFake(t)
	for range 3 {
		_, err := c.DetectIntent(t.Context(), dfRequest(dfSession, "hi"))
		require.NoError(t, err)
	}
	require.Equal(t, 3, df.Calls())
}

func TestDialogflowFakeServesAListenerUntilStopped(t *testing.T) {
	df := fake.NewDialogflow(loadDemoAgent(t), nil, "")
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	served := make(chan error, 1)
	go func() { served <- df.Serve(lis) }()

	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	defer conn.Close()
	_, err = cxpb.NewSessionsClient(conn).DetectIntent(t.Context(), dfRequest(dfSession, "hi"))
	require.NoError(t, err)

	df.Stop()
	select {
	case err := <-served:
		require.NoError(t, err)
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return after Stop")
	}
	require.ErrorIs(t, df.Serve(lis), grpc.ErrServerStopped, "a stopped fake serves again")
}
