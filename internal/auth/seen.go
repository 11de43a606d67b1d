package auth

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/switchboard-cc/switchboard/internal/turn"
)

// SeenTokens remembers the ids (jti) of the signed webhook tokens the API accepted,
// so that a captured webhook replayed later is refused even once every dedupe window
// has passed. Entries need to outlive only the maximum token age: an older token is
// refused by its iat.
type SeenTokens interface {
	// Claim records the token id of vendor. fresh is false when it was recorded
	// before: the webhook is a replay.
	Claim(ctx context.Context, vendor, id string) (fresh bool, err error)
	// Forget removes a claimed id again: the webhook it came with was not stored,
	// and the vendor's retry may carry the same token.
	Forget(ctx context.Context, vendor, id string) error
}

// KVSeenTokens keeps the token ids in the NATS KV bucket turn.WebhookTokensBucket,
// shared by every API process; the bucket's TTL (streams.Config.WebhookTokenTTL)
// forgets them once their tokens are too old to be accepted anyway. Keys are hashes
// of vendor and id, so any id is a valid key.
type KVSeenTokens struct {
	JS jetstream.JetStream

	mu sync.Mutex
	kv jetstream.KeyValue
}

func (k *KVSeenTokens) bucket(ctx context.Context) (jetstream.KeyValue, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.kv != nil {
		return k.kv, nil
	}
	kv, err := k.JS.KeyValue(ctx, turn.WebhookTokensBucket)
	if err != nil {
		return nil, fmt.Errorf("bucket %s: %w", turn.WebhookTokensBucket, err)
	}
	k.kv = kv
	return kv, nil
}

func tokenKey(vendor, id string) string {
	sum := sha256.Sum256([]byte(vendor + "\x00" + id))
	return vendor + "." + hex.EncodeToString(sum[:])
}

// Claim creates the id's key; it exists already for a replay.
func (k *KVSeenTokens) Claim(ctx context.Context, vendor, id string) (bool, error) {
	kv, err := k.bucket(ctx)
	if err != nil {
		return false, err
	}
	if _, err := kv.Create(ctx, tokenKey(vendor, id), []byte{1}); err != nil {
		if errors.Is(err, jetstream.ErrKeyExists) {
			return false, nil
		}
		return false, err
	}
	return true, nil
}

// Forget deletes the id's key, so that Claim creates it again.
func (k *KVSeenTokens) Forget(ctx context.Context, vendor, id string) error {
	kv, err := k.bucket(ctx)
	if err != nil {
		return err
	}
	return kv.Delete(ctx, tokenKey(vendor, id))
}
