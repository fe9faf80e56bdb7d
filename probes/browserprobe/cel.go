package browserprobe

import (
	"time"

	"cel.dev/cel-go/cel"
)

// vars are the variables of a browser probe's expressions (config's
// exprVars): duration (the load and the steps), the lab metrics the page
// measured (lcp, fcp and ttfb only when the page had them), what the
// browser's events told, and each step's duration by name.
func vars(journey time.Duration, f *Facts) cel.Activation {
	steps := make(map[string]time.Duration, len(f.Steps))
	for _, s := range f.Steps {
		steps[s.Name] = s.Duration
	}
	m := map[string]any{
		"duration": journey, "steps": steps,
		"js_errors": int64(f.JSErrors), "console_errors": int64(f.ConsoleErrors), "failed_requests": int64(f.FailedRequests),
		"requests": int64(f.Requests), "transfer_bytes": f.TransferBytes,
	}
	if v := f.Vitals; v != nil {
		m["tbt"], m["inp"], m["cls"], m["csp_violations"] = v.TBT, v.INP, v.CLS, int64(v.CSPViolations)
		for name, d := range map[string]time.Duration{"lcp": v.LCP, "fcp": v.FCP, "ttfb": v.TTFB} {
			if d >= 0 {
				m[name] = d
			}
		}
	}
	act, _ := cel.NewActivation(m)
	return act
}
