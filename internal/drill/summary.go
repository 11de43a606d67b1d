package drill

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// How many faults, stuck conversations and problems the summary lists, to stay on
// one screen; the reports list all.
const (
	maxSummaryFaults   = 12
	maxSummaryStuck    = 5
	maxSummaryProblems = 10
)

// WriteSummary writes the one-screen summary of a report.
func WriteSummary(w io.Writer, r *Report) {
	v, f, n := r.Verdict, r.Figures, r.Verdict.Counts
	verdict := "PASS"
	if !v.Pass {
		verdict = "FAIL"
	}
	fmt.Fprintf(w, "switchboard drill %s: %s\n", r.Scenario, verdict)
	row := func(name, format string, args ...any) {
		fmt.Fprintf(w, "  %-12s %s\n", name, fmt.Sprintf(format, args...))
	}
	row("target", "%s", r.Target)
	row("load", "%s, %d turns sent (%d skipped: every conversation busy); %d accepted, %d may-or-may-not (%d of them stored), %d refused; %d retried, %d attempts cut off",
		secs(f.LoadSeconds), n.Turns, n.Skipped, n.Accepted, n.Maybe, n.MaybeStored, n.Refused, n.Retried, n.CutOff)
	row("answers", "%d answered through a vendor, %d forwarded to a human who had them; %d unanswered (%d lost)", n.Answered, n.ByHuman, n.Unanswered, n.Lost)
	row("promises", "duplicates %d  out of order %d  sent unasked %d  unanswered %d  lost %d", n.Duplicates, n.OutOfOrder, n.Unasked, n.Unanswered, n.Lost)
	settled := "settled"
	if !r.Settled {
		settled = "NOT settled by the end of the settle time"
	}
	row("latency", "p50 %s  p90 %s  p99 %s  max %s, from the webhook to the reply at the vendor (%d turns)",
		ms(f.Latency.P50), ms(f.Latency.P90), ms(f.Latency.P99), ms(f.Latency.Max), f.Latency.Count)
	row("throughput", "%.1f turns/s accepted over the load, peak %d/s; last reply at %s; %s at %s",
		f.AcceptedPerSecond, f.PeakAcceptedPerSecond, secs(f.LastReply), settled, secs(f.Seconds))
	row("escalations", "%d queued, %d acknowledged by the drill's agents, %d flagged; %d stuck conversation(s)", n.Escalations, n.Acknowledged, n.Flagged, n.Stuck)
	row("served", "NLU %s; CPaaS %s", counts(f.ServedTotal.NLU), counts(f.ServedTotal.CPaaS))
	var out []string
	for _, b := range f.Breakers {
		if b.OpenSeconds > 0 {
			out = append(out, fmt.Sprintf("%s %s", b.Provider, secs(b.OpenSeconds)))
		}
	}
	if len(out) == 0 {
		out = []string{"none"}
	}
	row("breakers", "out of rotation: %s", strings.Join(out, ", "))
	for i, fs := range f.Faults {
		if i == maxSummaryFaults {
			row("", "… and %d more in %s", len(f.Faults)-i, r.Files.HTML)
			break
		}
		name := ""
		if i == 0 {
			name = "faults"
		}
		line := fmt.Sprintf("%s–%s %s", secs(fs.From), secs(fs.To), fs.Label)
		if fs.Error != "" {
			line += " (ERROR: " + fs.Error + ")"
		}
		row(name, "%s", line)
	}
	for i, s := range v.Stuck {
		if i == maxSummaryStuck {
			row("", "… and %d more in %s", len(v.Stuck)-i, r.Files.HTML)
			break
		}
		name := ""
		if i == 0 {
			name = "stuck"
		}
		row(name, "%s: %s", s.ConversationID, stuckText(s))
	}
	for i, p := range v.Problems {
		if i == maxSummaryProblems {
			row("", "… and %d more in %s", len(v.Problems)-i, r.Files.JSON)
			break
		}
		name := ""
		if i == 0 {
			name = "problems"
		}
		row(name, "%s %s %s: %s", p.Kind, p.ConversationID, p.TurnID, p.Detail)
	}
	for i, note := range r.Notes {
		name := ""
		if i == 0 {
			name = "notes"
		}
		row(name, "%s", note)
	}
	if r.Files.HTML != "" {
		row("reports", "%s  %s  %s", r.Files.HTML, r.Files.JSON, r.Files.History)
	}
}

func counts(m map[string]int) string {
	if len(m) == 0 {
		return "none"
	}
	var parts []string
	for _, k := range sortedKeys(m) {
		parts = append(parts, fmt.Sprintf("%s %d", k, m[k]))
	}
	return strings.Join(parts, ", ")
}

func secs(s float64) string {
	return clockText(time.Duration(s * float64(time.Second)))
}

func ms(v float64) string {
	if v >= 1000 {
		return fmt.Sprintf("%.2fs", v/1000)
	}
	return fmt.Sprintf("%.0fms", v)
}
