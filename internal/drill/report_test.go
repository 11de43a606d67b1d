package drill

import (
	"bytes"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func checkedReport(h *History) *Report {
	v := Check(h)
	return &Report{Scenario: h.Scenario, Started: h.Start, Target: "a test", Settled: h.Settled, Verdict: v, Figures: figures(h, v)}
}

func TestFigures_PerSecondCountsAndLatencies(t *testing.T) {
	h := cleanHistory()
	h.Breakers = []BreakerSample{
		{At: t0, Provider: "twilio", State: "closed"},
		{At: t0.Add(10 * time.Second), Provider: "twilio", State: "open"},
		{At: t0.Add(15 * time.Second), Provider: "twilio", State: "half-open"},
		{At: t0.Add(16 * time.Second), Provider: "twilio", State: "closed"},
	}
	h.Faults = []FaultEvent{{Kind: FaultOutage, Label: "twilio outage (refuse)", Start: t0.Add(9 * time.Second), End: t0.Add(15 * time.Second)}}
	f := checkedReport(h).Figures
	require.Equal(t, 120.0, f.Seconds)
	require.Equal(t, 1, f.PerSecond[0].Sent)
	require.Equal(t, 1, f.PerSecond[1].Sent)
	require.Equal(t, 1, f.PerSecond[10].Accepted)
	require.Equal(t, 80.0, *f.PerSecond[20].P50)
	require.Nil(t, f.PerSecond[5].P50, "no turn was sent in that second")
	require.Equal(t, 6, f.Latency.Count)
	require.Equal(t, 80.0, f.Latency.P99)
	require.Equal(t, map[string]int{"twilio": 6}, f.ServedTotal.CPaaS)
	require.Len(t, f.Breakers, 1)
	require.Equal(t, []Segment{{0, 10, "closed"}, {10, 15, "open"}, {15, 16, "half-open"}, {16, 120, "closed"}}, f.Breakers[0].Segments)
	require.Equal(t, 6.0, f.Breakers[0].OpenSeconds)
	require.Equal(t, []FaultSpan{{From: 9, To: 15, Kind: FaultOutage, Label: "twilio outage (refuse)"}}, f.Faults)
}

func TestReport_TheHTMLIsSelfContained(t *testing.T) {
	h := cleanHistory()
	h.Faults = []FaultEvent{{Kind: FaultRestart, Label: "kill -9 <worker-1>", Start: t0.Add(5 * time.Second), End: t0.Add(8 * time.Second)}}
	r := checkedReport(h)
	var b bytes.Buffer
	require.NoError(t, renderHTML(&b, r))
	page := b.String()
	require.Contains(t, page, "PASS")
	require.Equal(t, 5, strings.Count(page, "<svg "), "five plots")
	require.Contains(t, page, "kill -9 &lt;worker-1&gt;", "labels are escaped")
	// Nothing is fetched when the file is opened: no script, stylesheet, image or
	// font from anywhere. (The SVG namespace is a name, not a fetch.)
	for _, re := range []string{`<script`, `<link`, `<img`, `@import`, `url\(`, `src=`} {
		require.NotRegexp(t, regexp.MustCompile(re), page)
	}
	require.NotRegexp(t, regexp.MustCompile(`https?://`), strings.ReplaceAll(page, `xmlns="http://www.w3.org/2000/svg"`, ""))
}

func TestReport_AFailedDrillSaysWhyOnOneScreen(t *testing.T) {
	h := cleanHistory()
	h.Sends = append(h.Sends, h.Sends[0]) // a duplicate
	for i := range 40 {                   // a long timeline
		h.Faults = append(h.Faults, FaultEvent{Kind: FaultSlow, Label: "slow", Start: t0.Add(time.Duration(i) * time.Second), End: t0.Add(time.Duration(i+1) * time.Second)})
	}
	r := checkedReport(h)
	r.Files = Files(t.TempDir(), "t")
	var b bytes.Buffer
	WriteSummary(&b, r)
	out := b.String()
	require.True(t, strings.HasPrefix(out, "switchboard drill t: FAIL\n"), out)
	require.Contains(t, out, "duplicates 1")
	require.Contains(t, out, "problems     duplicate")
	require.LessOrEqual(t, strings.Count(out, "\n"), 40, "one screen")
}

func TestReport_TheFilesHoldTheVerdictAndTheHistory(t *testing.T) {
	h := cleanHistory()
	r := checkedReport(h)
	dir := t.TempDir()
	require.NoError(t, r.write(dir, h))
	for _, f := range []string{r.Files.HTML, r.Files.JSON, r.Files.History} {
		st, err := os.Stat(f)
		require.NoError(t, err)
		require.Positive(t, st.Size())
	}
	back, err := ReadHistory(r.Files.History)
	require.NoError(t, err)
	again := Check(back)
	require.Equal(t, r.Verdict.Counts, again.Counts, "the history written checks the same")
	require.True(t, again.Pass)
}
