package drill

import (
	"fmt"
	"html"
	"html/template"
	"io"
	"math"
	"strings"
)

// maxHTMLProblems bounds the problems the HTML lists; the JSON has them all.
const maxHTMLProblems = 500

// legendItem is one entry of a chart's legend.
type legendItem struct{ Color, Label string }

type htmlChart struct {
	Title, Caption string
	SVG            template.HTML
	Legend         []legendItem
}

// renderHTML writes the report as one self-contained page: inline CSS and SVG,
// nothing loaded from anywhere.
func renderHTML(w io.Writer, r *Report) error {
	f := r.Figures
	problems := r.Verdict.Problems
	more := 0
	if len(problems) > maxHTMLProblems {
		more = len(problems) - maxHTMLProblems
		problems = problems[:maxHTMLProblems]
	}
	data := map[string]any{
		"R": r, "N": r.Verdict.Counts, "F": f, "Problems": problems, "More": more,
		"Charts": []htmlChart{turnsChart(f), latencyChart(f), breakersChart(f), servedChart(f, "NLU", func(s Served) map[string]int { return s.NLU }),
			servedChart(f, "CPaaS", func(s Served) map[string]int { return s.CPaaS })},
	}
	return page.Execute(w, data)
}

// turnsChart: turns sent, accepted and answered per second, and the failed
// webhook attempts.
func turnsChart(f Figures) htmlChart {
	yMax := 1.0
	for _, s := range f.PerSecond {
		yMax = max(yMax, float64(max(s.Sent, s.Accepted, s.Answered, s.Failed)))
	}
	c := newChart(f.Seconds, yMax*1.1, 260)
	c.faults(f.Faults)
	c.axes("turns per second", func(v float64) string { return fmt.Sprintf("%g", v) })
	xs := make([]float64, len(f.PerSecond))
	sent, acc, ans := make([]float64, len(xs)), make([]float64, len(xs)), make([]float64, len(xs))
	for i, s := range f.PerSecond {
		xs[i] = float64(s.T) + 0.5
		sent[i], acc[i], ans[i] = float64(s.Sent), float64(s.Accepted), float64(s.Answered)
		if s.Failed > 0 {
			c.rect(float64(s.T), float64(s.T+1), 0, float64(s.Failed), "#d62728", fmt.Sprintf("%s: %d webhook attempts failed or cut off", secs(float64(s.T)), s.Failed))
		}
	}
	c.line(xs, acc, palette[2], "accepted (2xx)")
	c.line(xs, ans, palette[3], "answered (reply at a vendor)")
	c.dashed = true // on top, so that it shows where it runs with the others
	c.line(xs, sent, palette[0], "sent")
	return htmlChart{Title: "Turns per second", SVG: c.svg(),
		Caption: "Turns whose first webhook attempt began in each second (sent), 2xx answers (accepted), first replies reaching a vendor (answered), and webhook attempts answered otherwise or cut off (red bars). The numbered bands are the faults.",
		Legend:  []legendItem{{palette[0], "sent"}, {palette[2], "accepted"}, {palette[3], "answered"}, {"#d62728", "failed attempts"}}}
}

// latencyChart: p50 and p99 per second, on a log scale.
func latencyChart(f Figures) htmlChart {
	top := 100.0
	for _, s := range f.PerSecond {
		if s.P99 != nil {
			top = max(top, *s.P99)
		}
	}
	c := newChart(f.Seconds, math.Pow(10, math.Ceil(math.Log10(top))), 260)
	c.logY, c.yMin = true, 1
	c.faults(f.Faults)
	c.axes("latency", func(v float64) string { return ms(v) })
	var xs, p50, p99 []float64
	for _, s := range f.PerSecond {
		xs = append(xs, float64(s.T)+0.5)
		if s.P50 == nil {
			p50, p99 = append(p50, math.NaN()), append(p99, math.NaN())
			continue
		}
		p50, p99 = append(p50, *s.P50), append(p99, *s.P99)
	}
	c.line(xs, p50, palette[0], "p50")
	c.line(xs, p99, "#d62728", "p99")
	return htmlChart{Title: "Latency: p50 and p99 per second", SVG: c.svg(),
		Caption: "From a turn's first webhook attempt to its reply reaching a vendor, for the turns sent in each second (log scale). A gap is a second whose turns were all answered by no vendor, or none were sent.",
		Legend:  []legendItem{{palette[0], "p50"}, {"#d62728", "p99"}}}
}

