package fake

import (
	"fmt"
	"math/rand/v2"
	"sort"
	"sync"
	"time"
)

// Mode is how a fake vendor behaves.
type Mode string

const (
	ModeOK     Mode = "ok"     // answer normally
	ModeDown   Mode = "down"   // refuse the call as an unreachable vendor would
	ModeErrors Mode = "errors" // fail a share (Rate) of calls with Status
	ModeSlow   Mode = "slow"   // answer normally after Latency
	// ModeHang answers nothing, to any call (probes included), until the caller
	// gives up: a vendor whose servers accept connections and then stall. A send
	// is not recorded: the vendor never got past reading it.
	ModeHang Mode = "hang"
	// ModeAcceptThenHang takes a CPaaS send, records it in the outbox, and answers
	// only after Latency (0: never, until the caller gives up): the vendor has the
	// message, the caller cannot know it. Every other call (probes, message
	// lookups) answers normally, as a vendor whose send pipeline stalls while its
	// read API still works does. NLU fakes ignore it: use slow.
	ModeAcceptThenHang Mode = "accept_then_hang"
)

// Fault is the behaviour set for one fake provider. It is also the JSON body of
// POST /dev/faults.
type Fault struct {
	Provider  string  `json:"provider"`
	Mode      Mode    `json:"mode"`
	Rate      float64 `json:"rate,omitempty"`       // errors: share of calls that fail, 0..1 (default 1)
	Status    int     `json:"status,omitempty"`     // errors: HTTP status to fail with (default 503)
	LatencyMS int     `json:"latency_ms,omitempty"` // slow: added latency; accept_then_hang: when the answer comes (0: never)
}

// Validate checks a fault and fills defaults.
func (f *Fault) Validate() error {
	if f.Provider == "" {
		return fmt.Errorf("provider is required")
	}
	switch f.Mode {
	case ModeOK, ModeDown:
	case ModeErrors:
		if f.Rate == 0 {
			f.Rate = 1
		}
		if f.Rate < 0 || f.Rate > 1 {
			return fmt.Errorf("rate must be between 0 and 1")
		}
		if f.Status == 0 {
			f.Status = 503
		}
		if f.Status < 400 || f.Status > 599 {
			return fmt.Errorf("status must be an HTTP error status (400-599)")
		}
	case ModeSlow:
		if f.LatencyMS <= 0 || f.LatencyMS > 600_000 {
			return fmt.Errorf("latency_ms must be between 1 and 600000")
		}
	case ModeHang:
		if f.LatencyMS != 0 || f.Rate != 0 || f.Status != 0 {
			return fmt.Errorf("hang takes no latency_ms, rate or status: it answers never")
		}
	case ModeAcceptThenHang:
		if f.LatencyMS < 0 || f.LatencyMS > 600_000 {
			return fmt.Errorf("latency_ms must be between 0 (never answer) and 600000")
		}
	default:
		return fmt.Errorf("mode must be one of ok, down, errors, slow, hang, accept_then_hang")
	}
	return nil
}

// hangFor is the delay of a hung call: longer than any caller waits.
const hangFor = 24 * time.Hour

// Decision is what a fake must do with one call.
type Decision struct {
	Down   bool          // drop the call as unreachable
	Status int           // non-zero: fail with this HTTP status (gRPC fakes map it)
	Delay  time.Duration // wait this long first (honouring the caller's context)
	// AnswerLate: a send is accepted and recorded first, then answered after
	// AnswerAfter (0: never, until the caller gives up). Other calls ignore it.
	AnswerLate  bool
	AnswerAfter time.Duration
}

// Faults holds the fault switches of every fake. The zero value is ready: every
// provider is ok. Safe for concurrent use.
type Faults struct {
	mu sync.Mutex
	m  map[string]Fault
}

// Set validates f and makes it the provider's behaviour. Mode ok clears the fault.
func (s *Faults) Set(f Fault) error {
	if err := f.Validate(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = map[string]Fault{}
	}
	if f.Mode == ModeOK {
		delete(s.m, f.Provider)
		return nil
	}
	s.m[f.Provider] = f
	return nil
}

// List returns the faults in force, sorted by provider.
func (s *Faults) List() []Fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Fault, 0, len(s.m))
	for _, f := range s.m {
		out = append(out, f)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Provider < out[j].Provider })
	return out
}

// Decide draws the behaviour of one call to provider.
func (s *Faults) Decide(provider string) Decision {
	s.mu.Lock()
	f, ok := s.m[provider]
	s.mu.Unlock()
	if !ok {
		return Decision{}
	}
	switch f.Mode {
	case ModeDown:
		return Decision{Down: true}
	case ModeErrors:
		if rand.Float64() < f.Rate {
			return Decision{Status: f.Status}
		}
	case ModeSlow:
		return Decision{Delay: time.Duration(f.LatencyMS) * time.Millisecond}
	case ModeHang:
		return Decision{Delay: hangFor}
	case ModeAcceptThenHang:
		return Decision{AnswerLate: true, AnswerAfter: time.Duration(f.LatencyMS) * time.Millisecond}
	}
	return Decision{}
}
