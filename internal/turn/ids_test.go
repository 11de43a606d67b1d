package turn_test

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-cc/switchboard/internal/turn"
)

// The formats below are recorded in running histories, the send ledger and
// JetStream's duplicate window: a change would make a retried operation a new one.
func TestIDs_FormatsNeverChange(t *testing.T) {
	require.Equal(t, "conv-1/esc-2", turn.EscalationID("conv-1", 2))
	require.Equal(t, "conv-1/run-a/7/agent-3", turn.CountedAgentReplyKey("conv-1", "run-a", 7, 3))
	require.Equal(t, "reply/conv-1/esc-2/req-9", turn.DeskUpdateID("reply", "conv-1/esc-2", "req-9"))
	require.Equal(t, "dead:42", turn.DeadLetterMsgID(42))
	require.Equal(t, "redrive:42", turn.DeadLetterReplayMsgID(42))
	require.Equal(t, "conversation/conv-1", turn.WorkflowID("conv-1"))

	a, b := turn.RedriveUpdateID([]string{"3", "t1"}), turn.RedriveUpdateID([]string{"3", "t2"})
	require.True(t, strings.HasPrefix(a, "redrive/") && len(a) == len("redrive/")+16, a)
	require.Equal(t, a, turn.RedriveUpdateID([]string{"3", "t1"}), "the same stuck work, the same update")
	require.NotEqual(t, a, b)

	conv := turn.CanaryConversationID("sms", "+15550001000", "+15559990000")
	require.Regexp(t, `^canary-sms-[0-9a-f]{12}$`, conv)
	require.True(t, turn.ValidConversationID(conv))

	id := turn.CanaryTurnID(time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC), []byte{0xab, 0xcd})
	require.Equal(t, "canary:20260102T030405.000000006Z-abcd", id)
	require.True(t, turn.IsCanaryTurn(id))
	require.False(t, turn.IsCanaryTurn(turn.ID(turn.VendorAPI, "canary")))
}