// breakersChart: one lane per provider, coloured by its breaker's state.
func breakersChart(f Figures) htmlChart {
	lanes := len(f.Breakers)
	c := newChart(f.Seconds, float64(max(lanes, 1)), 40+24*float64(max(lanes, 1)))
	c.faults(f.Faults)
	c.axes("", func(float64) string { return "" })
	for i, tl := range f.Breakers {
		lo, hi := float64(lanes-i-1)+0.15, float64(lanes-i)-0.15
		for _, s := range tl.Segments {
			c.rect(s.From, s.To, lo, hi, stateColor(s.State), fmt.Sprintf("%s %s from %s to %s", tl.Provider, s.State, secs(s.From), secs(s.To)))
		}
		c.printf(`<text x="%.1f" y="%.1f" class="tick" text-anchor="end">%s</text>`, c.left-6, c.y((lo+hi)/2)+4, html.EscapeString(tl.Provider))
	}
	caption := "Each provider's circuit breaker as the apis reported it, sampled every second."
	if lanes == 0 {
		caption = "No api answered GET /v1/providers during the drill."
	}
	return htmlChart{Title: "Breaker state per provider", SVG: c.svg(), Caption: caption,
		Legend: []legendItem{{stateColor("closed"), "closed (in rotation)"}, {stateColor("half-open"), "half-open"}, {stateColor("open"), "open"}, {stateColor(""), "unknown"}}}
}

// servedChart: which provider served the turns sent in each bucket, stacked.
func servedChart(f Figures, step string, pick func(Served) map[string]int) htmlChart {
	names := sortedKeys(pick(f.ServedTotal))
	color := map[string]string{}
	var legend []legendItem
	for i, n := range names {
		color[n] = palette[i%len(palette)]
		label := n
		if label == "" {
			label = "(none)"
		}
		legend = append(legend, legendItem{color[n], fmt.Sprintf("%s (%d)", label, pick(f.ServedTotal)[n])})
	}
	yMax := 1.0
	for _, b := range f.Served {
		total := 0
		for _, v := range pick(b.Served) {
			total += v
		}
		yMax = max(yMax, float64(total))
	}
	c := newChart(f.Seconds, yMax*1.1, 200)
	c.faults(f.Faults)
	c.axes("turns", func(v float64) string { return fmt.Sprintf("%g", v) })
	for _, b := range f.Served {
		m, y := pick(b.Served), 0.0
		for _, n := range names {
			if m[n] == 0 {
				continue
			}
			c.rect(b.From+0.1, b.From+f.BucketSeconds-0.1, y, y+float64(m[n]), color[n], fmt.Sprintf("%s: %d turns by %s", secs(b.From), m[n], n))
			y += float64(m[n])
		}
	}
	return htmlChart{Title: "Which " + step + " provider served each turn", SVG: c.svg(), Legend: legend,
		Caption: fmt.Sprintf("The answered turns sent in each %g s, by the %s provider that %s them.", f.BucketSeconds, step, map[string]string{"NLU": "understood", "CPaaS": "delivered the reply to"}[step])}
}

