package localnlu_test

import (
	"os"
	"path/filepath"
	"testing"

	cx "cloud.google.com/go/dialogflow/cx/apiv3"
	"github.com/stretchr/testify/require"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/switchboard-cc/switchboard/providers/fake"
	"github.com/switchboard-cc/switchboard/providers/localnlu"
)

const cxAgent = "projects/switchboard-test/locations/us-central1/agents/demo-agent"

// startCX serves cxAgentModel from the fake Dialogflow CX server and returns the
// official Intents client pointed at it.
func startCX(t *testing.T, cxAgentModel *localnlu.Agent) (*cx.IntentsClient, *fake.Faults) {
	t.Helper()
	t.Setenv("GOOGLE_APPLICATION_CREDENTIALS", "/nonexistent/switchboard-test-credentials.json")
	faults := &fake.Faults{}
	df := fake.NewDialogflow(cxAgentModel, faults, "")
	addr, err := df.Start("127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(df.Stop)
	c, err := cx.NewIntentsClient(t.Context(),
		option.WithEndpoint(addr),
		option.WithoutAuthentication(),
		option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())),
	)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	// A refresh is a background job; the tests want failures at once.
	c.CallOptions.ListIntents = nil
	return c, faults
}

func parse(t *testing.T, js string) *localnlu.Agent {
	t.Helper()
	a, err := localnlu.ParseAgent([]byte(js))
	require.NoError(t, err)
	return a
}

func TestExportOfTheDemoAgentReproducesIt(t *testing.T) {
	demo := loadDemoAgent(t)
	client, _ := startCX(t, demo)

	res, err := localnlu.Export(t.Context(), client, localnlu.ExportOptions{Agent: cxAgent, Base: demo})

	require.NoError(t, err)
	require.Empty(t, res.Omitted, "the Default Negative Intent is not an omission")
	require.Empty(t, res.Removed)
	require.Equal(t, demo.DisplayName, res.Agent.DisplayName)
	require.Equal(t, demo.LanguageCode, res.Agent.LanguageCode)
	require.Equal(t, demo.NoMatchReply, res.Agent.NoMatchReply)
	require.Equal(t, demo.Intents, res.Agent.Intents)
	intent, _, _, matched := res.Agent.Match("where's my parcel")
	require.True(t, matched)
	require.Equal(t, "order.status", intent)
}

func TestExportTakesPhrasesFromCXAndRepliesFromTheLocalFile(t *testing.T) {
	// In CX: greeting has new phrases, store.hours is new, handoff.human is
	// labelled for handoff, and returns is gone.
	inCX := parse(t, `{"display_name": "cx", "no_match_reply": "(not exported)", "intents": [
		{"name": "greeting", "training_phrases": ["howdy", "good day", "howdy"], "reply": "(CX keeps replies elsewhere)", "description": " Says hello. "},
		{"name": "store.hours", "training_phrases": ["when are you open"], "reply": "x"},
		{"name": "handoff.human", "training_phrases": ["talk to a human"], "reply": "x", "handoff": true}
	]}`)
	local := parse(t, `{"display_name": "Local", "no_match_reply": "Sorry?", "intents": [
		{"name": "handoff.human", "training_phrases": ["human"], "reply": "Passing you on."},
		{"name": "returns", "training_phrases": ["return an item"], "reply": "Returns are free."},
		{"name": "greeting", "training_phrases": ["hi"], "reply": "Hello & welcome!"}
	]}`)
	client, _ := startCX(t, inCX)

	res, err := localnlu.Export(t.Context(), client, localnlu.ExportOptions{Agent: cxAgent, Base: local})

	require.NoError(t, err)
	require.Equal(t, []localnlu.Omission{{Intent: "store.hours", Reason: "no reply in the local agent"}}, res.Omitted)
	require.Equal(t, []string{"returns"}, res.Removed)
	a := res.Agent
	require.Equal(t, "Local", a.DisplayName)
	require.Equal(t, "Sorry?", a.NoMatchReply)
	require.Equal(t, []localnlu.Intent{
		{Name: "handoff.human", TrainingPhrases: []string{"talk to a human"}, Reply: "Passing you on.", Handoff: true},
		{Name: "greeting", TrainingPhrases: []string{"howdy", "good day"}, Reply: "Hello & welcome!", Description: "Says hello."},
	}, a.Intents, "Base order, CX phrases (deduplicated), local replies, CX label and description")

	_, _, _, matched := a.Match("when are you open")
	require.False(t, matched, "an intent without a reply is left to no match")
}

