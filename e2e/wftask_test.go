package e2e

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"

	"github.com/switchboard-cc/switchboard/internal/turn"
)

// A deploy that broke the conversation workflow (here: the workflow type its history
// names is no longer registered) makes its workflow task fail again and again.
// Temporal reports the problem after five failures in a row; the stuck list shows
// the conversation, and a replay says it cannot help: the worker must be fixed.
func TestStuck_WorkflowTaskFailing_IsListed_AndReplaySaysFixTheWorker(t *testing.T) {
	s := startStack(t, "")
	tc, err := client.Dial(client.Options{HostPort: s.Temporal})
	require.NoError(t, err)
	defer tc.Close()
	conv := "api-broken-by-a-deploy"
	_, err = tc.ExecuteWorkflow(context.Background(), client.StartWorkflowOptions{
		ID: turn.WorkflowID(conv), TaskQueue: "switchboard-conversations",
	}, "ConversationWorkflowV0")
	require.NoError(t, err)

	var listed *turn.Stuck
	require.Eventually(t, func() bool {
		_, list, _ := stuckList(t, s.API)
		listed = findStuck(list, conv)
		return listed != nil
	}, 90*time.Second, time.Second, "listed once Temporal reports the failing workflow task")
	require.Equal(t, turn.StuckWorkflowTask, listed.Reasons[0].Source)
	require.Contains(t, listed.Reasons[0].Detail, "WorkflowTaskFailed")

	code, rep := replayConversation(t, s.API, conv, false)
	require.Equal(t, http.StatusConflict, code, rep)
	require.True(t, strings.Contains(rep.Error, "fix or roll back the worker"), rep.Error)
}
