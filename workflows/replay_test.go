package workflows_test

import (
	"testing"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/switchboard-cc/switchboard/workflows"
)

// Conversations run for days, so every change to ConversationWorkflow must replay the
// histories of conversations already running. The histories were recorded on the
// embedded Temporal server:
//   - conversation-history.json (e2e/history_test.go): two turns in, two replies
//     out, with update-with-start, local activities and search attribute updates,
//     recorded before any version marker below existed;
//   - escalation-history.json and continued-history.json
//     (e2e/histories_test.go): one conversation's two runs, with the markers of
//     versions.go: an escalation through both SLA timers, a final message that
//     could not be sent, the held signal, a replay update, an agent's reply, the
//     continue-as-new that carried the open escalation, and resolve in the next
//     run, and, since hedging, a hung NLU attempt hedged over; the
//     *-before-delivery-unknown.json pair is the same conversation recorded
//     before the delivery-unknown marker, the *-before-hedged-nlu.json pair before
//     the coalesced-visibility, hedged-nlu and one-idle-timer markers, and the
//     others carry them all.
func TestReplay_RecordedConversationHistoriesStillReplay(t *testing.T) {
	for _, file := range []string{
		"conversation-history.json",
		"escalation-history-before-delivery-unknown.json", "continued-history-before-delivery-unknown.json",
		"escalation-history-before-hedged-nlu.json", "continued-history-before-hedged-nlu.json",
		"escalation-history.json", "continued-history.json",
	} {
		t.Run(file, func(t *testing.T) {
			r := worker.NewWorkflowReplayer()
			r.RegisterWorkflowWithOptions(workflows.ConversationWorkflow, workflow.RegisterOptions{Name: workflows.WorkflowName})
			require.NoError(t, r.ReplayWorkflowHistoryFromJSONFile(nil, "testdata/"+file))
		})
	}
}
