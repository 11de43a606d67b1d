package turn

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"
)

// Durations are written as Go duration strings ("30s", "12.5ms"), in the API, the
// events stream and the workflow payloads alike, since one JSON encoding serves
// them all. They are read in that form and in the one written before, integer
// nanoseconds, so that histories, carried state and escalations in JetStream
// recorded before still decode.

// readDuration decodes a duration string or an integer of nanoseconds.
func readDuration(field string, b []byte) (time.Duration, error) {
	b = bytes.TrimSpace(b)
	if len(b) == 0 || bytes.Equal(b, []byte("null")) {
		return 0, nil
	}
	if b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return 0, fmt.Errorf("%s: %w", field, err)
		}
		if s == "" {
			return 0, nil
		}
		d, err := time.ParseDuration(s)
		if err != nil {
			return 0, fmt.Errorf("%s must be a duration such as \"30s\": %w", field, err)
		}
		return d, nil
	}
	var ns int64
	if err := json.Unmarshal(b, &ns); err != nil {
		return 0, fmt.Errorf("%s must be a duration such as \"30s\", or nanoseconds: %w", field, err)
	}
	return time.Duration(ns), nil
}

// durationText is a duration's JSON form; "" for zero, so that omitempty omits it.
func durationText(d time.Duration) string {
	if d == 0 {
		return ""
	}
	return d.String()
}

type queueJSON struct {
	Name   string          `json:"name"`
	AckSLA json.RawMessage `json:"ack_sla"`
}

// MarshalJSON writes ack_sla as a duration string.
func (q Queue) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Name   string `json:"name"`
		AckSLA string `json:"ack_sla"`
	}{q.Name, q.AckSLA.String()})
}

// UnmarshalJSON reads ack_sla as a duration string or as nanoseconds.
func (q *Queue) UnmarshalJSON(b []byte) error {
	var v queueJSON
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	d, err := readDuration("ack_sla", v.AckSLA)
	if err != nil {
		return err
	}
	*q = Queue{Name: v.Name, AckSLA: d}
	return nil
}

// outcomeFields is Outcome without its methods.
type outcomeFields Outcome

// MarshalJSON writes the providers' latencies as duration strings, nlu_duration
// and cpaas_duration.
func (o Outcome) MarshalJSON() ([]byte, error) {
	f := outcomeFields(o)
	f.NLUDuration, f.CPaaSDuration = 0, 0 // their nanosecond fields are omitted
	return json.Marshal(struct {
		outcomeFields
		NLUDuration   string `json:"nlu_duration,omitempty"`
		CPaaSDuration string `json:"cpaas_duration,omitempty"`
	}{f, durationText(o.NLUDuration), durationText(o.CPaaSDuration)})
}

// UnmarshalJSON reads the latencies as duration strings, or from the nanosecond
// fields (nlu_duration_ns, cpaas_duration_ns) written before.
func (o *Outcome) UnmarshalJSON(b []byte) error {
	var v struct {
		*outcomeFields
		NLUDuration   json.RawMessage `json:"nlu_duration"`
		CPaaSDuration json.RawMessage `json:"cpaas_duration"`
	}
	var f outcomeFields
	v.outcomeFields = &f
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	if len(v.NLUDuration) > 0 {
		d, err := readDuration("nlu_duration", v.NLUDuration)
		if err != nil {
			return err
		}
		f.NLUDuration = d
	}
	if len(v.CPaaSDuration) > 0 {
		d, err := readDuration("cpaas_duration", v.CPaaSDuration)
		if err != nil {
			return err
		}
		f.CPaaSDuration = d
	}
	*o = Outcome(f)
	return nil
}
