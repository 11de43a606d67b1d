package fake_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	deployagent "github.com/switchboard-cc/switchboard/deploy/agent"
	"github.com/switchboard-cc/switchboard/providers/fake"
	"github.com/switchboard-cc/switchboard/providers/localnlu"
)

// The agent model and its matching are tested in providers/localnlu; these tests
// only pin the aliases that the fakes' callers still use.

const demoAgentPath = "../../deploy/agent/demo-agent.json"

func loadDemoAgent(t *testing.T) *fake.Agent {
	t.Helper()
	a, err := fake.LoadAgent(demoAgentPath)
	require.NoError(t, err)
	return a
}

func TestAgentAliasesAreTheLocalNLUModel(t *testing.T) {
	var a *localnlu.Agent = loadDemoAgent(t) // compiles only while fake.Agent is an alias
	var in localnlu.Intent = fake.Intent{Name: "x"}
	require.Equal(t, "x", in.Name)
	require.Equal(t, localnlu.MatchThreshold, fake.MatchThreshold)

	intent, _, _, matched := a.Match("where is my order")
	require.True(t, matched)
	require.Equal(t, "order.status", intent)
}

func TestParseAgentWrapperParsesTheEmbeddedDemo(t *testing.T) {
	a, err := fake.ParseAgent(deployagent.Demo)
	require.NoError(t, err)
	require.Equal(t, loadDemoAgent(t).Intents, a.Intents)

	_, err = fake.ParseAgent([]byte(`{"display_name": }`))
	require.ErrorContains(t, err, "line 1, column 18")
}

func TestLoadAgentWrapperNamesTheFile(t *testing.T) {
	_, err := fake.LoadAgent(filepath.Join(t.TempDir(), "missing.json"))
	require.ErrorIs(t, err, os.ErrNotExist)

	path := filepath.Join(t.TempDir(), "broken.json")
	require.NoError(t, os.WriteFile(path, []byte(`{"display_name": "x"}`), 0o600))
	_, err = fake.LoadAgent(path)
	require.ErrorContains(t, err, path)
}
