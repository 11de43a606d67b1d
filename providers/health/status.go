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
	// TripReason is why the breaker opened, while it is open or half-open: the
	// transition out of closed, e.g. "3 consecutive failures: provider unavailable".
	// Failed probes and trial calls do not replace it. Empty while closed.
	TripReason string
	// Since is when the breaker entered State.
	Since time.Time
	// Origin is the instance whose observation caused the last transition: this one,
	// or another worker sharing the bucket.
	Origin string
	// Override is the operator's override, ModeAuto when there is none.
	Override Mode

	// LastProbe, LastProbeResult ("ok", or "failed: <cause>") and ProbeFailures (in
	// a row; 0 after a good probe or once closed) describe this instance's probes.
	// Probes run only while the breaker is out of rotation, and only in the
	// processes that hold the provider's client (the worker role). LastProbe is zero
	// before the first probe.
	LastProbe       time.Time
	LastProbeResult string
	ProbeFailures   int

	// Calls, FailedCalls, ErrorRate, SlowCalls and P95 describe this instance's
	// calls within the last Window (the breaker's window; probes excluded), and
	// LastCall is the latest of them. ErrorRate is FailedCalls/Calls: the share of
	// calls made that failed for a reason that counts against the provider
	// (unavailable, timeout, rate limited); slow calls are counted apart. While the
	// breaker is open no calls are made, so the rate describes the calls before the
	// trip, and is 0 with Calls 0 once they left the window: read State and
	// TripReason first. P95 is the nearest-rank 95th percentile latency of all
	// calls, failures included.
	Window      time.Duration
	Calls       int
	FailedCalls int
	ErrorRate   float64
	SlowCalls   int
	P95         time.Duration
	LastCall    time.Time
}

// statusJSON is Status on the wire: durations in milliseconds, snake_case names.
type statusJSON struct {
	Name            string     `json:"name"`
	State           State      `json:"state"`
	Reason          string     `json:"reason,omitempty"`
	TripReason      string     `json:"trip_reason,omitempty"`
	Since           time.Time  `json:"since"`
	Origin          string     `json:"origin,omitempty"`
	Override        Mode       `json:"override"`
	LastProbe       *time.Time `json:"last_probe,omitempty"`
	LastProbeResult string     `json:"last_probe_result,omitempty"`
	ProbeFailures   int        `json:"probe_failures"`
	WindowMillis    int64      `json:"window_ms"`
	Calls           int        `json:"calls"`
	FailedCalls     int        `json:"failed_calls"`
	ErrorRate       float64    `json:"error_rate"`
	SlowCalls       int        `json:"slow_calls"`
	P95Millis       float64    `json:"p95_ms"`
	LastCall        *time.Time `json:"last_call,omitempty"`
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func timeOf(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return *t
}

// MarshalJSON writes the latency as "p95_ms" and the window as "window_ms", in
// milliseconds.
func (s Status) MarshalJSON() ([]byte, error) {
	return json.Marshal(statusJSON{
		Name: s.Name, State: s.State, Reason: s.Reason, TripReason: s.TripReason, Since: s.Since, Origin: s.Origin,
		Override: s.Override, LastProbe: timePtr(s.LastProbe), LastProbeResult: s.LastProbeResult, ProbeFailures: s.ProbeFailures,
		WindowMillis: s.Window.Milliseconds(), Calls: s.Calls, FailedCalls: s.FailedCalls, ErrorRate: s.ErrorRate, SlowCalls: s.SlowCalls,
		P95Millis: float64(s.P95) / float64(time.Millisecond), LastCall: timePtr(s.LastCall),
	})
}

// UnmarshalJSON reads what MarshalJSON wrote.
func (s *Status) UnmarshalJSON(b []byte) error {
	var j statusJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	*s = Status{
		Name: j.Name, State: j.State, Reason: j.Reason, TripReason: j.TripReason, Since: j.Since, Origin: j.Origin,
		Override: j.Override, LastProbe: timeOf(j.LastProbe), LastProbeResult: j.LastProbeResult, ProbeFailures: j.ProbeFailures,
		Window: time.Duration(j.WindowMillis) * time.Millisecond, Calls: j.Calls, FailedCalls: j.FailedCalls, ErrorRate: j.ErrorRate, SlowCalls: j.SlowCalls,
		P95: time.Duration(j.P95Millis * float64(time.Millisecond)), LastCall: timeOf(j.LastCall),
	}
	return nil
}
