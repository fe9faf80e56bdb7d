package httpprobe

import (
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"

	"github.com/lookout-dev/lookout/config"
	"github.com/lookout-dev/lookout/probes"
)

// check runs every check of the response in order, records each with
// expected and actual, and sets the state and reason from the first that
// fails.
func (p *Prober) check(res *probes.Result, resp *http.Response, body []byte) {
	var as []probes.Assertion
	as = append(as, checkStatus(p.cfg.Expect.Status, resp.StatusCode))
	for _, name := range sortedHeaderNames(p.cfg.Expect.Headers) {
		as = append(as, checkHeader(name, p.cfg.Expect.Headers[name], resp.Header))
	}
	if re := p.cfg.Expect.BodyRegex; re != nil {
		as = append(as, probes.Assertion{
			Name: "body_regex", Expected: "body matches " + re.String(),
			Actual: matchWord(re.Match(body)) + " match", OK: re.Match(body),
		})
	}
	if re := p.cfg.Expect.BodyNotRegex; re != nil {
		loc := re.FindIndex(body)
		a := probes.Assertion{Name: "body_not_regex", Expected: "body does not match " + re.String(), Actual: "no match", OK: loc == nil}
		if loc != nil {
			a.Actual = fmt.Sprintf("matched %q", truncate(string(body[loc[0]:loc[1]]), 80))
		}
		as = append(as, a)
	}
	if p.cfg.SecurityHeaders != config.SecurityHeadersOff {
		as = append(as, checkSecurityHeaders(resp, p.cfg.SecurityHeaders == config.SecurityHeadersWarn)...)
	}
	if len(p.cfg.Assert) > 0 || len(p.cfg.DegradedIf) > 0 {
		vars := newActivation(resp, body, res)
		for i := range p.cfg.Assert {
			as = append(as, evalAssert(&p.cfg.Assert[i], vars))
		}
		for i := range p.cfg.DegradedIf {
			as = append(as, evalDegradedIf(&p.cfg.DegradedIf[i], vars))
		}
	}
	res.Assertions = as
	res.State, res.Reason = verdict(as)
}

// verdict is down at the first failed check, else degraded at the first
// failed degrading check, else up.
func verdict(as []probes.Assertion) (probes.State, string) {
	var degraded *probes.Assertion
	for i := range as {
		a := &as[i]
		switch {
		case a.OK:
		case !a.Degrades:
			return probes.Down, a.Reason()
		case degraded == nil:
			degraded = a
		}
	}
	if degraded != nil {
		return probes.Degraded, degraded.Reason()
	}
	return probes.Up, ""
}

func checkStatus(want []config.StatusRange, got int) probes.Assertion {
	names := make([]string, len(want))
	ok := false
	for i, r := range want {
		names[i] = r.String()
		ok = ok || r.Contains(got)
	}
	return probes.Assertion{
		Name: "status", Expected: strings.Join(names, " or "),
		Actual: fmt.Sprintf("%d %s", got, http.StatusText(got)), OK: ok,
	}
}

func checkHeader(name string, re config.Regexp, h http.Header) probes.Assertion {
	a := probes.Assertion{Name: "header " + name, Expected: "matches " + re.String()}
	values := h.Values(name)
	if len(values) == 0 {
		a.Actual = "header absent"
		return a
	}
	a.Actual = fmt.Sprintf("%q", truncate(strings.Join(values, ", "), 120))
	for _, v := range values {
		if re.MatchString(v) {
			a.OK = true
		}
	}
	return a
}

// checkSecurityHeaders checks the headers browsers rely on to protect
// users of the service. warn makes each failure degrade instead of fail.
func checkSecurityHeaders(resp *http.Response, warn bool) []probes.Assertion {
	h := resp.Header
	csp := h.Get("Content-Security-Policy")
	present := func(name, v string) probes.Assertion {
		a := probes.Assertion{Name: "security header " + name, Expected: "present", Actual: "absent", OK: v != "", Degrades: warn}
		if v != "" {
			a.Actual = fmt.Sprintf("%q", truncate(v, 80))
		}
		return a
	}
	as := []probes.Assertion{present("Content-Security-Policy", csp)}
	frame := present("X-Frame-Options", h.Get("X-Frame-Options"))
	frame.Name, frame.Expected = "security header X-Frame-Options or CSP frame-ancestors", "one present"
	if !frame.OK && strings.Contains(csp, "frame-ancestors") {
		frame.OK, frame.Actual = true, "CSP frame-ancestors"
	}
	as = append(as, frame)
	nosniff := present("X-Content-Type-Options", h.Get("X-Content-Type-Options"))
	nosniff.Expected = `"nosniff"`
	nosniff.OK = strings.EqualFold(strings.TrimSpace(h.Get("X-Content-Type-Options")), "nosniff")
	as = append(as, nosniff)
	if resp.Request != nil && resp.Request.URL.Scheme == "https" {
		as = append(as, present("Strict-Transport-Security", h.Get("Strict-Transport-Security")))
	}
	return append(as, present("Referrer-Policy", h.Get("Referrer-Policy")))
}

func sortedHeaderNames(m map[string]config.Regexp) []string {
	return slices.Sorted(maps.Keys(m))
}

func matchWord(ok bool) string {
	if ok {
		return "a"
	}
	return "no"
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
