package streams

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/switchboard-cc/switchboard/internal/turn"
)

// DeadLetter is one turn of the dead-letter stream.
type DeadLetter struct {
	// Sequence in the dead-letter stream.
	Sequence uint64    `json:"sequence"`
	Time     time.Time `json:"time"`
	// Error is why the bridge dead-lettered it (header Switchboard-Error).
	Error string `json:"error"`
	// Subject and StreamSequence are where it was in the turns stream.
	Subject        string `json:"subject"`
	StreamSequence uint64 `json:"stream_sequence,omitempty"`
	// TurnID and ConversationID, when the turn can be decoded; Malformed says why
	// it cannot, and that it cannot be replayed.
	TurnID         string `json:"turn_id,omitempty"`
	ConversationID string `json:"conversation_id,omitempty"`
	Malformed      string `json:"malformed,omitempty"`
}

// DeadLetterReplay is what a replay of the dead-letter stream did, entry by entry.
type DeadLetterReplay struct {
	DryRun  bool                `json:"dry_run"`
	Entries []DeadLetterOutcome `json:"entries"`
}

// DeadLetterOutcome is what a replay did with one dead-lettered turn.
type DeadLetterOutcome struct {
	DeadLetter
	// Result: republished (stored again in the turns stream), duplicate (already
	// republished by an earlier replay: JetStream's duplicate window knew it),
	// would_republish (dry run), kept_malformed (cannot be replayed, left in the
	// dead-letter stream) or failed (left in the dead-letter stream, see Problem).
	Result string `json:"result"`
	// TurnsSequence is the turn's new sequence in the turns stream.
	TurnsSequence uint64 `json:"turns_sequence,omitempty"`
	Problem       string `json:"problem,omitempty"`
}

// MaxDeadLetterBatch bounds the entries one list or replay reads.
const MaxDeadLetterBatch = 10000

// ListDeadLetters returns up to limit dead-lettered turns, oldest first.
func ListDeadLetters(ctx context.Context, js jetstream.JetStream, limit int) ([]DeadLetter, error) {
	var out []DeadLetter
	err := eachDeadLetter(ctx, js, limit, func(d DeadLetter, _ *jetstream.RawStreamMsg) error {
		out = append(out, d)
		return nil
	})
	return out, err
}

// ReplayDeadLetters re-drives up to limit dead-lettered turns, oldest first,
// through the normal path: each is published again to the turns stream, on its
// conversation's partition, then deleted from the dead-letter stream. The
// republish's Nats-Msg-Id is redrive:<dead-letter sequence>, so a replay that
// died between the publish and the delete stores nothing twice; the bridge's
// update id (the turn id) and the workflow's window of turn ids deduplicate a turn
// the workflow already has. A turn that cannot be decoded stays where it is.
// A replayed turn comes after the turns its conversation received since: its place
// was lost when it was dead-lettered.
func ReplayDeadLetters(ctx context.Context, js jetstream.JetStream, limit int, dryRun bool) (DeadLetterReplay, error) {
	rep := DeadLetterReplay{DryRun: dryRun, Entries: []DeadLetterOutcome{}}
	dl, err := js.Stream(ctx, turn.DeadLetterStream)
	if err != nil {
		return rep, fmt.Errorf("stream %s: %w", turn.DeadLetterStream, err)
	}
	err = eachDeadLetter(ctx, js, limit, func(d DeadLetter, raw *jetstream.RawStreamMsg) error {
		o := DeadLetterOutcome{DeadLetter: d}
		switch {
		case d.Malformed != "":
			o.Result = "kept_malformed"
		case dryRun:
			o.Result = "would_republish"
		default:
			msg := &nats.Msg{Subject: turn.TurnSubject(d.ConversationID), Data: raw.Data, Header: nats.Header{}}
			msg.Header.Set(turn.HeaderRedrivenFrom, strconv.FormatUint(d.Sequence, 10))
			ack, err := js.PublishMsg(ctx, msg, jetstream.WithMsgID(turn.DeadLetterReplayMsgID(d.Sequence)), jetstream.WithExpectStream(turn.TurnsStream))
			if err != nil {
				o.Result, o.Problem = "failed", "republish: "+err.Error()
				break
			}
			o.Result, o.TurnsSequence = "republished", ack.Sequence
			if ack.Duplicate {
				o.Result, o.TurnsSequence = "duplicate", 0
			}
			if err := dl.DeleteMsg(ctx, d.Sequence); err != nil && !errors.Is(err, jetstream.ErrMsgNotFound) {
				o.Problem = "republished, but still in the dead-letter stream: " + err.Error()
			}
		}
		rep.Entries = append(rep.Entries, o)
		return nil
	})
	return rep, err
}

func eachDeadLetter(ctx context.Context, js jetstream.JetStream, limit int, f func(DeadLetter, *jetstream.RawStreamMsg) error) error {
	if limit <= 0 || limit > MaxDeadLetterBatch {
		limit = MaxDeadLetterBatch
	}
	oc, err := js.OrderedConsumer(ctx, turn.DeadLetterStream, jetstream.OrderedConsumerConfig{})
	if err != nil {
		return fmt.Errorf("stream %s: %w", turn.DeadLetterStream, err)
	}
	for read := 0; read < limit; {
		batch, err := oc.FetchNoWait(min(256, limit-read))
		if err != nil {
			return err
		}
		n := 0
		for m := range batch.Messages() {
			n++
			meta, err := m.Metadata()
			if err != nil {
				return err
			}
			d := DeadLetter{
				Sequence: meta.Sequence.Stream, Time: meta.Timestamp,
				Error: m.Headers().Get(turn.HeaderError), Subject: m.Headers().Get(turn.HeaderSubject),
			}
			d.StreamSequence, _ = strconv.ParseUint(m.Headers().Get(turn.HeaderStreamSequence), 10, 64)
			if t, err := DecodeTurn(m.Data()); err != nil {
				d.Malformed = err.Error()
			} else {
				d.TurnID, d.ConversationID = t.ID, t.ConversationID
			}
			raw := &jetstream.RawStreamMsg{Subject: m.Subject(), Sequence: d.Sequence, Header: m.Headers(), Data: m.Data(), Time: d.Time}
			if err := f(d, raw); err != nil {
				return err
			}
			if read+n >= limit {
				break
			}
		}
		if err := batch.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) {
			return err
		}
		if n == 0 {
			return nil
		}
		read += n
	}
	return nil
}
