package ui

import (
	"fmt"
	"html"
	"html/template"
	"strings"
	"time"

	"github.com/lookout-dev/lookout/probes"
)

// Charts are SVG written here, each with a title and an aria-label that
// say in words what the shapes show: state is told by height and text,
// never by colour alone.

// sparkline is the recent runs' durations, oldest first, as a line.
func sparkline(results []probes.Result) template.HTML {
	const w, h = 120.0, 24.0
	n := len(results)
	if n < 2 {
		return ""
	}
	var peak time.Duration
	for _, r := range results {
		peak = max(peak, r.Duration)
	}
	if peak <= 0 {
		peak = 1
	}
	var pts []string
	for i := range n {
		r := results[n-1-i] // results are newest first
		x := float64(i) * w / float64(n-1)
		y := h - 2 - float64(r.Duration)/float64(peak)*(h-4)
		pts = append(pts, fmt.Sprintf("%.1f,%.1f", x, y))
	}
	label := fmt.Sprintf("Durations of the last %d runs, longest %s, last %s", n, roundDur(peak), roundDur(results[0].Duration))
	return template.HTML(fmt.Sprintf(`<svg class="spark" viewBox="0 0 %g %g" width="%g" height="%g" role="img" aria-label="%s"><title>%s</title><polyline points="%s"/></svg>`,
		w, h, w, h, html.EscapeString(label), html.EscapeString(label), strings.Join(pts, " ")))
}

// strip is the recent results, oldest first, a bar each: up short,
// degraded half, down full height, each with its time and state.
func strip(results []probes.Result) template.HTML {
	const bw, gap, h = 5.0, 1.0, 18.0
	n := len(results)
	if n == 0 {
		return ""
	}
	counts := map[string]int{}
	var b strings.Builder
	for i := range n {
		r := results[n-1-i]
		state := r.State.String()
		if r.ProberError {
			state = "prober error"
		}
		counts[state]++
		bh := map[string]float64{"up": h / 3, "degraded": h * 2 / 3}[state]
		if bh == 0 {
			bh = h
		}
		fmt.Fprintf(&b, `<rect class="s-%s" x="%g" y="%g" width="%g" height="%g"><title>%s: %s</title></rect>`,
			strings.ReplaceAll(state, " ", "-"), float64(i)*(bw+gap), h-bh, bw, bh, r.Start.UTC().Format("15:04:05"), html.EscapeString(state))
	}
	var parts []string
	for _, s := range []string{"up", "degraded", "down", "prober error"} {
		if counts[s] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", counts[s], s))
		}
	}
	label := fmt.Sprintf("Last %d results: %s", n, strings.Join(parts, ", "))
	width := float64(n) * (bw + gap)
	return template.HTML(fmt.Sprintf(`<svg class="strip" viewBox="0 0 %g %g" width="%g" height="%g" role="img" aria-label="%s">%s</svg>`,
		width, h, width, h, html.EscapeString(label), b.String()))
}

// phaseChart is the recent runs' durations by phase, oldest first, as
// stacked bars with a legend; a kind without phases gets one bar a run.
func phaseChart(results []probes.Result) template.HTML {
	const bw, gap, h, top = 14.0, 4.0, 120.0, 4.0
	n := len(results)
	if n == 0 {
		return ""
	}
	var peak time.Duration
	for _, r := range results {
		peak = max(peak, r.Duration)
	}
	if peak <= 0 {
		peak = 1
	}
	scale := (h - top) / float64(peak)
	names := []string{}
	var b strings.Builder
	for i := range n {
		r := results[n-1-i]
		x := float64(i) * (bw + gap)
		phases := []probes.PhaseTime{{Name: "run", Duration: r.Duration}}
		if p, ok := r.Facts.(probes.Phased); ok {
			phases = p.PhaseTimes()
		}
		y := h
		var tip []string
		for j, p := range phases {
			if i == n-1 && len(names) < len(phases) {
				names = append(names, p.Name)
			}
			ph := float64(p.Duration) * scale
			y -= ph
			fmt.Fprintf(&b, `<rect class="p%d" x="%g" y="%.2f" width="%g" height="%.2f"/>`, j%6, x, y, bw, ph)
			tip = append(tip, p.Name+" "+roundDur(p.Duration))
		}
		fmt.Fprintf(&b, `<rect class="hit" x="%g" y="0" width="%g" height="%g"><title>%s, %s: %s</title></rect>`,
			x, bw, h, r.Start.UTC().Format("15:04:05"), html.EscapeString(r.State.String()), html.EscapeString(strings.Join(tip, ", ")))
	}
	var legend strings.Builder
	for j, name := range names {
		fmt.Fprintf(&legend, `<li><svg width="10" height="10" aria-hidden="true"><rect class="p%d" width="10" height="10"/></svg> %s</li>`, j%6, html.EscapeString(name))
	}
	width := float64(n) * (bw + gap)
	label := fmt.Sprintf("Durations of the last %d runs by phase, longest %s", n, roundDur(peak))
	return template.HTML(fmt.Sprintf(`<figure class="chart"><svg viewBox="0 0 %g %g" width="%g" height="%g" role="img" aria-label="%s">%s</svg><figcaption>%s<ul class="legend">%s</ul></figcaption></figure>`,
		width, h, width, h, html.EscapeString(label), b.String(), html.EscapeString(label), legend.String()))
}

// roundDur words a duration to a sensible precision.
func roundDur(d time.Duration) string {
	switch {
	case d >= time.Minute:
		return d.Round(time.Second).String()
	case d >= time.Second:
		return d.Round(10 * time.Millisecond).String()
	case d >= time.Millisecond:
		return d.Round(100 * time.Microsecond).String()
	}
	return d.Round(time.Microsecond).String()
}

// funcs are the templates' helpers.
var funcs = template.FuncMap{
	"dur":  roundDur,
	"keys": sortedKeys,
	"ago": func(now, t time.Time) string {
		if t.IsZero() {
			return "never"
		}
		return humanSince(now.Sub(t)) + " ago"
	},
	"since": func(now, t time.Time) string {
		if t.IsZero() {
			return "—"
		}
		return humanSince(now.Sub(t))
	},
	"utc": func(t time.Time) string {
		if t.IsZero() {
			return "—"
		}
		return t.UTC().Format("2006-01-02 15:04:05 MST")
	},
	"iso": func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
	"stateText": func(s string) string {
		return map[string]string{"up": "Up", "degraded": "Degraded", "down": "Down", "pending": "No run yet",
			"firing": "Firing", "inactive": "Inactive", "ok": "OK", "err": "Error", "unknown": "Not evaluated yet",
			"active": "Active", "expired": "Expired", "good": "Good", "needs-improvement": "Needs improvement", "poor": "Poor"}[s]
	},
	"vital": func(v Vital) string {
		if v.Unit == "s" {
			return roundDur(time.Duration(v.P75 * float64(time.Second)))
		}
		return fmt.Sprintf("%.3f", v.P75)
	},
	"seconds": func(s float64) string { return roundDur(time.Duration(s * float64(time.Second))) },
	"add":     func(a, b int) int { return a + b },
	"list":    func(s ...string) []string { return s },
}

// humanSince words a span in its two largest units.
func humanSince(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm %ds", int(d.Minutes()), int(d.Seconds())%60)
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh %dm", int(d.Hours()), int(d.Minutes())%60)
	}
	return fmt.Sprintf("%dd %dh", int(d.Hours())/24, int(d.Hours())%24)
}
