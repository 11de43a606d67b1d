package bridge

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/switchboard-cc/switchboard/internal/turn"
	"github.com/switchboard-cc/switchboard/workflows"
)

// HeldTurns records, per conversation, the turns the bridge has failed to hand to
// their workflow for longer than stuck_after. It lives in the NATS KV bucket
// turn.HeldBucket so that every process sees it, including when Temporal is down
// and the workflow cannot be told. The bridge refreshes an entry each time it fails
// again with a held turn; an entry nobody refreshes expires after streams.HeldTTL,
// so a process that died holding turns leaves no ghost behind.
type HeldTurns struct {
	kv jetstream.KeyValue
}

// NewHeldTurns opens the registry on the bucket made by streams.Ensure.
func NewHeldTurns(ctx context.Context, js jetstream.JetStream) (*HeldTurns, error) {
	kv, err := js.KeyValue(ctx, turn.HeldBucket)
	if err != nil {
		return nil, fmt.Errorf("bucket %s: %w", turn.HeldBucket, err)
	}
	return &HeldTurns{kv: kv}, nil
}

// Hold records (or refreshes) a held turn of a conversation.
func (h *HeldTurns) Hold(ctx context.Context, conversationID string, t workflows.HeldTurn) error {
	return h.update(ctx, conversationID, func(list []workflows.HeldTurn) []workflows.HeldTurn {
		if i := slices.IndexFunc(list, func(x workflows.HeldTurn) bool { return x.TurnID == t.TurnID }); i >= 0 {
			list[i].Detail = t.Detail
			return list
		}
		return append(list, t)
	})
}

// Release forgets a turn once its workflow has it.
func (h *HeldTurns) Release(ctx context.Context, conversationID, turnID string) error {
	return h.update(ctx, conversationID, func(list []workflows.HeldTurn) []workflows.HeldTurn {
		return slices.DeleteFunc(list, func(x workflows.HeldTurn) bool { return x.TurnID == turnID })
	})
}

// Get returns a conversation's held turns, oldest first.
func (h *HeldTurns) Get(ctx context.Context, conversationID string) ([]workflows.HeldTurn, error) {
	e, err := h.kv.Get(ctx, turn.HeldKey(conversationID))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return decodeHeld(e.Value())
}

// All returns every conversation's held turns.
func (h *HeldTurns) All(ctx context.Context) (map[string][]workflows.HeldTurn, error) {
	lister, err := h.kv.ListKeys(ctx)
	if err != nil {
		return nil, err
	}
	out := map[string][]workflows.HeldTurn{}
	for key := range lister.Keys() {
		list, err := h.Get(ctx, turn.HeldConversation(key))
		if err != nil {
			return nil, err
		}
		if len(list) > 0 {
			out[turn.HeldConversation(key)] = list
		}
	}
	return out, nil
}

// update applies change to a conversation's entry with optimistic concurrency:
// two bridges holding turns of one conversation do not overwrite each other.
func (h *HeldTurns) update(ctx context.Context, conversationID string, change func([]workflows.HeldTurn) []workflows.HeldTurn) error {
	key := turn.HeldKey(conversationID)
	for attempt := range 32 {
		if attempt > 0 {
			time.Sleep(time.Duration(1+rand.IntN(attempt*2)) * time.Millisecond) // let the winner finish
		}
		var (
			list []workflows.HeldTurn
			rev  uint64
		)
		e, err := h.kv.Get(ctx, key)
		switch {
		case errors.Is(err, jetstream.ErrKeyNotFound):
		case err != nil:
			return err
		default:
			rev = e.Revision()
			if list, err = decodeHeld(e.Value()); err != nil {
				return err
			}
		}
		list = change(list)
		if len(list) == 0 {
			if rev == 0 {
				return nil
			}
			err = h.kv.Delete(ctx, key, jetstream.LastRevision(rev))
		} else {
			data, _ := json.Marshal(list)
			if rev == 0 {
				_, err = h.kv.Create(ctx, key, data)
			} else {
				_, err = h.kv.Update(ctx, key, data, rev)
			}
		}
		if err == nil || !isConflict(err) {
			return err
		}
	}
	return fmt.Errorf("held turns of %s: too many concurrent updates", conversationID)
}

func isConflict(err error) bool {
	var apiErr *jetstream.APIError
	return errors.Is(err, jetstream.ErrKeyExists) || (errors.As(err, &apiErr) && apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence)
}

func decodeHeld(data []byte) ([]workflows.HeldTurn, error) {
	if len(data) == 0 {
		return nil, nil // a deleted entry
	}
	var list []workflows.HeldTurn
	if err := json.Unmarshal(data, &list); err != nil {
		return nil, fmt.Errorf("held turns entry is corrupt: %w", err)
	}
	return list, nil
}
