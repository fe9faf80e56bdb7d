package browserprobe

import (
	"encoding/json"
	"time"

	"github.com/lookout-dev/lookout/probes"
)

// Facts are what a browser run found.
type Facts struct {
	// Status is the HTTP status of the page's document; 0 when none came.
	Status int `json:"status,omitempty"`
	// Vitals are what the page measured of itself; nil when it could not
	// be measured (it did not load, or did not answer).
	Vitals *Vitals `json:"vitals,omitempty"`
	// What the browser's events told, over the whole run.
	JSErrors       int   `json:"js_errors"`
	ConsoleErrors  int   `json:"console_errors"`
	FailedRequests int   `json:"failed_requests"`
	Requests       int   `json:"requests"`
	TransferBytes  int64 `json:"transfer_bytes"`
	// The first uncaught errors, console.error lines, failed requests and
	// CSP violations, as text (secrets shown as ***).
	Errors  []string        `json:"errors,omitempty"`
	Console []string        `json:"console_errors_text,omitempty"`
	Failed  []FailedRequest `json:"failed,omitempty"`
	CSP     []string        `json:"csp_violations_text,omitempty"`
	// Steps are the steps that ran, in order, the failed one last.
	Steps []Step `json:"steps,omitempty"`
}

// Vitals are the lab metrics of a run (see vitals.js for their
// definitions). TTFB, FCP and LCP are -1 when the page did not have them
// (no paint, no navigation timing).
type Vitals struct {
	TTFB, FCP, LCP time.Duration
	TBT, INP       time.Duration
	CLS            float64
	CSPViolations  int
}

// Step is one step of a run: its name, how long it took and whether it
// failed.
type Step struct {
	Name     string        `json:"name"`
	Duration time.Duration `json:"-"`
	Failed   bool          `json:"failed,omitempty"`
}

var _ probes.Facts = (*Facts)(nil)

func facts(pf probes.Facts) *Facts {
	f, _ := pf.(*Facts)
	return f
}

// FactsOf is the browser facts of a result, or nil.
func FactsOf(res probes.Result) *Facts { return facts(res.Facts) }

// Past keeps the numbers, not the texts.
func (f *Facts) Past() probes.Facts {
	p := *f
	p.Errors, p.Console, p.Failed, p.CSP = nil, nil, nil, nil
	return &p
}

// MarshalJSON writes durations in seconds, leaving out what was not
// measured.
func (s Step) MarshalJSON() ([]byte, error) {
	type plain Step
	return json.Marshal(struct {
		plain
		Seconds float64 `json:"duration_seconds"`
	}{plain(s), s.Duration.Seconds()})
}

// MarshalJSON writes durations in seconds, leaving out what was not
// measured.
func (v *Vitals) MarshalJSON() ([]byte, error) {
	out := map[string]any{
		"tbt_seconds": v.TBT.Seconds(), "inp_seconds": v.INP.Seconds(), "cls": v.CLS, "csp_violations": v.CSPViolations,
	}
	for name, d := range map[string]time.Duration{"ttfb_seconds": v.TTFB, "fcp_seconds": v.FCP, "lcp_seconds": v.LCP} {
		if d >= 0 {
			out[name] = d.Seconds()
		}
	}
	return json.Marshal(out)
}