func TestExportFailsRatherThanEmptyTheAgent(t *testing.T) {
	client, _ := startCX(t, loadDemoAgent(t))
	other := parse(t, `{"display_name": "x", "no_match_reply": "?", "intents": [{"name": "a", "training_phrases": ["apple"], "reply": "A"}]}`)

	res, err := localnlu.Export(t.Context(), client, localnlu.ExportOptions{Agent: cxAgent, Base: other})

	require.ErrorContains(t, err, "no intent")
	require.Nil(t, res.Agent)
	require.Equal(t, []string{"a"}, res.Removed)
	require.Len(t, res.Omitted, 5) // the demo agent's intents
}

func TestExportChecksItsOptions(t *testing.T) {
	client, _ := startCX(t, loadDemoAgent(t))

	_, err := localnlu.Export(t.Context(), client, localnlu.ExportOptions{Agent: "projects/p/agents/a", Base: loadDemoAgent(t)})
	require.ErrorContains(t, err, "Agent")

	_, err = localnlu.Export(t.Context(), client, localnlu.ExportOptions{Agent: cxAgent})
	require.ErrorContains(t, err, "Base is required")

	_, err = localnlu.Export(t.Context(), client, localnlu.ExportOptions{Agent: cxAgent, Base: loadDemoAgent(t), LanguageCode: "de"})
	require.ErrorContains(t, err, "not enabled", "the vendor's refusal comes through")
}

func TestRefreshRewritesTheLocalFile(t *testing.T) {
	inCX := parse(t, `{"display_name": "cx", "no_match_reply": "?", "intents": [
		{"name": "order.status", "training_phrases": ["where is my order", "order tracking"], "reply": "x"}
	]}`)
	client, _ := startCX(t, inCX)
	path := filepath.Join(t.TempDir(), "agent.json")
	require.NoError(t, os.WriteFile(path, []byte(`{"display_name": "Local", "no_match_reply": "Sorry?",
		"intents": [{"name": "order.status", "training_phrases": ["where is my order"], "reply": "See corner-store.example/orders & your email."}]}`), 0o600))

	res, err := localnlu.Refresh(t.Context(), client, path, cxAgent)

	require.NoError(t, err)
	loaded, err := localnlu.LoadAgent(path)
	require.NoError(t, err)
	require.Equal(t, res.Agent.Intents, loaded.Intents)
	require.Equal(t, []string{"where is my order", "order tracking"}, loaded.Intents[0].TrainingPhrases)
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Contains(t, string(b), "corner-store.example/orders & your email", "replies are written as written")
	st, err := os.Stat(path)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o644), st.Mode().Perm())
	entries, err := os.ReadDir(filepath.Dir(path))
	require.NoError(t, err)
	require.Len(t, entries, 1, "the temporary file is gone")
}

func TestRefreshLeavesTheFileAloneWhenCXFails(t *testing.T) {
	client, faults := startCX(t, loadDemoAgent(t))
	require.NoError(t, faults.Set(fake.Fault{Provider: fake.DialogflowProvider, Mode: fake.ModeDown}))
	path := filepath.Join(t.TempDir(), "agent.json")
	before, err := os.ReadFile(demoAgentPath)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(path, before, 0o600))

	_, err = localnlu.Refresh(t.Context(), client, path, cxAgent)

	require.ErrorContains(t, err, "list intents")
	after, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Equal(t, before, after)
}

func TestRefreshNeedsTheLocalFile(t *testing.T) {
	client, _ := startCX(t, loadDemoAgent(t))

	_, err := localnlu.Refresh(t.Context(), client, filepath.Join(t.TempDir(), "missing.json"), cxAgent)

	require.ErrorIs(t, err, os.ErrNotExist)
}

func TestMarshalAgentRoundTrips(t *testing.T) {
	demo := loadDemoAgent(t)
	b, err := localnlu.MarshalAgent(demo)
	require.NoError(t, err)
	again, err := localnlu.ParseAgent(b)
	require.NoError(t, err)
	require.Equal(t, demo.Intents, again.Intents)
	require.Equal(t, demo.NoMatchReply, again.NoMatchReply)
}
