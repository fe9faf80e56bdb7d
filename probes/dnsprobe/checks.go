package dnsprobe

import (
	"fmt"
	"strings"

	"cel.dev/cel-go/cel"

	"github.com/lookout-dev/lookout/config"
	"github.com/lookout-dev/lookout/probes"
	"github.com/lookout-dev/lookout/probes/internal/exprcheck"
)

// checks are the checks of a reply: its response code, each section's
// regular expressions, then assert and degraded_if.
func (p *Prober) checks(res *probes.Result, f *Facts) []probes.Check {
	e := p.cfg.Expect
	checks := []probes.Check{{Name: "rcode", Expected: e.RCode, Actual: rcodeText(f.RCode), OK: f.RCode == e.RCode}}
	for _, s := range []struct {
		name, section string
		res           []config.Regexp
		records       []string
	}{{"answers", "answer", e.Answers, f.Answers}, {"authority", "authority", e.Authority, f.Authority}, {"additional", "additional", e.Additional, f.Additional}} {
		for _, re := range s.res {
			checks = append(checks, sectionCheck(s.name, s.section, re, s.records))
		}
	}
	if len(p.cfg.Assert) > 0 || len(p.cfg.DegradedIf) > 0 {
		checks = append(checks, exprcheck.Run(p.cfg.Assert, p.cfg.DegradedIf, vars(res, f))...)
	}
	return checks
}

// rcodeText is a response code, with what it means for the codes a
// probe most often meets.
func rcodeText(rc string) string {
	switch rc {
	case "SERVFAIL":
		return "SERVFAIL (the server failed to resolve the name: an upstream, zone or DNSSEC failure)"
	case "NXDOMAIN":
		return "NXDOMAIN (the name does not exist)"
	case "REFUSED":
		return "REFUSED (the server will not answer this query from this client)"
	}
	return rc
}

// sectionCheck, the check called name, passes when re matches at least
// one record of a section.
func sectionCheck(name, section string, re config.Regexp, records []string) probes.Check {
	c := probes.Check{Name: name, Expected: "a record matching " + re.String()}
	for _, r := range records {
		if re.MatchString(r) {
			c.OK, c.Actual = true, fmt.Sprintf("%q", oneLine(r))
			return c
		}
	}
	if len(records) == 0 {
		c.Actual = "no records in the " + section + " section"
		return c
	}
	shown := make([]string, 0, 3)
	for _, r := range records[:min(len(records), 3)] {
		shown = append(shown, fmt.Sprintf("%q", exprcheck.Truncate(oneLine(r), 120)))
	}
	more := ""
	if len(records) > len(shown) {
		more = fmt.Sprintf(", and %d more", len(records)-len(shown))
	}
	c.Actual = fmt.Sprintf("none of %d record%s: %s%s", len(records), probes.Plural(len(records)), strings.Join(shown, ", "), more)
	return c
}

// oneLine shows a record with spaces for its tabs.
func oneLine(rr string) string { return strings.ReplaceAll(rr, "\t", " ") }

// vars are the variables of a DNS probe's expressions.
func vars(res *probes.Result, f *Facts) cel.Activation {
	list := func(s []string) []string {
		if s == nil {
			return []string{}
		}
		return s
	}
	act, _ := cel.NewActivation(map[string]any{
		"duration": res.Duration, "rcode": f.RCode,
		"answers": list(f.Answers), "authority": list(f.Authority), "additional": list(f.Additional),
	})
	return act
}
