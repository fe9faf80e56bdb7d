package browserprobe

import (
	"crypto/rand"
	_ "embed"
	"encoding/json"
	"math"
	"strings"
	"time"
)

//go:embed vitals.js
var vitalsJS string

// names are the run's names in the page: the binding the script reports
// through and its flush function, random so that a page cannot guess
// them.
type names struct {
	binding, flush string
}

func newNames() names {
	return names{binding: "__lookout_" + rand.Text()[:12], flush: "__lookout_" + rand.Text()[:12]}
}

// script is vitals.js called with the run's names.
func (n names) script() string {
	args, _ := json.Marshal([]string{n.binding, n.flush})
	return vitalsJS + "(" + strings.Trim(string(args), "[]") + ");"
}

// flushExpr reports the current document once more and returns (a
// promise of) its report; "" when the script is not in it (an error
// page).
func (n names) flushExpr() string {
	name, _ := json.Marshal(n.flush)
	return "typeof window[" + string(name) + "] === 'function' ? window[" + string(name) + "]() : ''"
}

// pageReport is one document's report: milliseconds, -1 for what was
// not measured.
type pageReport struct {
	TTFB     float64  `json:"ttfb"`
	FCP      float64  `json:"fcp"`
	LCP      float64  `json:"lcp"`
	CLS      float64  `json:"cls"`
	TBT      float64  `json:"tbt"`
	INP      float64  `json:"inp"`
	CSP      int      `json:"csp"`
	CSPFirst []string `json:"cspFirst"`
}

// vitals merges the reports of the documents a run visited, in order:
// TTFB, FCP and LCP are the first document's (the page at url); CLS is
// the largest session window of any; TBT adds up; INP is the longest;
// CSP violations add up. Nil without a report.
func vitals(reports []string) (*Vitals, []string) {
	var v *Vitals
	var csp []string
	for _, raw := range reports {
		_, payload, _ := strings.Cut(raw, "|")
		var r pageReport
		if json.Unmarshal([]byte(payload), &r) != nil {
			continue
		}
		if v == nil {
			v = &Vitals{TTFB: ms(r.TTFB), FCP: ms(r.FCP), LCP: ms(r.LCP)}
		}
		v.CLS = max(v.CLS, r.CLS)
		v.TBT += ms(max(r.TBT, 0))
		v.INP = max(v.INP, ms(r.INP))
		v.CSPViolations += r.CSP
		for _, c := range r.CSPFirst {
			if len(csp) < keptErrors {
				csp = append(csp, clip(c))
			}
		}
	}
	return v, csp
}

// ms is a report's milliseconds as a duration, -1 for -1 (not measured).
func ms(v float64) time.Duration {
	if v < 0 {
		return -1
	}
	return time.Duration(math.Round(v*1000)) * time.Microsecond
}
