package health

import (
	"fmt"
	"time"
)

// Defaults for BreakerSettings. They follow what the gateways that do this for a
// living settled on: Envoy ejects a host after 5 consecutive 5xx, LiteLLM cools a
// deployment down on failures within a minute, Portkey keeps a tripped target out for
// at least 30 s.
const (
	DefaultConsecutiveFailures = 5
	DefaultFailureRate         = 0.5
	DefaultWindow              = 60 * time.Second
	DefaultMinCalls            = 10
	DefaultOpenFor             = 30 * time.Second
	DefaultHalfOpenSuccesses   = 3
)

// BreakerSettings configure one provider's circuit breaker. Zero fields take the
// defaults above; SlowCall's zero means "slow calls are not failures".
type BreakerSettings struct {
	// ConsecutiveFailures trips the breaker after this many failures in a row.
	ConsecutiveFailures int
	// FailureRate trips the breaker when at least this share (0 < rate <= 1) of the
	// calls within Window failed, once at least MinCalls calls were made in it.
	FailureRate float64
	// Window is the sliding window of the failure rate, and of Status's error rate
	// and p95 latency.
	Window time.Duration
	// MinCalls is the number of calls within Window before the failure rate counts.
	MinCalls int
	// SlowCall, when positive, makes an answer slower than this a failure: a provider
	// that answers in 8 s is as useless to a customer as one that does not answer.
	SlowCall time.Duration
	// OpenFor is how long a tripped breaker refuses calls before it lets trial calls
	// through (half-open). A failed probe restarts it.
	OpenFor time.Duration
	// HalfOpenSuccesses is the number of successful trial calls or probes in a row
	// that close a half-open breaker. It is also the number of trial calls Allow
	// admits at a time while half-open. One failure opens it again.
	HalfOpenSuccesses int
	// ProbeInterval is how often the provider is probed while its breaker is open or
	// half-open, and how often an open breaker is checked for an elapsed OpenFor.
	// Zero takes the registry's Options.ProbeInterval. A change by Configure takes
	// effect at once and leaves the breaker and its counts as they are.
	ProbeInterval time.Duration
}

// breaker is s without what does not shape the breaker itself: two settings with
// the same breaker need no new one.
func (s BreakerSettings) breaker() BreakerSettings {
	s.ProbeInterval = 0
	return s
}

// Validate fills the defaults of zero fields and reports the first bad field, by name.
func (s *BreakerSettings) Validate() error {
	if s.ConsecutiveFailures == 0 {
		s.ConsecutiveFailures = DefaultConsecutiveFailures
	}
	if s.FailureRate == 0 {
		s.FailureRate = DefaultFailureRate
	}
	if s.Window == 0 {
		s.Window = DefaultWindow
	}
	if s.MinCalls == 0 {
		s.MinCalls = DefaultMinCalls
	}
	if s.OpenFor == 0 {
		s.OpenFor = DefaultOpenFor
	}
	if s.HalfOpenSuccesses == 0 {
		s.HalfOpenSuccesses = DefaultHalfOpenSuccesses
	}
	switch {
	case s.ConsecutiveFailures < 1:
		return fmt.Errorf("health: BreakerSettings.ConsecutiveFailures must be at least 1, got %d", s.ConsecutiveFailures)
	case s.FailureRate < 0 || s.FailureRate > 1:
		return fmt.Errorf("health: BreakerSettings.FailureRate must be in (0, 1], got %v", s.FailureRate)
	case s.Window < 10*time.Millisecond:
		return fmt.Errorf("health: BreakerSettings.Window must be at least 10ms, got %v", s.Window)
	case s.MinCalls < 1:
		return fmt.Errorf("health: BreakerSettings.MinCalls must be at least 1, got %d", s.MinCalls)
	case s.SlowCall < 0:
		return fmt.Errorf("health: BreakerSettings.SlowCall must not be negative (0 turns it off), got %v", s.SlowCall)
	case s.OpenFor < time.Millisecond:
		return fmt.Errorf("health: BreakerSettings.OpenFor must be at least 1ms, got %v", s.OpenFor)
	case s.HalfOpenSuccesses < 1:
		return fmt.Errorf("health: BreakerSettings.HalfOpenSuccesses must be at least 1, got %d", s.HalfOpenSuccesses)
	case s.ProbeInterval < 0:
		return fmt.Errorf("health: BreakerSettings.ProbeInterval must not be negative (0 takes Options.ProbeInterval), got %v", s.ProbeInterval)
	}
	return nil
}
