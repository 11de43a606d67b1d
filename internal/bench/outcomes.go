package bench

import (
	"encoding/json"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/switchboard-cc/switchboard/internal/turn"
)

// outcomes collects the turn outcomes the workflows publish on the events stream:
// which NLU provider answered each turn, and which attempts were hedged over. The
// canary's turns are left out.
type outcomes struct {
	sub *nats.Subscription
	nc  *nats.Conn

	mu   sync.Mutex
	list []turn.Outcome
}

func collectOutcomes(natsURL string) (*outcomes, error) {
	nc, err := nats.Connect(natsURL)
	if err != nil {
		return nil, err
	}
	o := &outcomes{nc: nc}
	o.sub, err = nc.Subscribe(turn.EventsSubjectPrefix+">", func(m *nats.Msg) {
		var out turn.Outcome
		if json.Unmarshal(m.Data, &out) != nil || turn.IsCanaryTurn(out.TurnID) || out.Replayed {
			return
		}
		o.mu.Lock()
		o.list = append(o.list, out)
		o.mu.Unlock()
	})
	if err != nil {
		nc.Close()
		return nil, err
	}
	return o, nil
}

func (o *outcomes) close() { o.nc.Close() }

// between returns the outcomes of the turns received in [from, to).
func (o *outcomes) between(from, to time.Time) []turn.Outcome {
	o.mu.Lock()
	defer o.mu.Unlock()
	var out []turn.Outcome
	for _, x := range o.list {
		if !x.ReceivedAt.Before(from) && x.ReceivedAt.Before(to) {
			out = append(out, x)
		}
	}
	return out
}

// Hedging is what the outcomes of a set of turns say about hedged NLU attempts.
type Hedging struct {
	Turns int // turns with an outcome
	// Extra is the NLU calls beyond one per turn that hedging made: each attempt
	// listed under an outcome's hedged ran beside the one that answered.
	Extra int
	// Hedged is the turns with at least one such attempt.
	Hedged int
}

// PerThousand is Extra per 1000 turns.
func (h Hedging) PerThousand() float64 {
	if h.Turns == 0 {
		return 0
	}
	return 1000 * float64(h.Extra) / float64(h.Turns)
}

func hedging(list []turn.Outcome) Hedging {
	h := Hedging{Turns: len(list)}
	for _, o := range list {
		h.Extra += len(o.Hedged)
		if len(o.Hedged) > 0 {
			h.Hedged++
		}
	}
	return h
}
