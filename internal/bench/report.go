package bench

import (
	"fmt"
	"io"
	"math"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/switchboard-cc/switchboard/providers/routing"
)

// Report holds what the phases measured; nil phases did not run (or did not finish).
type Report struct {
	Started    time.Time
	Config     Config
	Storage    string
	Throughput *ThroughputResult
	HalfLoad   *Summary
	Baseline   *Summary
	Memory     *MemoryResult
	Failover   *FailoverResult
	Hang       *HangResult
	// Unexpected counts replies in the outbox that no turn waited for (there should
	// be none: a duplicate reply would show here).
	Unexpected int
	// LoadStart and LoadEnd are the machine's 1-minute load averages.
	LoadStart, LoadEnd string
}

// Targets the report checks.
const (
	TargetRatio      = 4.0                    // ours/baseline turns/s, at least
	TargetHalfP50    = 40 * time.Millisecond  // at most
	TargetHalfP99    = 250 * time.Millisecond // at most
	TargetIdleKBConv = 30.0                   // RSS KB per idle conversation, at most
)

// Write prints the report.
func (r *Report) Write(w io.Writer) {
	fmt.Fprintf(w, "\nSwitchboard benchmark, %s\n", r.Started.UTC().Format("2006-01-02 15:04 MST"))
	fmt.Fprintf(w, "machine: %s\n", environment())
	fmt.Fprintf(w, "stack:   embedded, in this process, state %s\n", r.Storage)
	c := r.Config
	fmt.Fprintf(w, "load:    %d turns over %d conversations, %d in flight; half load for %s; %d idle conversations\n",
		c.Turns, c.Conversations, c.Concurrency, c.HalfLoadDuration, c.IdleConversations)
	fmt.Fprintln(w, "latency: ours from the signed webhook POST to the reply in the fake Twilio's outbox;")
	fmt.Fprintln(w, "         baseline from ExecuteWorkflow to the return of Get")
	fmt.Fprintln(w, "cpu/turn: CPU time of this whole process (stack, Temporal server, fakes, load generator) per turn;")
	fmt.Fprintln(w, "         other: cores kept busy by other processes on the machine meanwhile")
	if r.LoadStart != "" {
		fmt.Fprintf(w, "load average (1 min): %s at start, %s at end\n", r.LoadStart, r.LoadEnd)
	}
	fmt.Fprintln(w)

	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "phase\tturns\tfailed\tturns/s\tp50\tp95\tp99\tmax\tcpu/turn\tother\t")
	row := func(s Summary) {
		rate, cpu, other := "-", "-", "-"
		if s.Elapsed > 0 {
			rate = fmt.Sprintf("%.1f", s.Rate())
		}
		if c := s.CPUPerTurn(); c > 0 {
			cpu = ms(c)
		}
		if s.Usage.CPU > 0 && s.Usage.OtherCores >= 0 {
			other = fmt.Sprintf("%.2f", s.Usage.OtherCores)
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", s.Name, s.Turns, s.Failed, rate, ms(s.P50), ms(s.P95), ms(s.P99), ms(s.Max), cpu, other)
	}
	if t := r.Throughput; t != nil {
		row(t.All)
		row(t.First)
		row(t.Later)
	}
	if r.HalfLoad != nil {
		row(*r.HalfLoad)
	}
	if r.Baseline != nil {
		row(*r.Baseline)
	}
	if r.Failover != nil {
		row(r.Failover.OutagePercentiles)
	}
	if h := r.Hang; h != nil {
		row(h.Healthy)
		row(h.Hang)
		row(h.Recovered)
	}
	tw.Flush()
	fmt.Fprintln(w)

	var checks []string
	if r.Throughput != nil && r.Baseline != nil {
		q := ratio(r.Throughput.All.Rate(), r.Baseline.Rate())
		fmt.Fprintf(w, "ours / baseline turns/s: %.2f× (%.1f / %.1f)\n", q, r.Throughput.All.Rate(), r.Baseline.Rate())
		if a, b := r.Throughput.All.CPUPerTurn(), r.Baseline.CPUPerTurn(); a > 0 && b > 0 {
			fmt.Fprintf(w, "baseline / ours CPU per turn: %.2f× (%s / %s)\n", ratio(float64(b), float64(a)), ms(b), ms(a))
		}
		checks = append(checks, check(!math.IsNaN(q) && q >= TargetRatio, fmt.Sprintf("ours ≥ %.0f× baseline turns/s", TargetRatio)))
	}
	if t := r.Throughput; t != nil {
		fmt.Fprintf(w, "hedging on the healthy stack (throughput phase): %d extra NLU calls for %d turns, %.1f per 1000 turns (bound: %d hedges in flight per provider)\n",
			t.Hedging.Extra, t.Hedging.Turns, t.Hedging.PerThousand(), routing.DefaultHedgeMaxInFlight)
	}
	if h := r.HalfLoad; h != nil {
		checks = append(checks,
			check(h.Turns > 0 && h.P50 <= TargetHalfP50, "half-load p50 ≤ "+ms(TargetHalfP50)),
			check(h.Turns > 0 && h.P99 <= TargetHalfP99, "half-load p99 ≤ "+ms(TargetHalfP99)))
	}
	if m := r.Memory; m != nil {
		n := float64(max(m.Conversations, 1))
		fmt.Fprintf(w, "memory: %d idle conversations opened in %s: RSS %s → %s, %+.1f KB per idle conversation\n",
			m.Conversations, m.Open.Round(100*time.Millisecond), mb(m.Before.RSSKB), mb(m.After.RSSKB), m.PerConversationKB())
		fmt.Fprintf(w, "        of which Go heap %+.1f KB (live objects %+.1f KB), goroutine stacks %+.1f KB, goroutines %+.2f per conversation\n",
			(float64(m.After.HeapKB)-float64(m.Before.HeapKB))/n, (float64(m.After.LiveKB)-float64(m.Before.LiveKB))/n,
			(float64(m.After.StacksKB)-float64(m.Before.StacksKB))/n,
			float64(m.After.Goroutines-m.Before.Goroutines)/n)
		if m.Usage.CPU > 0 {
			fmt.Fprintf(w, "        opening them cost %s CPU per conversation (other processes: %.2f cores)\n", ms(m.Usage.CPU/time.Duration(max(m.Conversations, 1))), m.Usage.OtherCores)
		}
		if m.Failed > 0 {
			fmt.Fprintf(w, "        %d webhooks refused\n", m.Failed)
		}
		checks = append(checks, check(m.PerConversationKB() <= TargetIdleKBConv, fmt.Sprintf("≤ %.0f KB RSS per idle conversation", TargetIdleKBConv)))
	}
	if f := r.Failover; f != nil {
		fmt.Fprintf(w, "failover: %s\n", f.Mode)
		fmt.Fprintf(w, "          %d of %d turns answered during the outage (%.2f%%); %d paid the attempt timeout;\n",
			f.Answered, f.Sent, 100*float64(f.Answered)/float64(max(f.Sent, 1)), f.PaidTimeout)
		fmt.Fprintf(w, "          every turn on the next provider %s after the outage began (last turn that paid the timeout answered)\n", ms(f.AllOnNext))
		fmt.Fprintf(w, "          turns/s healthy %.1f, during the outage %.1f (%.0f%%)\n", f.HealthyRate, f.OutageRate, 100*ratio(f.OutageRate, f.HealthyRate))
		if f.BackInRotation > 0 {
			fmt.Fprintf(w, "          back in rotation %s after it recovered (first reply through it again)\n", ms(f.BackInRotation))
		} else {
			fmt.Fprintln(w, "          NOT back in rotation by the end of the recovery part")
		}
		checks = append(checks,
			check(f.Sent > 0 && float64(f.Answered) >= 0.99*float64(f.Sent), "≥ 99% of turns answered during the outage"),
			check(f.OutageRate >= 0.8*f.HealthyRate, "failover turns/s ≥ 80% of healthy"))
	}
	if h := r.Hang; h != nil {
		fmt.Fprintf(w, "hang: %s\n", h.Mode)
		if h.Usage.OtherCores >= 0 {
			fmt.Fprintf(w, "      other processes kept %.2f cores busy meanwhile\n", h.Usage.OtherCores)
		}
		fmt.Fprintf(w, "      p50 / p99: healthy %s / %s, %s hung %s / %s, recovered %s / %s\n",
			ms(h.Healthy.P50), ms(h.Healthy.P99), h.Primary, ms(h.Hang.P50), ms(h.Hang.P99), ms(h.Recovered.P50), ms(h.Recovered.P99))
		fmt.Fprintf(w, "      %d of %d turns paid more than %s over the healthy p99 (failed turns included)\n",
			h.PaidOver, h.Hang.Turns+h.Hang.Failed+h.Recovered.Turns+h.Recovered.Failed, ms(TargetHangExtra))
		fmt.Fprintf(w, "      slowest turn while it hung %s; hedging bounds it at %s (healthy p50 + hedge delay %s + upstream %s)\n",
			ms(h.Worst), ms(h.Bound), ms(h.HedgeDelay), ms(HangUpstream))
		fmt.Fprintf(w, "      while it hung: %d of %d turns hedged, %d extra NLU calls; healthy part: %.1f extra NLU calls per 1000 turns\n",
			h.HangHedging.Hedged, h.HangHedging.Turns, h.HangHedging.Extra, h.HealthyHedging.PerThousand())
		if h.BackOnPrimary > 0 {
			fmt.Fprintf(w, "      back on %s %s after it recovered (the first turn it answered came in then, its reply left at %s; probe interval %s)\n",
				h.Primary, ms(h.BackOnPrimary), ms(h.BackReply), h.ProbeInterval)
		} else {
			fmt.Fprintf(w, "      NOT back on %s by the end of the recovered part\n", h.Primary)
		}
		checks = append(checks,
			check(h.Hang.Turns > 0 && h.Worst <= h.Bound, "no turn paid more than its hedge delay plus the next provider's latency"),
			check(h.Hang.Turns > 0 && h.Hang.P99 <= h.Healthy.P99+TargetHangExtra, "hang p99 ≤ healthy p99 + "+ms(TargetHangExtra)),
			check(h.BackOnPrimary > 0 && h.BackOnPrimary <= h.ProbeInterval, "back on the primary within one probe interval"))
	}
	if r.Unexpected > 0 {
		fmt.Fprintf(w, "WARNING: %d replies in the outbox matched no turn (duplicates?)\n", r.Unexpected)
	}
	if len(checks) > 0 {
		fmt.Fprintf(w, "targets: %s\n", strings.Join(checks, "; "))
	}
}

func check(ok bool, what string) string {
	if ok {
		return "met: " + what
	}
	return "MISSED: " + what
}

func ms(d time.Duration) string {
	return fmt.Sprintf("%.1fms", float64(d)/float64(time.Millisecond))
}

func mb(kb int64) string { return fmt.Sprintf("%.1f MB", float64(kb)/1024) }
