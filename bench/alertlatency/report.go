package main

import (
	"fmt"
	"io"
	"math"
	"slices"
	"text/tabwriter"
	"time"

	"github.com/lookout-dev/lookout/bench/internal/stats"
)

// stage is one span of the path, measured for every alert.
type stage struct {
	name string
	span func(tl *timeline) time.Duration
	ds   []time.Duration
}

func report(out io.Writer, rec *recorder, o options) error {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	stages := []*stage{
		{name: "evaluation start → webhook request", span: func(tl *timeline) time.Duration { return tl.arrived.Sub(tl.tick) }},
		{name: "  evaluation start → handed to dispatcher", span: func(tl *timeline) time.Duration { return tl.put.Sub(tl.tick) }},
		{name: "  handed → outbox committed (Enqueue returned)", span: func(tl *timeline) time.Duration { return tl.enqueued.Sub(tl.put) }},
		{name: "  handed → webhook request", span: func(tl *timeline) time.Duration { return tl.arrived.Sub(tl.put) }},
	}
	missing, early, late := 0, 0, 0
	holdEvals := int(math.Ceil(float64(o.forDur) / float64(o.interval)))
	for j := range o.alerts {
		tl := rec.alerts[alertID(j)]
		if tl == nil || tl.tick.IsZero() || tl.enqueued.IsZero() || tl.arrived.IsZero() {
			missing++
			continue
		}
		switch d := tl.eval - firstEval(o, j); {
		case d < holdEvals:
			early++
		case d > holdEvals:
			late++
		}
		for _, s := range stages {
			s.ds = append(s.ds, s.span(tl))
		}
	}
	fmt.Fprintf(out, "firing notifications received: %d of %d; resolved alerts received: %d\n", o.alerts-missing, o.alerts, rec.resolved)
	fmt.Fprintf(out, "turned firing %d evaluations after the series appeared (for / interval): %d alerts; earlier: %d; later: %d\n\n",
		holdEvals, o.alerts-missing-early-late, early, late)
	if missing == o.alerts {
		return fmt.Errorf("no alert reached the webhook")
	}
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "%d alerts\tmin\tp50\tp99\tmax\t\n", len(stages[0].ds))
	for _, s := range stages {
		slices.Sort(s.ds)
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t\n", s.name, msec(s.ds[0]), msec(stats.Quantile(s.ds, 0.5)), msec(stats.Quantile(s.ds, 0.99)), msec(s.ds[len(s.ds)-1]))
	}
	tw.Flush()
	worst := stages[0].ds[len(stages[0].ds)-1]
	verdict := "met"
	if missing > 0 || worst >= goal {
		verdict = "NOT met"
	}
	fmt.Fprintf(out, "\n(p99 of %d is the nearest rank: the max below 100 alerts)\ngoal < %s from evaluation to webhook, every alert: %s (max %s)\n",
		len(stages[0].ds), goal, verdict, msec(worst))
	return nil
}

func msec(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000) }
