package main

import (
	"fmt"
	"io"
	"strings"
)

// ruleKind is one shape of rule in the generated file. expr is a format
// with one %s: the probe's or the team's name (ignored by global rules).
type ruleKind struct {
	alert, expr, forDur, severity, summary string
	per                                    string // "probe", "team" or "global"
	share                                  int    // rules of this kind per 1,000
}

// ruleKinds is the mix of a team's rule files: most rules are written per
// probe, as teams copy ProbeDown for the probes they own; some per team;
// a few over the whole fleet. Shares sum to 1,000.
var ruleKinds = []ruleKind{
	{"ProbeDown", `lookout_probe_state{probe="%s"} == 2`, "1m", "page",
		"Probe {{ $labels.probe }} is down", "probe", 200},
	{"ProbeDegraded", `lookout_probe_state{probe="%s"} == 1`, "5m", "warning",
		"Probe {{ $labels.probe }} is degraded", "probe", 200},
	{"ProbeSlow", `sum by (probe) (probe_http_duration_seconds{probe="%s"}) > 1`, "5m", "warning",
		"Probe {{ $labels.probe }} takes {{ $value | humanizeDuration }}", "probe", 200},
	{"ProbeFailing", `rate(lookout_probe_runs_total{probe="%s",result="down"}[5m]) > 0`, "2m", "warning",
		"Probe {{ $labels.probe }} has failed runs", "probe", 200},
	{"TeamAvailabilityLow", `avg by (team) (probe_success{team="%s"}) < 0.9`, "5m", "page",
		"Availability of {{ $labels.team }} is {{ $value | humanizePercentage }}", "team", 40},
	{"TeamProbesDown", `count by (team) (lookout_probe_state{team="%s"} == 2) > 2`, "2m", "page",
		"{{ $value }} probes of {{ $labels.team }} are down", "team", 40},
	{"TeamFailedRuns", `sum by (team) (increase(lookout_probe_runs_total{team="%s",result="down"}[10m])) > 5`, "0s", "warning",
		"{{ $labels.team }} had {{ $value }} failed runs in 10m", "team", 40},
	{"TeamSlowest", `max by (team) (probe_duration_seconds{team="%s"}) > 2`, "10m", "info",
		"Slowest probe of {{ $labels.team }}: {{ $value }}s", "team", 40},
	{"FleetAvailabilityLow", `avg by (team) (probe_success) < 0.9`, "5m", "page",
		"Availability of {{ $labels.team }} is {{ $value | humanizePercentage }}", "global", 10},
	{"FleetFailing", `sum by (team) (rate(lookout_probe_runs_total{result="down"}[5m])) > 0`, "5m", "warning",
		"{{ $labels.team }} is failing runs", "global", 10},
	{"FleetProbesDown", `count(lookout_probe_state == 2) > 10`, "1m", "page",
		"{{ $value }} probes are down", "global", 10},
	{"FleetPhaseSlow", `avg by (team, phase) (probe_http_duration_seconds) > 0.5`, "5m", "info",
		"{{ $labels.phase }} of {{ $labels.team }} is slow", "global", 10},
}

// writeRules writes n rules in the shares of ruleKinds, in groups of
// perGroup, cycling through the probes and teams.
func writeRules(w io.Writer, n, perGroup, probes, teams int) (map[string]int, error) {
	var b strings.Builder
	b.WriteString("groups:\n")
	counts := map[string]int{}
	written := 0
	for _, k := range ruleKinds {
		for j := range k.share * n / 1000 {
			if written%perGroup == 0 {
				fmt.Fprintf(&b, "  - name: bench-%03d\n    rules:\n", written/perGroup)
			}
			// Rules repeated for the same target (a warning and a page
			// copy, say) differ in tier, so their ALERTS series do too.
			target, tier := "", j
			switch k.per {
			case "probe":
				target, tier = probeName(j%probes), j/probes
			case "team":
				target, tier = teamName(j%teams), j/teams
			}
			expr := k.expr
			if strings.Contains(expr, "%s") {
				expr = fmt.Sprintf(expr, target)
			}
			fmt.Fprintf(&b, "      - alert: %s\n        expr: '%s'\n        for: %s\n", k.alert, expr, k.forDur)
			fmt.Fprintf(&b, "        labels:\n          severity: %s\n          tier: '%d'\n", k.severity, tier)
			fmt.Fprintf(&b, "        annotations:\n          summary: '%s'\n", k.summary)
			counts[k.per]++
			written++
		}
	}
	_, err := io.WriteString(w, b.String())
	return counts, err
}
