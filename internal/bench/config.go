package bench

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Phases Run can run, in the order it runs them.
const (
	PhaseThroughput = "throughput"
	PhaseHalfLoad   = "halfload"
	PhaseBaseline   = "baseline"
	PhaseMemory     = "memory"
	PhaseFailover   = "failover"
	PhaseHang       = "hang"
)

// AllPhases is the default selection.
var AllPhases = []string{PhaseThroughput, PhaseHalfLoad, PhaseBaseline, PhaseFailover, PhaseHang, PhaseMemory}

// Config is what `switchboard bench` runs.
type Config struct {
	// Turns driven through the real path in the throughput phase, and through the
	// baseline.
	Turns int
	// Conversations the throughput phase spreads its turns over.
	Conversations int
	// Concurrency is the number of conversations (or baseline workflows) in flight in
	// the closed-loop phases, and of webhook POSTs in flight in the memory phase.
	Concurrency int
	// HalfLoadDuration bounds the open-loop phase.
	HalfLoadDuration time.Duration
	// IdleConversations opened by the memory phase.
	IdleConversations int
	// TurnTimeout bounds the wait for one reply; a turn without a reply by then counts
	// as failed.
	TurnTimeout time.Duration
	// InMemory runs the stack with in-memory NATS and Temporal state instead of a
	// temporary data dir.
	InMemory bool
	// Phases to run; empty means AllPhases. The half-load phase needs the throughput
	// phase (its rate and its conversations).
	Phases []string
	// LogLevel of the stack: debug, info, warn or error.
	LogLevel string
	// FailoverPhase is the length of the failover phase's healthy and recovery
	// parts; the outage lasts twice as long.
	FailoverPhase time.Duration
	// HangPhase is the length of the hang phase's healthy and recovered parts;
	// the primary NLU provider hangs twice as long.
	HangPhase time.Duration
}

// Limits keep a mistyped flag from turning a benchmark into a stress test.
const (
	MaxTurns             = 200_000
	MaxConversations     = 100_000
	MaxConcurrency       = 1_000
	MaxHalfLoadDuration  = 10 * time.Minute
	MaxIdleConversations = 200_000
	MaxTurnTimeout       = 5 * time.Minute
)

// DefaultConfig is the configuration of a plain `switchboard bench`.
func DefaultConfig() Config {
	return Config{
		Turns: 2000, Conversations: 200, Concurrency: 20,
		HalfLoadDuration: 20 * time.Second, IdleConversations: 10000,
		TurnTimeout: 30 * time.Second, LogLevel: "warn", FailoverPhase: 15 * time.Second, HangPhase: 10 * time.Second,
	}
}

// Validate reports the first unreasonable field.
func (c *Config) Validate() error {
	if len(c.Phases) == 0 {
		c.Phases = AllPhases
	}
	for _, p := range c.Phases {
		if !slices.Contains(AllPhases, p) {
			return fmt.Errorf("unknown phase %q (phases: %s)", p, strings.Join(AllPhases, ", "))
		}
	}
	if c.runs(PhaseHalfLoad) && !c.runs(PhaseThroughput) {
		return fmt.Errorf("phase %s needs phase %s", PhaseHalfLoad, PhaseThroughput)
	}
	switch {
	case c.Turns < 1 || c.Turns > MaxTurns:
		return fmt.Errorf("--turns must be between 1 and %d, got %d", MaxTurns, c.Turns)
	case c.Conversations < 1 || c.Conversations > MaxConversations:
		return fmt.Errorf("--conversations must be between 1 and %d, got %d", MaxConversations, c.Conversations)
	case c.Conversations > c.Turns:
		return fmt.Errorf("--conversations (%d) must not exceed --turns (%d): every conversation needs a turn", c.Conversations, c.Turns)
	case c.Concurrency < 1 || c.Concurrency > MaxConcurrency:
		return fmt.Errorf("--concurrency must be between 1 and %d, got %d", MaxConcurrency, c.Concurrency)
	case c.Concurrency > c.Conversations:
		return fmt.Errorf("--concurrency (%d) must not exceed --conversations (%d): a conversation has one turn in flight at a time", c.Concurrency, c.Conversations)
	case c.HalfLoadDuration < time.Second || c.HalfLoadDuration > MaxHalfLoadDuration:
		return fmt.Errorf("--half-load-duration must be between 1s and %s, got %s", MaxHalfLoadDuration, c.HalfLoadDuration)
	case c.IdleConversations < 0 || c.IdleConversations > MaxIdleConversations:
		return fmt.Errorf("--idle-conversations must be between 0 and %d, got %d", MaxIdleConversations, c.IdleConversations)
	case c.runs(PhaseMemory) && c.IdleConversations < 100:
		return fmt.Errorf("--idle-conversations must be at least 100 for a meaningful memory figure, got %d (leave out the memory phase with --phases)", c.IdleConversations)
	case c.runs(PhaseFailover) && (c.FailoverPhase < 5*time.Second || c.FailoverPhase > 5*time.Minute):
		return fmt.Errorf("--failover-phase must be between 5s and 5m, got %s", c.FailoverPhase)
	case c.runs(PhaseHang) && (c.HangPhase < 5*time.Second || c.HangPhase > 5*time.Minute):
		return fmt.Errorf("--hang-phase must be between 5s and 5m, got %s", c.HangPhase)
	case c.TurnTimeout < time.Second || c.TurnTimeout > MaxTurnTimeout:
		return fmt.Errorf("--turn-timeout must be between 1s and %s, got %s", MaxTurnTimeout, c.TurnTimeout)
	}
	switch c.LogLevel {
	case "":
		c.LogLevel = "warn"
	case "debug", "info", "warn", "error":
	default:
		return fmt.Errorf("--log-level must be debug, info, warn or error, got %q", c.LogLevel)
	}
	return nil
}

func (c *Config) runs(phase string) bool { return slices.Contains(c.Phases, phase) }
