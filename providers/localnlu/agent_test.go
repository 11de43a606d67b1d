package localnlu_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-cc/switchboard/providers/localnlu"
)

const demoAgentPath = "../../deploy/agent/demo-agent.json"

func loadDemoAgent(t *testing.T) *localnlu.Agent {
	t.Helper()
	a, err := localnlu.LoadAgent(demoAgentPath)
	require.NoError(t, err)
	return a
}

func TestDemoAgentUnderstandsCustomers(t *testing.T) {
	a := loadDemoAgent(t)
	require.Equal(t, "en", a.LanguageCode)

	for text, want := range map[string]string{
		"hi":                                  "greeting",
		"Hello there!":                        "greeting",
		"Good morning :)":                     "greeting",
		"Where's my order?":                   "order.status",
		"WHERE IS MY ORDER":                   "order.status",
		"can you track my parcel":             "order.status",
		"hi, where is my package? it's late":  "order.status",
		"when do you open on Sundays?":        "store.hours",
		"what are your opening hours":         "store.hours",
		"are you open today":                  "store.hours",
		"I want to talk to a human":           "handoff.human",
		"agent please":                        "handoff.human",
		"can I speak to someone":              "handoff.human",
		"customer service representative pls": "handoff.human",
	} {
		intent, reply, confidence, matched := a.Match(text)
		require.True(t, matched, "%q matched nothing", text)
		require.Equal(t, want, intent, "%q", text)
		in, ok := a.Intent(want)
		require.True(t, ok)
		require.Equal(t, in.Reply, reply, "%q", text)
		require.GreaterOrEqual(t, confidence, float32(localnlu.MatchThreshold), "%q", text)
		require.LessOrEqual(t, confidence, float32(1), "%q", text)
	}
}

func TestDemoAgentDoesNotGuessAtUnrelatedText(t *testing.T) {
	a := loadDemoAgent(t)
	for _, text := range []string{
		"zxqv blorft wumpus",
		"what's the weather like",
		"I want to return a jumper",
		"",
		"?!",
	} {
		intent, reply, confidence, matched := a.Match(text)
		require.False(t, matched, "%q matched %q", text, intent)
		require.Empty(t, intent)
		require.Equal(t, a.NoMatchReply, reply)
		require.Zero(t, confidence)
	}
}

func TestExactTrainingPhraseMatchesWithFullConfidence(t *testing.T) {
	a := loadDemoAgent(t)
	for _, in := range a.Intents {
		for _, p := range in.TrainingPhrases {
			intent, _, confidence, matched := a.Match(p)
			require.True(t, matched, "%q", p)
			require.Equal(t, in.Name, intent, "%q", p)
			require.InDelta(t, 1.0, confidence, 1e-6, "%q", p)
		}
	}
}

func TestDemoAgentMarksOnlyHumanHandoff(t *testing.T) {
	a := loadDemoAgent(t)
	for _, in := range a.Intents {
		require.Equal(t, in.Name == "handoff.human", in.Handoff, in.Name)
	}
}

func TestParseAgentRejectsBrokenAgents(t *testing.T) {
	for _, tc := range []struct {
		name, json, wantErr string
	}{
		{"not json", `{"display_name": }`, "line 1, column 18"},
		{"syntax error on a later line", "{\n  \"display_name\": \"x\",\n  \"intents\": [,]\n}", "line 3"},
		{"wrong type", `{"display_name": 7}`, "display_name"},
		{"unknown field", `{"display_name": "x", "training_phrase": []}`, `unknown field "training_phrase"`},
		{"trailing data", `{"display_name": "x"} {}`, "unexpected data"},
		{"no display name", `{"no_match_reply": "?", "intents": [{"name": "a", "training_phrases": ["a"], "reply": "a"}]}`, "display_name is required"},
		{"no no-match reply", `{"display_name": "x", "intents": [{"name": "a", "training_phrases": ["a"], "reply": "a"}]}`, "no_match_reply is required"},
		{"no intents", `{"display_name": "x", "no_match_reply": "?"}`, "intents is empty"},
		{"nameless intent", `{"display_name": "x", "no_match_reply": "?", "intents": [{"training_phrases": ["a"], "reply": "a"}]}`, "intents[0]: name is required"},
		{"reserved name", `{"display_name": "x", "no_match_reply": "?", "intents": [{"name": "no-match", "training_phrases": ["a"], "reply": "a"}]}`, "reserved"},
		{"duplicate name", `{"display_name": "x", "no_match_reply": "?", "intents": [{"name": "a", "training_phrases": ["a"], "reply": "a"}, {"name": "a", "training_phrases": ["b"], "reply": "b"}]}`, `intents[1] ("a"): duplicate`},
		{"no training phrases", `{"display_name": "x", "no_match_reply": "?", "intents": [{"name": "a", "reply": "a"}]}`, `intents[0] ("a"): training_phrases is empty`},
		{"wordless training phrase", `{"display_name": "x", "no_match_reply": "?", "intents": [{"name": "a", "training_phrases": ["ok", "!!"], "reply": "a"}]}`, `training_phrases[1] "!!" has no words`},
		{"no reply", `{"display_name": "x", "no_match_reply": "?", "intents": [{"name": "a", "training_phrases": ["a"]}]}`, `intents[0] ("a"): reply is required`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := localnlu.ParseAgent([]byte(tc.json))
			require.ErrorContains(t, err, tc.wantErr)
		})
	}
}

func TestParseAgentDefaultsLanguageToEnglish(t *testing.T) {
	a, err := localnlu.ParseAgent([]byte(`{"display_name": "x", "no_match_reply": "?", "intents": [{"name": "a", "training_phrases": ["apple"], "reply": "A"}]}`))
	require.NoError(t, err)
	require.Equal(t, "en", a.LanguageCode)
}

func TestLoadAgentNamesTheFile(t *testing.T) {
	_, err := localnlu.LoadAgent(filepath.Join(t.TempDir(), "missing.json"))
	require.ErrorIs(t, err, os.ErrNotExist)

	path := filepath.Join(t.TempDir(), "broken.json")
	require.NoError(t, os.WriteFile(path, []byte(`{"display_name": "x"}`), 0o600))
	_, err = localnlu.LoadAgent(path)
	require.ErrorContains(t, err, path)
	require.ErrorContains(t, err, "no_match_reply is required")
}
