package httpprobe

import (
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"cel.dev/cel-go/cel"

	"github.com/lookout-dev/lookout/config"
	"github.com/lookout-dev/lookout/probes"
	"github.com/lookout-dev/lookout/probes/internal/exprcheck"
)

// checks are the parts of a probe's checks that are the same on every
// run, worded once when the probe is built.
type checks struct {
	status       string // expected status, like "200 or 3xx"
	headers      []headerCheck
	bodyRegex    string   // expected of body_regex
	bodyNotRegex string   // expected of body_not_regex
	degradedIf   []string // expected of each degraded_if
	count        int      // checks a run makes at most
}

// headerCheck is one expect.headers entry.
type headerCheck struct {
	name, assertion, expected string
	re                        config.Regexp
}

func newChecks(cfg *config.HTTP) checks {
	e := cfg.Expect
	c := checks{status: statusWords(e.Status), count: 1 + len(e.Headers) + len(cfg.Assert) + len(cfg.DegradedIf)}
	for _, name := range sortedHeaderNames(e.Headers) {
		re := e.Headers[name]
		c.headers = append(c.headers, headerCheck{name: name, assertion: "header " + name, expected: "matches " + re.String(), re: re})
	}
	if e.BodyRegex != nil {
		c.bodyRegex = "body matches " + e.BodyRegex.String()
		c.count++
	}
	if e.BodyNotRegex != nil {
		c.bodyNotRegex = "body does not match " + e.BodyNotRegex.String()
		c.count++
	}
	if cfg.SecurityHeaders != config.SecurityHeadersOff {
		c.count += securityHeaderChecks
	}
	for _, x := range cfg.DegradedIf {
		c.degradedIf = append(c.degradedIf, "not "+x.Source)
	}
	return c
}

// check runs every check of the response in order, records each with
// expected and actual, and sets the state and reason from the first that
// fails. Its expressions see the response's variables and parent's (a
// flow's vars); given a parent, it returns the activation they read.
func (p *Prober) check(res *probes.Result, resp *http.Response, body []byte, parent cel.Activation) *activation {
	c := &p.checks
	as := make([]probes.Check, 0, c.count)
	as = append(as, checkStatus(p.cfg.Expect.Status, c.status, resp.StatusCode))
	for _, h := range c.headers {
		as = append(as, checkHeader(h, resp.Header))
	}
	if re := p.cfg.Expect.BodyRegex; re != nil {
		ok := re.Match(body)
		as = append(as, probes.Check{Name: "body_regex", Expected: c.bodyRegex, Actual: matchWords(ok), OK: ok})
	}
	if re := p.cfg.Expect.BodyNotRegex; re != nil {
		loc := re.FindIndex(body)
		a := probes.Check{Name: "body_not_regex", Expected: c.bodyNotRegex, Actual: "no match", OK: loc == nil}
		if loc != nil {
			a.Actual = fmt.Sprintf("matched %q", exprcheck.Truncate(string(body[loc[0]:loc[1]]), 80))
		}
		as = append(as, a)
	}
	if p.cfg.SecurityHeaders != config.SecurityHeadersOff {
		as = append(as, checkSecurityHeaders(resp, p.cfg.SecurityHeaders == config.SecurityHeadersWarn)...)
	}
	var vars *activation
	if parent != nil || len(p.cfg.Assert) > 0 || len(p.cfg.DegradedIf) > 0 {
		vars = newActivation(resp, body, res, parent)
		for i := range p.cfg.Assert {
			as = append(as, exprcheck.Assert(&p.cfg.Assert[i], vars))
		}
		for i := range p.cfg.DegradedIf {
			as = append(as, exprcheck.DegradedIf(&p.cfg.DegradedIf[i], c.degradedIf[i], vars))
		}
	}
	res.Checks = as
	res.State, res.Reason = probes.Verdict(as)
	return vars
}

// statusWords is the expected status as written, like "200 or 3xx".
func statusWords(want []config.StatusRange) string {
	names := make([]string, len(want))
	for i, r := range want {
		names[i] = r.String()
	}
	return strings.Join(names, " or ")
}

func checkStatus(want []config.StatusRange, expected string, got int) probes.Check {
	ok := false
	for _, r := range want {
		ok = ok || r.Contains(got)
	}
	return probes.Check{
		Name: "status", Expected: expected,
		Actual: strconv.Itoa(got) + " " + http.StatusText(got), OK: ok,
	}
}

func checkHeader(c headerCheck, h http.Header) probes.Check {
	a := probes.Check{Name: c.assertion, Expected: c.expected}
	values := h.Values(c.name)
	if len(values) == 0 {
		a.Actual = "header absent"
		return a
	}
	a.Actual = fmt.Sprintf("%q", exprcheck.Truncate(strings.Join(values, ", "), 120))
	for _, v := range values {
		if c.re.MatchString(v) {
			a.OK = true
		}
	}
	return a
}

// securityHeaderChecks is how many checks checkSecurityHeaders makes at
// most.
const securityHeaderChecks = 5

// checkSecurityHeaders checks the headers browsers rely on to protect
// users of the service. warn makes each failure degrade instead of fail.
func checkSecurityHeaders(resp *http.Response, warn bool) []probes.Check {
	h := resp.Header
	csp := h.Get("Content-Security-Policy")
	present := func(name, v string) probes.Check {
		a := probes.Check{Name: "security header " + name, Expected: "present", Actual: "absent", OK: v != "", Degrades: warn}
		if v != "" {
			a.Actual = fmt.Sprintf("%q", exprcheck.Truncate(v, 80))
		}
		return a
	}
	as := []probes.Check{present("Content-Security-Policy", csp)}
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

func matchWords(ok bool) string {
	if ok {
		return "a match"
	}
	return "no match"
}
