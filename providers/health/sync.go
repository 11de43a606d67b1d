package health

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Bucket is the KV bucket the registries share. Keys:
//
//   - state.<provider>: the last transition of the provider's breaker (stateRecord),
//     written by the instance that made it;
//   - override.<provider>: the operator's override (overrideRecord).
//
// History is 1: only the latest value of a key matters, and its revision orders the
// writes of different instances.
const Bucket = "switchboard_health"

// BucketConfig sets the durability of the bucket.
type BucketConfig struct {
	// Replicas: 1 on one server (default), 3 on a production cluster.
	Replicas int
	// MemoryStorage keeps the bucket in memory. Only for tests.
	MemoryStorage bool
}

// EnsureBucket creates or updates the bucket and returns it. It is idempotent and safe
// to run from every process at start.
func EnsureBucket(ctx context.Context, js jetstream.JetStream, c BucketConfig) (jetstream.KeyValue, error) {
	if c.Replicas == 0 {
		c.Replicas = 1
	}
	if c.Replicas < 1 || c.Replicas > 5 {
		return nil, fmt.Errorf("health: BucketConfig.Replicas must be between 1 and 5, got %d", c.Replicas)
	}
	storage := jetstream.FileStorage
	if c.MemoryStorage {
		storage = jetstream.MemoryStorage
	}
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket: Bucket, History: 1, Storage: storage, Replicas: c.Replicas,
		Description: "Provider breaker states and operator overrides, shared by every worker",
	})
	if err != nil {
		return nil, fmt.Errorf("health: bucket %s: %w", Bucket, err)
	}
	return kv, nil
}

// stateRecord is the value of state.<provider>.
type stateRecord struct {
	State  State     `json:"state"`
	Reason string    `json:"reason"`
	Since  time.Time `json:"since"`
	Origin string    `json:"origin"` // the instance that made the transition
	// TripReason is why the breaker opened, while it is out of rotation.
	TripReason string `json:"trip_reason,omitempty"`
}

// overrideRecord is the value of override.<provider>.
type overrideRecord struct {
	Mode   Mode      `json:"mode"`
	Since  time.Time `json:"since"`
	Origin string    `json:"origin"` // the instance the operator called
}

const (
	stateKeyPrefix    = "state."
	overrideKeyPrefix = "override."
)

func stateKey(provider string) string    { return stateKeyPrefix + provider }
func overrideKey(provider string) string { return overrideKeyPrefix + provider }

// putTimeout bounds one write to the bucket.
const putTimeout = 5 * time.Second

// retryEvery is how often failed writes and broken watches are retried.
const retryEvery = time.Second

func (r *registry) markDirty(name string) {
	if r.kv == nil {
		return
	}
	r.dirtyMu.Lock()
	r.dirty[name] = struct{}{}
	r.dirtyMu.Unlock()
	select {
	case r.notify <- struct{}{}:
	default:
	}
}

func (r *registry) takeDirty() []string {
	r.dirtyMu.Lock()
	defer r.dirtyMu.Unlock()
	names := make([]string, 0, len(r.dirty))
	for n := range r.dirty {
		names = append(names, n)
	}
	clear(r.dirty)
	return names
}

// publish writes the state of every provider that made a local transition. Writes
// coalesce: what is written is the provider's state at the time of the write, so a
// burst of transitions ends in one write of the last. A failed write is retried every
// retryEvery; the local breakers work on meanwhile.
func (r *registry) publish(ctx context.Context) {
	retry := time.NewTicker(retryEvery)
	defer retry.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-r.notify:
		case <-retry.C:
		}
		for _, name := range r.takeDirty() {
			if err := r.publishState(ctx, name); err != nil {
				if ctx.Err() != nil {
					return
				}
				r.log.Warn("provider breaker state not shared; retrying", "provider", name, "error", err)
				r.dirtyMu.Lock()
				r.dirty[name] = struct{}{}
				r.dirtyMu.Unlock()
			}
		}
	}
}

