package workflows_test

import (
	"testing"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/switchboard-cc/switchboard/workflows"
)

// Conversations run for days, so every change to ConversationWorkflow must replay the
// histories of conversations already running. The history was recorded on the
// embedded stack (see e2e/history_test.go): two turns in, two replies out, with
// update-with-start, local activities and search attribute updates.
func TestReplay_RecordedConversationHistoryStillReplays(t *testing.T) {
	r := worker.NewWorkflowReplayer()
	r.RegisterWorkflowWithOptions(workflows.ConversationWorkflow, workflow.RegisterOptions{Name: workflows.WorkflowName})
	require.NoError(t, r.ReplayWorkflowHistoryFromJSONFile(nil, "testdata/conversation-history.json"))
}
