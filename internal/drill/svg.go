package drill

import (
	"fmt"
	"html"
	"html/template"
	"math"
	"strings"
)

// chart draws one SVG plot: time on the x axis (seconds from the start of the load),
// a linear or logarithmic y axis, the fault timeline drawn over it as bands. It is
// small on purpose: the report must open without a network, and its plots are
// lines, bars and bands.
type chart struct {
	width, height            float64
	left, right, top, bottom float64
	xMax                     float64
	yMin, yMax               float64
	logY                     bool
	dashed                   bool // lines drawn from now on are dashed
	b                        strings.Builder
}

func newChart(xMax, yMax float64, height float64) *chart {
	return &chart{width: 1000, height: height, left: 90, right: 16, top: 14, bottom: 28,
		xMax: max(xMax, 1), yMax: max(yMax, 1)}
}

func (c *chart) x(t float64) float64 {
	return c.left + (c.width-c.left-c.right)*min(max(t, 0), c.xMax)/c.xMax
}

func (c *chart) y(v float64) float64 {
	h := c.height - c.top - c.bottom
	if c.logY {
		lo, hi := math.Log10(c.yMin), math.Log10(c.yMax)
		f := (math.Log10(min(max(v, c.yMin), c.yMax)) - lo) / (hi - lo)
		return c.top + h*(1-f)
	}
	return c.top + h*(1-min(max(v, 0), c.yMax)/c.yMax)
}

func (c *chart) printf(format string, args ...any) { fmt.Fprintf(&c.b, format, args...) }

// axes draws the frame, the time ticks and the y ticks, labelled by yTick.
func (c *chart) axes(yLabel string, yTick func(float64) string) {
	bottom, right := c.height-c.bottom, c.width-c.right
	step := niceStep(c.xMax / 10)
	for t := 0.0; t <= c.xMax+1e-9; t += step {
		c.printf(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" class="grid"/>`, c.x(t), c.top, c.x(t), bottom)
		c.printf(`<text x="%.1f" y="%.1f" class="tick" text-anchor="middle">%s</text>`, c.x(t), bottom+16, secs(t))
	}
	var ticks []float64
	if c.logY {
		for v := c.yMin; v <= c.yMax*1.0001; v *= 10 {
			ticks = append(ticks, v)
		}
	} else {
		ys := niceStep(c.yMax / 4)
		for v := 0.0; v <= c.yMax+1e-9; v += ys {
			ticks = append(ticks, v)
		}
	}
	for _, v := range ticks {
		c.printf(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" class="grid"/>`, c.left, c.y(v), right, c.y(v))
		c.printf(`<text x="%.1f" y="%.1f" class="tick" text-anchor="end">%s</text>`, c.left-6, c.y(v)+4, yTick(v))
	}
	c.printf(`<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" class="frame"/>`, c.left, c.top, right-c.left, bottom-c.top)
	c.printf(`<text x="12" y="%.1f" class="axis" transform="rotate(-90 12 %.1f)" text-anchor="middle">%s</text>`,
		(c.top+bottom)/2, (c.top+bottom)/2, html.EscapeString(yLabel))
}

// faults draws the timeline over the plot: a band per fault, numbered as in the
// report's fault table; a restart is a band from the kill to the process's return.
func (c *chart) faults(spans []FaultSpan) {
	bottom := c.height - c.bottom
	for i, f := range spans {
		x0, x1 := c.x(f.From), c.x(f.To)
		if x1-x0 < 2 {
			x1 = x0 + 2
		}
		c.printf(`<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" class="band %s"><title>%d. %s</title></rect>`,
			x0, c.top, x1-x0, bottom-c.top, faultClass(f.Kind), i+1, html.EscapeString(f.Label))
		c.printf(`<text x="%.1f" y="%.1f" class="bandno">%d</text>`, x0+2, c.top+10+float64(i%4)*10, i+1)
	}
}

func faultClass(kind string) string {
	switch kind {
	case FaultRestart:
		return "f-process"
	case FaultMaintenance:
		return "f-maint"
	}
	return "f-vendor"
}

// line draws a polyline through the points, breaking it where a point is NaN.
func (c *chart) line(xs, ys []float64, color, title string) {
	var seg []string
	flush := func() {
		if len(seg) > 0 {
			dash := ""
			if c.dashed {
				dash = ` stroke-dasharray="5 3"`
			}
			c.printf(`<polyline points="%s" fill="none" stroke="%s" stroke-width="1.6"%s><title>%s</title></polyline>`,
				strings.Join(seg, " "), color, dash, html.EscapeString(title))
		}
		seg = seg[:0]
	}
	for i := range xs {
		if math.IsNaN(ys[i]) {
			flush()
			continue
		}
		seg = append(seg, fmt.Sprintf("%.1f,%.1f", c.x(xs[i]), c.y(ys[i])))
	}
	flush()
}

// rect draws a filled rectangle in data coordinates.
func (c *chart) rect(t0, t1, v0, v1 float64, color, title string) {
	x0, x1, y0, y1 := c.x(t0), c.x(t1), c.y(v1), c.y(v0)
	c.printf(`<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"><title>%s</title></rect>`,
		x0, y0, max(x1-x0, 0.5), max(y1-y0, 0), color, html.EscapeString(title))
}

func (c *chart) svg() template.HTML {
	return template.HTML(fmt.Sprintf(`<svg viewBox="0 0 %.0f %.0f" class="chart" xmlns="http://www.w3.org/2000/svg">%s</svg>`,
		c.width, c.height, c.b.String()))
}

// niceStep rounds a step up to 1, 2 or 5 times a power of ten.
func niceStep(raw float64) float64 {
	if raw <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5, 10} {
		if raw <= m*p {
			return m * p
		}
	}
	return 10 * p
}

// palette colours the providers and series, in a fixed order.
var palette = []string{"#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#7f7f7f", "#d62728"}

// stateColor colours a breaker state.
func stateColor(s string) string {
	switch s {
	case "closed":
		return "#7cc47c"
	case "half-open":
		return "#f2c14e"
	case "open":
		return "#d9534f"
	}
	return "#cccccc"
}