func (r *registry) publishState(ctx context.Context, name string) error {
	r.syncMu.Lock()
	defer r.syncMu.Unlock()
	p := r.get(name)
	if p == nil {
		return nil
	}
	p.mu.Lock()
	rec := stateRecord{State: p.state, Reason: p.reason, Since: p.since, Origin: p.origin, TripReason: p.tripReason}
	p.mu.Unlock()
	if seen, ok := r.seenState[name]; ok && seen.State == rec.State && seen.Since.Equal(rec.Since) {
		return nil // the bucket says so already
	}
	data, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, putTimeout)
	defer cancel()
	rev, err := r.kv.Put(ctx, stateKey(name), data)
	if err != nil {
		return err
	}
	r.lastRev[stateKey(name)] = max(r.lastRev[stateKey(name)], rev)
	r.seenState[name] = rec
	return nil
}

// watch applies the bucket's entries, the initial ones and every later write, until
// ctx is done. A broken watch is restarted; entries already applied are skipped by
// revision.
func (r *registry) watch(ctx context.Context) {
	for {
		if err := r.watchOnce(ctx); err != nil && ctx.Err() == nil {
			r.log.Warn("watching the provider health bucket failed; retrying", "error", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(retryEvery):
		}
	}
}

func (r *registry) watchOnce(ctx context.Context) error {
	w, err := r.kv.WatchAll(ctx)
	if err != nil {
		return err
	}
	defer func() { _ = w.Stop() }()
	for {
		select {
		case <-ctx.Done():
			return nil
		case e, ok := <-w.Updates():
			if !ok {
				return fmt.Errorf("the watch of bucket %s ended", Bucket)
			}
			if e == nil {
				r.syncMu.Lock()
				r.loaded = true
				r.syncMu.Unlock()
				continue
			}
			r.apply(e)
		}
	}
}

// apply takes one entry of the bucket into account.
//
// Entries are applied in revision order and at most once: one whose revision is not
// above the last written or applied for its key is skipped. That drops this
// instance's own writes (their revision is recorded before the echo can be read, as
// both happen under syncMu). Own writes are recognised by origin as well, except
// while reading the initial values, which may come from an earlier process with the
// same Instance name and are then as good as anyone's. applyState and applyOverride
// decide what a new entry changes.
func (r *registry) apply(e jetstream.KeyValueEntry) {
	r.syncMu.Lock()
	defer r.syncMu.Unlock()
	key, rev := e.Key(), e.Revision()
	if rev <= r.lastRev[key] {
		return
	}
	r.lastRev[key] = rev
	deleted := e.Operation() != jetstream.KeyValuePut
	switch {
	case strings.HasPrefix(key, overrideKeyPrefix):
		name := strings.TrimPrefix(key, overrideKeyPrefix)
		rec := overrideRecord{Mode: ModeAuto, Since: e.Created()}
		if !deleted {
			if err := json.Unmarshal(e.Value(), &rec); err != nil {
				r.log.Warn("unreadable override in the provider health bucket", "key", key, "error", err)
				return
			}
			if _, err := ParseMode(string(rec.Mode)); err != nil {
				r.log.Warn("invalid override in the provider health bucket", "key", key, "error", err)
				return
			}
		}
		r.seenOverride[name] = rec
		if rec.Origin == r.instance && r.loaded {
			return
		}
		if p := r.get(name); p != nil {
			r.applyOverride(p, rec, false)
		}
	case strings.HasPrefix(key, stateKeyPrefix):
		if deleted {
			return
		}
		name := strings.TrimPrefix(key, stateKeyPrefix)
		var rec stateRecord
		if err := json.Unmarshal(e.Value(), &rec); err != nil {
			r.log.Warn("unreadable state in the provider health bucket", "key", key, "error", err)
			return
		}
		r.seenState[name] = rec
		if rec.Origin == r.instance && r.loaded {
			return
		}
		if p := r.get(name); p != nil {
			r.applyState(p, rec)
		}
	}
}
