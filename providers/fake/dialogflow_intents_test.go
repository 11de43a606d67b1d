package fake_test

import (
	"testing"

	"cloud.google.com/go/dialogflow/cx/apiv3/cxpb"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/switchboard-cc/switchboard/providers/fake"
	"github.com/switchboard-cc/switchboard/providers/localnlu"
)

const dfAgentPath = "projects/p/locations/global/agents/a"

func startDialogflowIntents(t *testing.T) (*fake.Dialogflow, *fake.Faults, cxpb.IntentsClient, cxpb.SessionsClient) {
	t.Helper()
	faults := &fake.Faults{}
	df := fake.NewDialogflow(loadDemoAgent(t), faults, "")
	addr, err := df.Start("127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(df.Stop)
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })
	return df, faults, cxpb.NewIntentsClient(conn), cxpb.NewSessionsClient(conn)
}

func TestDialogflowFakeListsTheAgentsIntents(t *testing.T) {
	_, _, c, sessions := startDialogflowIntents(t)
	agent := loadDemoAgent(t)

	resp, err := c.ListIntents(t.Context(), &cxpb.ListIntentsRequest{Parent: dfAgentPath})

	require.NoError(t, err)
	require.Empty(t, resp.GetNextPageToken())
	require.Len(t, resp.GetIntents(), len(agent.Intents)+1)
	for i, in := range agent.Intents {
		got := resp.GetIntents()[i]
		require.Equal(t, in.Name, got.GetDisplayName())
		require.Regexp(t, `^`+dfAgentPath+`/intents/[0-9a-f-]{36}$`, got.GetName())
		require.EqualValues(t, 500000, got.GetPriority())
		require.False(t, got.GetIsFallback())
		require.Len(t, got.GetTrainingPhrases(), len(in.TrainingPhrases))
		for j, tp := range got.GetTrainingPhrases() {
			require.Len(t, tp.GetParts(), 1)
			require.Equal(t, in.TrainingPhrases[j], tp.GetParts()[0].GetText())
			require.NotEmpty(t, tp.GetId())
			require.EqualValues(t, 1, tp.GetRepeatCount())
		}
		if in.Handoff {
			require.Equal(t, map[string]string{localnlu.HandoffLabel: "true"}, got.GetLabels())
		} else {
			require.Empty(t, got.GetLabels())
		}
	}
	last := resp.GetIntents()[len(agent.Intents)]
	require.Equal(t, "Default Negative Intent", last.GetDisplayName())
	require.True(t, last.GetIsFallback())
	require.Equal(t, dfAgentPath+"/intents/00000000-0000-0000-0000-000000000001", last.GetName())

	// The intent names are the ones DetectIntent reports.
	d, err := sessions.DetectIntent(t.Context(), dfRequest(dfAgentPath+"/sessions/s1", "where is my order"))
	require.NoError(t, err)
	require.Equal(t, resp.GetIntents()[1].GetName(), d.GetQueryResult().GetMatch().GetIntent().GetName())
}

func TestDialogflowFakeListsIntentsPageByPage(t *testing.T) {
	_, _, c, _ := startDialogflowIntents(t)
	var names []string
	token := ""
	for pages := 0; ; pages++ {
		require.Less(t, pages, 10, "pagination does not end")
		resp, err := c.ListIntents(t.Context(), &cxpb.ListIntentsRequest{Parent: dfAgentPath, PageSize: 2, PageToken: token})
		require.NoError(t, err)
		require.LessOrEqual(t, len(resp.GetIntents()), 2)
		for _, in := range resp.GetIntents() {
			names = append(names, in.GetDisplayName())
		}
		if token = resp.GetNextPageToken(); token == "" {
			break
		}
	}
	require.Equal(t, []string{"greeting", "order.status", "store.hours", "handoff.human", "switchboard.canary", "Default Negative Intent"}, names)
}

func TestDialogflowFakePartialViewOmitsTrainingPhrases(t *testing.T) {
	_, _, c, _ := startDialogflowIntents(t)

	resp, err := c.ListIntents(t.Context(), &cxpb.ListIntentsRequest{Parent: dfAgentPath, IntentView: cxpb.IntentView_INTENT_VIEW_PARTIAL})

	require.NoError(t, err)
	for _, in := range resp.GetIntents() {
		require.Empty(t, in.GetTrainingPhrases(), in.GetDisplayName())
	}
}

func TestDialogflowFakeRejectsMalformedListIntents(t *testing.T) {
	_, _, c, _ := startDialogflowIntents(t)
	for name, req := range map[string]*cxpb.ListIntentsRequest{
		"no parent":            {},
		"parent with flow":     {Parent: dfAgentPath + "/flows/f"},
		"parent without agent": {Parent: "projects/p/locations/global"},
		"language not enabled": {Parent: dfAgentPath, LanguageCode: "de"},
		"negative page size":   {Parent: dfAgentPath, PageSize: -1},
		"garbage page token":   {Parent: dfAgentPath, PageToken: "zz"},
		"token beyond the end": {Parent: dfAgentPath, PageToken: "99"},
	} {
		_, err := c.ListIntents(t.Context(), req)
		require.Equal(t, codes.InvalidArgument, status.Code(err), "%s: %v", name, err)
	}
	_, err := c.ListIntents(t.Context(), &cxpb.ListIntentsRequest{Parent: dfAgentPath, LanguageCode: "en"})
	require.NoError(t, err)
}

func TestDialogflowFakeListIntentsObeysFaults(t *testing.T) {
	df, faults, c, _ := startDialogflowIntents(t)

	require.NoError(t, faults.Set(fake.Fault{Provider: df.Name(), Mode: fake.ModeDown}))
	_, err := c.ListIntents(t.Context(), &cxpb.ListIntentsRequest{Parent: dfAgentPath})
	require.Equal(t, codes.Unavailable, status.Code(err))

	require.NoError(t, faults.Set(fake.Fault{Provider: df.Name(), Mode: fake.ModeErrors, Status: 403}))
	_, err = c.ListIntents(t.Context(), &cxpb.ListIntentsRequest{Parent: dfAgentPath})
	require.Equal(t, codes.PermissionDenied, status.Code(err))

	require.NoError(t, faults.Set(fake.Fault{Provider: df.Name(), Mode: fake.ModeOK}))
	_, err = c.ListIntents(t.Context(), &cxpb.ListIntentsRequest{Parent: dfAgentPath})
	require.NoError(t, err)
	require.Zero(t, df.Calls(), "ListIntents is not a DetectIntent call")
}
