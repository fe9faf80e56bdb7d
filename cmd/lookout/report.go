package main

import (
	"io"
	"strings"
	"time"

	"github.com/lookout-dev/lookout/config"
	"github.com/lookout-dev/lookout/probes"
)

// writeReport prints one probe run for people: verdict, reason, what the
// kind checked and found, and each check with expected against actual.
func writeReport(w io.Writer, kind *probes.Kind, pc config.Probe, res probes.Result, now time.Time) {
	r := probes.NewReport(w, now)
	r.Raw("probe %s: %s\n", pc.Name, strings.ToUpper(res.State.String()))
	if res.Reason != "" {
		r.Line("reason", "%s", res.Reason)
	}
	if kind.ReportTarget != nil {
		kind.ReportTarget(r, pc)
	}
	r.Line("duration", "%s (%d attempt%s)", probes.Round(res.Duration), res.Attempts, probes.Plural(res.Attempts))
	if kind.ReportFacts != nil {
		kind.ReportFacts(r, res.Facts)
	}
	if len(res.Checks) > 0 {
		r.Raw("  checks:\n")
	}
	for _, c := range res.Checks {
		mark := "ok  "
		switch {
		case !c.OK && c.Degrades:
			mark = "WARN"
		case !c.OK:
			mark = "FAIL"
		}
		r.Raw("    %s  %s\n", mark, c.Reason())
	}
}
