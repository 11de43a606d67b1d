package health

import (
	"encoding/json"
	"fmt"
	"time"
)

// State of a provider's breaker.
type State string

// States of a breaker.
const (
	// StateClosed: calls go through and their results are counted.
	StateClosed State = "closed"
	// StateOpen: calls are refused; probes (if any) watch for the recovery.
	StateOpen State = "open"
	// StateHalfOpen: a few trial calls go through; HalfOpenSuccesses successes in a
	// row close the breaker, one failure opens it again.
	StateHalfOpen State = "half-open"
)

// Mode is an operator's override of a breaker.
type Mode string

// Override modes.
const (
	// ModeAuto: the breaker decides (no override).
	ModeAuto Mode = "auto"
	// ModeOpen: the provider is taken out of rotation whatever its results.
	ModeOpen Mode = "open"
	// ModeClosed: the provider stays in rotation and its failures are not counted.
	ModeClosed Mode = "closed"
)

// ParseMode reads an override mode: "open", "closed" or "auto".
func ParseMode(s string) (Mode, error) {
	switch m := Mode(s); m {
	case ModeAuto, ModeOpen, ModeClosed:
		return m, nil
	}
	return "", fmt.Errorf("%w %q: want open, closed or auto", ErrInvalidMode, s)
}

// Status is what Snapshot reports about one provider.
type Status struct {
	// Name of the provider, e.g. "dialogflowcx".
	Name string
	// State of the breaker as routing sees it. An override shows here too: a provider
	// forced open is open.
	State State
	// Reason of the last transition, e.g. "5 consecutive failures: provider
	// unavailable", or "operator override".
	Reason string
	// Since is when the breaker entered State.
	Since time.Time
	// Origin is the instance whose observation caused the last transition: this one,
	// or another worker sharing the bucket.
	Origin string
	// Override is the operator's override, ModeAuto when there is none.
	Override Mode
	// Calls, ErrorRate, SlowCalls and P95 describe this instance's calls within the
	// breaker's Window (probes excluded). ErrorRate is the share of calls that failed
	// for a reason that counts against the provider (unavailable, timeout, rate
	// limited); slow calls are counted apart. P95 is the nearest-rank 95th
	// percentile latency of all calls, failures included.
	Calls     int
	ErrorRate float64
	SlowCalls int
	P95       time.Duration
}

// statusJSON is Status on the wire: durations in milliseconds, snake_case names.
type statusJSON struct {
	Name      string    `json:"name"`
	State     State     `json:"state"`
	Reason    string    `json:"reason,omitempty"`
	Since     time.Time `json:"since"`
	Origin    string    `json:"origin,omitempty"`
	Override  Mode      `json:"override"`
	Calls     int       `json:"calls"`
	ErrorRate float64   `json:"error_rate"`
	SlowCalls int       `json:"slow_calls"`
	P95Millis float64   `json:"p95_ms"`
}

// MarshalJSON writes the latency as "p95_ms", in milliseconds.
func (s Status) MarshalJSON() ([]byte, error) {
	return json.Marshal(statusJSON{
		Name: s.Name, State: s.State, Reason: s.Reason, Since: s.Since, Origin: s.Origin,
		Override: s.Override, Calls: s.Calls, ErrorRate: s.ErrorRate, SlowCalls: s.SlowCalls,
		P95Millis: float64(s.P95) / float64(time.Millisecond),
	})
}

// UnmarshalJSON reads what MarshalJSON wrote.
func (s *Status) UnmarshalJSON(b []byte) error {
	var j statusJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	*s = Status{
		Name: j.Name, State: j.State, Reason: j.Reason, Since: j.Since, Origin: j.Origin,
		Override: j.Override, Calls: j.Calls, ErrorRate: j.ErrorRate, SlowCalls: j.SlowCalls,
		P95: time.Duration(j.P95Millis * float64(time.Millisecond)),
	}
	return nil
}
