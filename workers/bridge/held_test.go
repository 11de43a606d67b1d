package bridge

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-cc/switchboard/workflows"
)

func TestHeldTurns_ConcurrentHoldsOfOneConversationAreAllKept(t *testing.T) {
	ctx := context.Background()
	_, js := connectJS(t, natsURL(t))
	h, err := NewHeldTurns(ctx, js)
	require.NoError(t, err)
	conv := "api:order-42" // JSON API ids may hold ':', which KV keys may not
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			require.NoError(t, h.Hold(ctx, conv, workflows.HeldTurn{TurnID: fmt.Sprintf("api:m%d", i), Sequence: uint64(i + 1), Since: time.Now()}))
		}()
	}
	wg.Wait()
	got, err := h.Get(ctx, conv)
	require.NoError(t, err)
	require.Len(t, got, 8, "no concurrent hold overwrote another")

	// Holding again refreshes, it does not duplicate.
	require.NoError(t, h.Hold(ctx, conv, workflows.HeldTurn{TurnID: "api:m0", Sequence: 1, Detail: "still down"}))
	all, err := h.All(ctx)
	require.NoError(t, err)
	require.Len(t, all[conv], 8)

	for i := range 8 {
		require.NoError(t, h.Release(ctx, conv, fmt.Sprintf("api:m%d", i)))
	}
	got, err = h.Get(ctx, conv)
	require.NoError(t, err)
	require.Empty(t, got)
	all, err = h.All(ctx)
	require.NoError(t, err)
	require.NotContains(t, all, conv, "a conversation with nothing held is not listed")
	require.NoError(t, h.Release(ctx, conv, "api:unknown"), "releasing what is not held is a no-op")
}
