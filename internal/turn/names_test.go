package turn_test

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-cc/switchboard/internal/turn"
)

func TestTurnSubjects_PartitionedAndLegacyNeverOverlap(t *testing.T) {
	conv := turn.ConversationID("twilio", "sms", "+15550000001", "+15550001000")
	p := turn.PartitionOf(conv)
	require.Equal(t, p, turn.PartitionOf(conv), "stable")
	require.GreaterOrEqual(t, p, 0)
	require.Less(t, p, turn.TurnPartitions)
	require.Equal(t, fmt.Sprintf("switchboard.turns.%02d.%s", p, conv), turn.TurnSubject(conv))
	sub := func(filter, subject string) bool {
		return subjectMatches(filter, subject)
	}
	require.True(t, sub(turn.PartitionFilter(p), turn.TurnSubject(conv)))
	require.False(t, sub(turn.PartitionFilter((p+1)%turn.TurnPartitions), turn.TurnSubject(conv)))
	require.False(t, sub(turn.LegacyTurnsFilter, turn.TurnSubject(conv)))
	require.True(t, sub(turn.LegacyTurnsFilter, turn.LegacyTurnSubject(conv)))
	require.False(t, sub(turn.PartitionFilter(p), turn.LegacyTurnSubject(conv)))
	// Spread: 1000 conversations use every partition.
	seen := map[int]bool{}
	for i := range 1000 {
		seen[turn.PartitionOf(fmt.Sprintf("api:c%d", i))] = true
	}
	require.Len(t, seen, turn.TurnPartitions)
}

// subjectMatches is NATS subject matching: * one token, > the rest.
func subjectMatches(filter, subject string) bool {
	f, s := splitTokens(filter), splitTokens(subject)
	for i, tok := range f {
		if tok == ">" {
			return len(s) > i
		}
		if i >= len(s) || (tok != "*" && tok != s[i]) {
			return false
		}
	}
	return len(f) == len(s)
}

func splitTokens(s string) []string {
	var out []string
	start := 0
	for i := range len(s) {
		if s[i] == '.' {
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}