var page = template.Must(template.New("report").Funcs(template.FuncMap{
	"secs": secs, "ms": ms, "stuck": stuckText,
	"verdict": func(pass bool) string {
		if pass {
			return "PASS"
		}
		return "FAIL"
	},
	"lines": func(s string) []string { return strings.Split(s, "\n") },
	"inc":   func(i int) int { return i + 1 },
}).Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>Drill {{.R.Scenario}}: {{verdict .R.Verdict.Pass}}</title>
<style>
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:24px auto;max-width:1060px;color:#222;padding:0 16px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 6px}
.verdict{display:inline-block;padding:2px 12px;border-radius:4px;color:#fff;font-weight:700}
.pass{background:#2e8b57}.fail{background:#c9302c}
table{border-collapse:collapse;margin:6px 0}td,th{padding:3px 10px;border-bottom:1px solid #e4e4e4;text-align:left;vertical-align:top}
td.n{text-align:right;font-variant-numeric:tabular-nums}.bad{color:#c9302c;font-weight:700}
.chart{width:100%;height:auto;background:#fff}.grid{stroke:#eee}.frame{fill:none;stroke:#999}
.tick{font-size:11px;fill:#555}.axis{font-size:12px;fill:#333}.bandno{font-size:9px;fill:#555}
.band{opacity:.18}.f-vendor{fill:#ff9f1c}.f-process{fill:#7b2cbf}.f-maint{fill:#3a86ff}
.legend span{display:inline-block;margin-right:14px;font-size:12px}.legend i{display:inline-block;width:12px;height:12px;margin-right:4px;vertical-align:-1px}
.caption{color:#555;font-size:12.5px;margin:2px 0 0}.muted{color:#666}
code{font-size:12.5px}
</style></head><body>
<h1>Drill <code>{{.R.Scenario}}</code> <span class="verdict {{if .R.Verdict.Pass}}pass{{else}}fail{{end}}">{{verdict .R.Verdict.Pass}}</span></h1>
<p class="muted">Started {{.R.Started.Format "2006-01-02 15:04:05 MST"}} on {{.R.Target}}.{{if .R.File}} Scenario file: <code>{{.R.File}}</code>.{{end}}
{{if not .R.Settled}}<br><b>The stack had not settled</b> when the scenario's settle time ran out: it was checked as it stood.{{end}}</p>
{{with .R.Description}}<p>{{range lines .}}{{.}}<br>{{end}}</p>{{end}}

<h2>The promises</h2>
<table>
<tr><td>Every turn accepted with a 2xx has exactly one reply, or a human who acknowledged its escalation</td><td class="n {{if .N.Unanswered}}bad{{end}}">{{.N.Unanswered}} unanswered</td><td class="n {{if .N.Lost}}bad{{end}}">{{.N.Lost}} lost</td></tr>
<tr><td>No reply sent twice</td><td class="n {{if .N.Duplicates}}bad{{end}}">{{.N.Duplicates}} duplicates</td><td></td></tr>
<tr><td>Turns answered in the order each customer sent them</td><td class="n {{if .N.OutOfOrder}}bad{{end}}">{{.N.OutOfOrder}} out of order</td><td></td></tr>
<tr><td>Nothing sent that no turn, agent or escalation asked for</td><td class="n {{if .N.Unasked}}bad{{end}}">{{.N.Unasked}} unasked</td><td></td></tr>
</table>

<h2>Counts</h2>
<table>
<tr><td>Turns sent</td><td class="n">{{.N.Turns}}</td><td class="muted">{{.N.Skipped}} more were due while every conversation waited on its previous turn</td></tr>
<tr><td>Accepted (2xx)</td><td class="n">{{.N.Accepted}}</td><td class="muted">{{.N.Retried}} needed more than one attempt; {{.N.CutOff}} attempts were cut off</td></tr>
<tr><td>May or may not be stored (every answer cut off)</td><td class="n">{{.N.Maybe}}</td><td class="muted">{{.N.MaybeStored}} of them were stored, and are owed an answer</td></tr>
<tr><td>Refused</td><td class="n">{{.N.Refused}}</td><td></td></tr>
<tr><td>Answered through a vendor</td><td class="n">{{.N.Answered}}</td><td></td></tr>
<tr><td>Forwarded to a human who had the conversation</td><td class="n">{{.N.ByHuman}}</td><td></td></tr>
<tr><td>Escalations queued / acknowledged by the drill's agents / flagged</td><td class="n">{{.N.Escalations}} / {{.N.Acknowledged}} / {{.N.Flagged}}</td><td></td></tr>
<tr><td>Stuck conversations</td><td class="n {{if .N.Stuck}}bad{{end}}">{{.N.Stuck}}</td><td></td></tr>
<tr><td>Replies in the outbox (the stack canary's apart)</td><td class="n">{{.N.Replies}}</td><td class="muted">{{.N.CanaryReplies}} canary replies</td></tr>
<tr><td>Latency, webhook to the reply at a vendor</td><td class="n">p50 {{ms .F.Latency.P50}}</td><td>p90 {{ms .F.Latency.P90}} · p99 {{ms .F.Latency.P99}} · max {{ms .F.Latency.Max}}</td></tr>
<tr><td>Accepted turns per second over the load</td><td class="n">{{printf "%.1f" .F.AcceptedPerSecond}}</td><td>peak {{.F.PeakAcceptedPerSecond}}/s; load {{secs .F.LoadSeconds}}; last reply at {{secs .F.LastReply}}</td></tr>
</table>

<h2>Faults</h2>
<table><tr><th>#</th><th>from</th><th>to</th><th>fault</th></tr>
{{range $i, $f := .F.Faults}}<tr><td class="n">{{inc $i}}</td><td class="n">{{secs $f.From}}</td><td class="n">{{secs $f.To}}</td><td>{{$f.Label}}{{with $f.Error}} <span class="bad">error: {{.}}</span>{{end}}</td></tr>
{{else}}<tr><td colspan="4" class="muted">none</td></tr>{{end}}</table>

{{range .Charts}}<h2>{{.Title}}</h2>
{{.SVG}}
<div class="legend">{{range .Legend}}<span><i style="background:{{.Color}}"></i>{{.Label}}</span>{{end}}<span><i class="band f-vendor" style="opacity:.5"></i>vendor fault</span><span><i class="band f-process" style="opacity:.5"></i>process down</span><span><i class="band f-maint" style="opacity:.5"></i>maintenance</span></div>
<p class="caption">{{.Caption}}</p>
{{end}}

<h2>Stuck conversations</h2>
{{if .R.Verdict.Stuck}}<table><tr><th>conversation</th><th>since</th><th>why</th></tr>
{{range .R.Verdict.Stuck}}<tr><td><code>{{.ConversationID}}</code></td><td>{{.Since.Format "15:04:05"}}</td><td>{{stuck .}}</td></tr>
{{end}}</table>{{else}}<p class="muted">None.</p>{{end}}

<h2>Problems</h2>
{{if .Problems}}<table><tr><th>kind</th><th>conversation</th><th>turn</th><th>what</th></tr>
{{range .Problems}}<tr><td class="bad">{{.Kind}}</td><td><code>{{.ConversationID}}</code></td><td><code>{{.TurnID}}</code></td><td>{{.Detail}}</td></tr>
{{end}}</table>{{if .More}}<p>… and {{.More}} more in the JSON report.</p>{{end}}{{else}}<p class="muted">None: every promise held.</p>{{end}}
{{with .R.Notes}}<h2>Notes on the drill itself</h2><ul>{{range .}}<li>{{.}}</li>{{end}}</ul>{{end}}
</body></html>
`))
