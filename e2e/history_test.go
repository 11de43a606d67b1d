package e2e

import (
	"context"
	"os"
	"testing"

	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/temporalproto"
	"go.temporal.io/sdk/client"

	"github.com/switchboard-cc/switchboard/internal/turn"
)

// recordHistory writes a conversation's history where the workflow replay test reads
// it, when SWITCHBOARD_RECORD_HISTORY names the file. Regenerate it after a workflow
// change that is deliberately incompatible (and guarded by workflow.GetVersion):
//
//	SWITCHBOARD_RECORD_HISTORY=$PWD/workflows/testdata/conversation-history.json \
//	  go test ./e2e -run TestSignedTwilioWebhook
func recordHistory(t *testing.T, temporalAddr, conversationID string) {
	path := os.Getenv("SWITCHBOARD_RECORD_HISTORY")
	if path == "" {
		return
	}
	c, err := client.Dial(client.Options{HostPort: temporalAddr})
	require.NoError(t, err)
	defer c.Close()
	it := c.GetWorkflowHistory(context.Background(), turn.WorkflowID(conversationID), "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	var h historypb.History
	for it.HasNext() {
		e, err := it.Next()
		require.NoError(t, err)
		h.Events = append(h.Events, e)
	}
	b, err := temporalproto.CustomJSONMarshalOptions{Indent: "  "}.Marshal(&h)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(path, b, 0o644))
	t.Logf("recorded %d events to %s", len(h.Events), path)
}
