package drill

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/switchboard-cc/switchboard/internal/streams"
	"github.com/switchboard-cc/switchboard/internal/turn"
	"github.com/switchboard-cc/switchboard/providers/fake"
)

// observer reads the stack from outside: the apis' ops endpoints, the fakes'
// outbox and, when it may, the stack's NATS streams.
type observer struct {
	target  *Target
	hc      *http.Client
	nc      *nats.Conn // nil without NATS access
	js      jetstream.JetStream
	nextAPI atomic.Uint64
}

func newObserver(target *Target) *observer {
	o := &observer{target: target, hc: &http.Client{Timeout: 15 * time.Second}}
	if target.NATS != "" {
		// It reconnects across a NATS restart by itself.
		nc, err := nats.Connect(target.NATS, nats.MaxReconnects(-1), nats.ReconnectWait(250*time.Millisecond), nats.Name("switchboard drill"))
		if err == nil {
			if js, err := jetstream.New(nc); err == nil {
				o.nc, o.js = nc, js
			} else {
				nc.Close()
			}
		}
	}
	return o
}

func (o *observer) close() {
	if o.nc != nil {
		o.nc.Close()
	}
}

// api is the next api URL, in turn.
func (o *observer) api() string {
	return o.target.APIs[int(o.nextAPI.Add(1)-1)%len(o.target.APIs)]
}

// get GETs path from base with the ops token into out. It returns the status.
func (o *observer) get(ctx context.Context, base, path string, out any) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(base, "/")+path, nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+o.target.OpsToken)
	resp, err := o.hc.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 256<<20))
	if err != nil {
		return resp.StatusCode, err
	}
	if resp.StatusCode/100 != 2 && resp.StatusCode != http.StatusServiceUnavailable {
		return resp.StatusCode, fmt.Errorf("GET %s: %s: %s", path, resp.Status, strings.TrimSpace(string(data[:min(len(data), 300)])))
	}
	if err := json.Unmarshal(data, out); err != nil {
		return resp.StatusCode, fmt.Errorf("GET %s: %w", path, err)
	}
	return resp.StatusCode, nil
}

// fromAnyAPI tries the apis in turn until one answers.
func (o *observer) fromAnyAPI(ctx context.Context, path string, out any) (int, error) {
	var last error
	for range len(o.target.APIs) {
		status, err := o.get(ctx, o.api(), path, out)
		if err == nil || status == http.StatusNotFound {
			return status, err
		}
		last = err
	}
	return 0, last
}

// outbox is every message the CPaaS fakes accepted, the canary's included.
func (o *observer) outbox(ctx context.Context) ([]fake.Sent, error) {
	var sent []fake.Sent
	_, err := o.get(ctx, o.target.Dev, "/dev/outbox?canary=1", &sent)
	return sent, err
}

// transcript reads a conversation; a conversation the stack never started has an
// empty one.
func (o *observer) transcript(ctx context.Context, id string) (turn.Transcript, error) {
	var tr turn.Transcript
	status, err := o.fromAnyAPI(ctx, "/v1/conversations/"+url.PathEscape(id), &tr)
	if status == http.StatusNotFound {
		return turn.Transcript{ConversationID: id}, nil
	}
	return tr, err
}

// stuck is the stack's stuck list.
func (o *observer) stuck(ctx context.Context) ([]turn.Stuck, []string, error) {
	var body struct {
		Conversations []turn.Stuck `json:"conversations"`
		Problems      []string     `json:"problems"`
	}
	_, err := o.fromAnyAPI(ctx, "/v1/conversations?status=stuck", &body)
	return body.Conversations, body.Problems, err
}

// breakers samples every provider's breaker, as the next api sees it.
func (o *observer) breakers(ctx context.Context) ([]BreakerSample, error) {
	var list []struct {
		Name  string `json:"name"`
		State string `json:"state"`
	}
	if _, err := o.fromAnyAPI(ctx, "/v1/providers", &list); err != nil {
		return nil, err
	}
	now := time.Now()
	out := make([]BreakerSample, len(list))
	for i, p := range list {
		out[i] = BreakerSample{At: now, Provider: p.Name, State: p.State}
	}
	return out, nil
}

// pollBreakers records the breakers every second until ctx ends.
func (o *observer) pollBreakers(ctx context.Context, rec *recorder) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		if s, err := o.breakers(ctx); err == nil {
			rec.breakers(s)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// inFlight reports whether the stack still holds work a late reply could come
// from: turns the bridge has not handed over, or reply claims still holding (a
// send under way). A claim whose outcome is unknown is not in flight: it waits for
// an operator, and the stuck list shows it. Without NATS access it cannot tell,
// and says no.
func (o *observer) inFlight(ctx context.Context) (bool, error) {
	if o.js == nil {
		return false, nil
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	pending, ackPending, err := streams.BridgeLag(ctx, o.js)
	if err != nil {
		return true, err
	}
	if pending+ackPending > 0 {
		return true, nil
	}
	kv, err := o.js.KeyValue(ctx, turn.SendsBucket)
	if err != nil {
		return true, err
	}
	lister, err := kv.ListKeys(ctx)
	if err != nil {
		return true, err
	}
	busy := false
	for key := range lister.Keys() {
		e, err := kv.Get(ctx, key)
		if err != nil {
			continue // released meanwhile
		}
		var entry struct {
			State string    `json:"state"`
			At    time.Time `json:"at"`
			Until time.Time `json:"until"`
		}
		if json.Unmarshal(e.Value(), &entry) != nil || entry.State != "pending" {
			continue
		}
		if entry.Until.IsZero() {
			entry.Until = entry.At.Add(2 * time.Minute) // the ledger's bound on a claim without a deadline
		}
		busy = busy || time.Now().Before(entry.Until.Add(5*time.Second)) // and the default --send-claim-grace
	}
	return busy, nil
}

// escalations reads every escalation published on SWITCHBOARD_ESCALATIONS.
func (o *observer) escalations(ctx context.Context) ([]EscalationEvent, error) {
	if o.js == nil {
		return nil, errors.New("no NATS access: escalations are known from the transcripts and the desk only")
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	s, err := o.js.Stream(ctx, turn.EscalationsStream)
	if err != nil {
		return nil, err
	}
	info, err := s.Info(ctx)
	if err != nil {
		return nil, err
	}
	var out []EscalationEvent
	if info.State.Msgs == 0 {
		return nil, nil
	}
	cons, err := s.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{})
	if err != nil {
		return nil, err
	}
	for {
		msg, err := cons.Next(jetstream.FetchMaxWait(2 * time.Second))
		if err != nil {
			return out, err
		}
		meta, err := msg.Metadata()
		if err != nil {
			return out, err
		}
		var e turn.Escalation
		if err := json.Unmarshal(msg.Data(), &e); err == nil {
			out = append(out, EscalationEvent{At: meta.Timestamp, ID: e.ID, ConversationID: e.ConversationID, Queue: e.Queue, State: e.State})
		}
		if meta.Sequence.Stream >= info.State.LastSeq {
			return out, nil
		}
	}
}
