package workflows

import (
	"maps"
	"slices"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
)

// Every upsert of a search attribute or of the memo is a write to Temporal's
// visibility store, and once per turn they were the largest single cost of a turn
// (a sixth of all CPU on the dev stack). Since versionCoalescedVisibility the
// conversation writes only what changed, and writes what changes at every turn
// lazily:
//
//   - SwitchboardStatus and SwitchboardQueue (stuck included), the NLU and CPaaS
//     provider, and the memo's last_status, last_reason, escalation and stuck are
//     written as soon as they change, in the workflow task that changed them;
//   - SwitchboardTurns, SwitchboardLastTurnAt and the memo's last_turn and
//     last_intent change at every turn. They are written with the next write of
//     the above, and otherwise at most VisibilityLag after the previous write: a
//     turn that comes VisibilityLag or more after the last write writes them at
//     once, one that comes sooner arms a timer that writes them VisibilityLag after
//     the last write. A continue-as-new and a close write them first.
//
// So a conversation's Turns and LastTurnAt in visibility are at most VisibilityLag
// (plus visibility's own few seconds) behind, and a burst of turns costs two writes
// instead of one per turn. Nothing that stuck detection reads is deferred: it
// reads SwitchboardStatus, and the transcript.
const VisibilityLag = 10 * time.Second

// visibility holds what the conversation has yet to write, and what it wrote.
type visibility struct {
	// attrs are the search attribute values to write at the next flush; nil
	// unsets the attribute.
	attrs map[temporal.SearchAttributeKey]any
	// memo is the memo as it should be; written the memo as last written.
	memo, written map[string]any
	flushedAt     time.Time
	armed         bool // a timer will flush
}

// lazyAttrs and lazyMemo change at every turn, and may wait (see VisibilityLag).
var (
	lazyAttrs = map[string]bool{SATurns.GetName(): true, SALastTurnAt.GetName(): true}
	lazyMemo  = map[string]bool{"last_turn": true, "last_intent": true}
)

// show records attribute values and memo fields to be written, and writes them now
// if one of them must not wait, or if the last write is VisibilityLag old; else it
// makes sure a timer writes them in time.
func (c *conversation) show(ctx workflow.Context, attrs map[temporal.SearchAttributeKey]any, memo map[string]any) {
	v := &c.vis
	if v.attrs == nil {
		v.attrs, v.memo, v.written = map[temporal.SearchAttributeKey]any{}, map[string]any{}, map[string]any{}
	}
	maps.Copy(v.attrs, attrs)
	maps.Copy(v.memo, memo)
	attrs, memo = c.unwritten(ctx)
	urgent := false
	for k := range attrs {
		urgent = urgent || !lazyAttrs[k.GetName()]
	}
	for k := range memo {
		urgent = urgent || !lazyMemo[k]
	}
	switch {
	case len(attrs) == 0 && len(memo) == 0:
	case urgent || workflow.Now(ctx).Sub(v.flushedAt) >= VisibilityLag:
		c.flush(ctx)
	case !v.armed:
		v.armed = true
		timer := workflow.NewTimer(ctx, v.flushedAt.Add(VisibilityLag).Sub(workflow.Now(ctx)))
		workflow.Go(ctx, func(ctx workflow.Context) {
			_ = timer.Get(ctx, nil)
			v.armed = false
			c.flush(ctx)
		})
	}
}

// unwritten returns the attribute values that differ from the workflow's current
// search attributes, and the memo fields that differ from the memo last written.
func (c *conversation) unwritten(ctx workflow.Context) (map[temporal.SearchAttributeKey]any, map[string]any) {
	current := workflow.GetTypedSearchAttributes(ctx).GetUntypedValues()
	attrs := map[temporal.SearchAttributeKey]any{}
	for k, want := range c.vis.attrs {
		if !sameValue(current[k], want) {
			attrs[k] = want
		}
	}
	memo := map[string]any{}
	for k, want := range c.vis.memo {
		if got, ok := c.vis.written[k]; !ok || got != want {
			memo[k] = want
		}
	}
	return attrs, memo
}

// flush writes whatever differs from what visibility holds, in one upsert of the
// search attributes and one of the memo, each only if something differs.
func (c *conversation) flush(ctx workflow.Context) {
	attrs, memo := c.unwritten(ctx)
	c.vis.flushedAt = workflow.Now(ctx)
	if len(attrs) > 0 {
		keys := slices.SortedFunc(maps.Keys(attrs), func(a, b temporal.SearchAttributeKey) int { return strings.Compare(a.GetName(), b.GetName()) })
		updates := make([]temporal.SearchAttributeUpdate, 0, len(keys))
		for _, k := range keys {
			updates = append(updates, attrUpdate(k, attrs[k]))
		}
		if err := workflow.UpsertTypedSearchAttributes(ctx, updates...); err != nil {
			workflow.GetLogger(ctx).Error("search attribute update failed", "error", err)
		}
	}
	if len(memo) > 0 {
		if err := workflow.UpsertMemo(ctx, memo); err != nil {
			workflow.GetLogger(ctx).Error("memo update failed", "error", err)
		}
		maps.Copy(c.vis.written, memo)
	}
}

// sameValue compares a current search attribute value (nil: not set) with a wanted
// one (nil: unset).
func sameValue(got, want any) bool {
	if g, ok := got.(time.Time); ok {
		w, ok := want.(time.Time)
		return ok && g.Equal(w)
	}
	return got == want
}

// attrUpdate is the update that sets key to v, or unsets it for a nil v.
func attrUpdate(key temporal.SearchAttributeKey, v any) temporal.SearchAttributeUpdate {
	switch k := key.(type) {
	case temporal.SearchAttributeKeyKeyword:
		if s, ok := v.(string); ok {
			return k.ValueSet(s)
		}
		return k.ValueUnset()
	case temporal.SearchAttributeKeyInt64:
		if n, ok := v.(int64); ok {
			return k.ValueSet(n)
		}
		return k.ValueUnset()
	case temporal.SearchAttributeKeyTime:
		if t, ok := v.(time.Time); ok {
			return k.ValueSet(t)
		}
		return k.ValueUnset()
	case temporal.SearchAttributeKeyBool:
		if b, ok := v.(bool); ok {
			return k.ValueSet(b)
		}
		return k.ValueUnset()
	}
	panic("workflows: search attribute " + key.GetName() + " has a type attrUpdate does not know")
}
