package main

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/lookout-dev/lookout/config"
	"github.com/lookout-dev/lookout/probes"
)

// writeReport prints one probe run for people: verdict, reason, phases,
// TLS facts and each check with expected against actual.
func writeReport(w io.Writer, pc config.Probe, res probes.Result, now time.Time) {
	fmt.Fprintf(w, "probe %s: %s\n", pc.Name, strings.ToUpper(res.State.String()))
	if res.Reason != "" {
		fmt.Fprintf(w, "  reason:     %s\n", res.Reason)
	}
	if pc.HTTP != nil {
		fmt.Fprintf(w, "  request:    %s %s\n", pc.HTTP.Method, pc.HTTP.URL.Redacted())
	}
	fmt.Fprintf(w, "  duration:   %s (%d attempt%s)\n", round(res.Duration), res.Attempts, plural(res.Attempts))
	var phases []string
	for i, d := range res.Phases.Each() {
		phases = append(phases, fmt.Sprintf("%s %s", probes.PhaseNames[i], round(d)))
	}
	fmt.Fprintf(w, "  phases:     %s\n", strings.Join(phases, ", "))
	if h := res.HTTP; h != nil {
		fmt.Fprintf(w, "  response:   status %d, HTTP/%.1f, %d body bytes, %d redirect%s\n",
			h.StatusCode, h.Version, h.BodyBytes, h.Redirects, plural(h.Redirects))
	}
	if t := res.TLS; t != nil {
		verified := "chain verified"
		if !t.Verified {
			verified = "chain NOT verified: " + t.VerifyError
		}
		fmt.Fprintf(w, "  tls:        %s, %s, earliest certificate expiry %s (%s)\n",
			orUnknown(t.Version), verified, t.EarliestExpiry.UTC().Format(time.RFC3339), untilText(t.EarliestExpiry.Sub(now)))
	}
	if len(res.Assertions) > 0 {
		fmt.Fprintln(w, "  checks:")
	}
	for _, a := range res.Assertions {
		mark := "ok  "
		switch {
		case !a.OK && a.Degrades:
			mark = "WARN"
		case !a.OK:
			mark = "FAIL"
		}
		fmt.Fprintf(w, "    %s  %s\n", mark, a.Reason())
	}
}

func round(d time.Duration) time.Duration {
	switch {
	case d > time.Second:
		return d.Round(time.Millisecond)
	case d > time.Millisecond:
		return d.Round(10 * time.Microsecond)
	}
	return d.Round(time.Microsecond)
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

func orUnknown(s string) string {
	if s == "" {
		return "version unknown"
	}
	return s
}

func untilText(d time.Duration) string {
	days := d.Hours() / 24
	if d < 0 {
		return fmt.Sprintf("expired %.1f days ago", -days)
	}
	return fmt.Sprintf("in %.1f days", days)
}
