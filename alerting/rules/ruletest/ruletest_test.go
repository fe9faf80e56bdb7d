package ruletest_test

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lookout-dev/lookout/alerting/rules/ruletest"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// TestFiles runs the test files in testdata and compares the whole report
// with its golden file.
func TestFiles(t *testing.T) {
	tests := []struct {
		name   string
		file   string
		golden string
		want   ruletest.Summary
	}{
		{"passing tests", "testdata/pass.yml", "testdata/pass.out", ruletest.Summary{Files: 1, Tests: 3}},
		{"wrong expected labels and samples", "testdata/fail.yml", "testdata/fail.out", ruletest.Summary{Files: 1, Tests: 2, Failed: 1}},
		{"rule file pattern matching nothing", "testdata/missing-rules.yml", "testdata/missing-rules.out", ruletest.Summary{Files: 1, Tests: 1}},
		{"unknown fields and a bad duration", "testdata/unknown-field.yml", "testdata/unknown-field.out", ruletest.Summary{Files: 1, Failed: 1}},
		{"rule file with errors", "testdata/bad-rules.yml", "testdata/bad-rules.out", ruletest.Summary{Files: 1, Failed: 1}},
		{"invalid values", "testdata/invalid.yml", "testdata/invalid.out", ruletest.Summary{Files: 1, Failed: 1}},
		{"no such test file", "testdata/nope.yml", "testdata/nope.out", ruletest.Summary{Files: 1, Failed: 1}},
		{"native histograms", "testdata/histograms.yml", "testdata/histograms.out", ruletest.Summary{Files: 1, Tests: 2}},
		{"wrong expected histograms", "testdata/histograms-fail.yml", "testdata/histograms-fail.out", ruletest.Summary{Files: 1, Tests: 3, Failed: 3}},
		{"wrong external URL", "testdata/external-url-fail.yml", "testdata/external-url-fail.out", ruletest.Summary{Files: 1, Tests: 2, Failed: 2}},
		{"start_timestamp and time()", "testdata/start.yml", "testdata/start.out", ruletest.Summary{Files: 1, Tests: 2}},
		{"time() counted from 0", "testdata/start-fail.yml", "testdata/start-fail.out", ruletest.Summary{Files: 1, Tests: 2, Failed: 2}},
		{"values compared exactly", "testdata/compare-exact.yml", "testdata/compare-exact.out", ruletest.Summary{Files: 1, Tests: 1, Failed: 1}},
		{"fuzzy_compare: one ULP", "testdata/compare-fuzzy.yml", "testdata/compare-fuzzy.out", ruletest.Summary{Files: 1, Tests: 2, Failed: 1}},
		{"a series given twice", "testdata/duplicate-series.yml", "testdata/duplicate-series.out", ruletest.Summary{Files: 1, Tests: 2}},
		{"no tests", "testdata/no-tests.yml", "testdata/no-tests.out", ruletest.Summary{Files: 1}},
		{"promtool's sample limit on expressions", "testdata/max-samples.yml", "testdata/max-samples.out", ruletest.Summary{Files: 1, Tests: 2, Failed: 1}},
		{"promtool's sample limit on rules", "testdata/max-samples-rule.yml", "testdata/max-samples-rule.out", ruletest.Summary{Files: 1, Tests: 1, Failed: 1}},
		{"recorded native histograms", "testdata/recorded-histograms.yml", "testdata/recorded-histograms.out", ruletest.Summary{Files: 1, Tests: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			got := ruletest.Run(context.Background(), &out, tt.file)
			if got != tt.want {
				t.Errorf("summary %+v, want %+v", got, tt.want)
			}
			if *update {
				if err := os.WriteFile(tt.golden, out.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(tt.golden)
			if err != nil {
				t.Fatal(err)
			}
			if out.String() != string(want) {
				t.Errorf("report:\n%s\nwant (%s):\n%s", out.String(), tt.golden, want)
			}
		})
	}
}

// rulesYAML is what the semantics tests run against.
const rulesYAML = `groups:
  - name: first
    rules:
      - alert: Down
        expr: up == 0
        for: 2m
        labels: {severity: page}
  - name: second
    rules:
      - alert: DownLong
        expr: ALERTS{alertname="Down", alertstate="firing"}
      - alert: Clash
        expr: label_replace(clash, "instance", "", "", "")
      - alert: Links
        expr: vector(1)
        annotations:
          var: '{{ $externalURL }}'
          func: '{{ pathPrefix }}'
`

// TestSemantics pins what a test sees: each case is one test of a file
// with rulesYAML, which must pass or fail with the given lines.
func TestSemantics(t *testing.T) {
	tests := []struct {
		name string
		test string
		ok   bool
		want []string
	}{
		{"for: pending is not firing yet", `
    input_series: [{series: 'up{job="a"}', values: '0x5'}]
    alert_rule_test:
      - {eval_time: 1m, alertname: Down, exp_alerts: [{exp_labels: {job: a, severity: page}}]}`,
			false, []string{"alertname: Down, time: 1m:", "got firing alerts (0): none"}},
		{"for: firing once elapsed", `
    input_series: [{series: 'up{job="a"}', values: '0x5'}]
    alert_rule_test:
      - {eval_time: 1m, alertname: Down}
      - {eval_time: 2m, alertname: Down, exp_alerts: [{exp_labels: {job: a, severity: page}}]}`,
			true, nil},
		{"for: a recovery resets the clock", `
    input_series: [{series: 'up{job="a"}', values: '0 0 1 0 0 0'}]
    alert_rule_test:
      - {eval_time: 2m, alertname: Down}
      - {eval_time: 4m, alertname: Down}
      - {eval_time: 5m, alertname: Down, exp_alerts: [{exp_labels: {job: a, severity: page}}]}`,
			true, nil},
		{"group order: the second group sees the first's ALERTS", `
    input_series: [{series: 'up{job="a"}', values: '0x5'}]
    alert_rule_test:
      - {eval_time: 2m, alertname: DownLong, exp_alerts: [{exp_labels: {job: a, severity: page, alertstate: firing}}]}`,
			true, nil},
		{"0+10x5 expands to 0 10 20 30 40 50", `
    input_series: [{series: 'x', values: '0+10x5'}]
    promql_expr_test:
      - {expr: x, eval_time: 4m, exp_samples: [{labels: x, value: 40}]}
      - {expr: x, eval_time: 5m, exp_samples: [{labels: x, value: 40}]}`,
			false, []string{`expr: "x", time: 5m:`, "differs in: value: expected 40, got 50"}},
		{"_ leaves a gap", `
    input_series: [{series: 'x', values: '1 _ 3'}]
    promql_expr_test:
      - {expr: timestamp(x), eval_time: 1m, exp_samples: [{labels: '{}', value: 0}]}
      - {expr: x, eval_time: 2m, exp_samples: [{labels: x, value: 3}]}`,
			true, nil},
		{"stale ends the series", `
    input_series: [{series: 'x', values: '1 stale 2'}]
    promql_expr_test:
      - {expr: x, eval_time: 1m, exp_samples: [{labels: x, value: 1}]}`,
			false, []string{"got samples (0): none"}},
		{"samples in any order", `
    input_series:
      - {series: 'x{a="1"}', values: '0.5'}
      - {series: 'x{a="2"}', values: '0.25'}
    promql_expr_test:
      - expr: x * 3
        eval_time: 0m
        exp_samples: [{labels: '{a="2"}', value: 0.75}, {labels: '{a="1"}', value: 1.5}]`,
			true, nil},
		{"values compared exactly, as in promtool", `
    input_series: [{series: 'x', values: '0.1'}]
    promql_expr_test:
      - {expr: x * 3, eval_time: 0m, exp_samples: [{labels: '{}', value: 0.3}]}`,
			false, []string{"value: expected 0.3, got 0.30000000000000004 (one ULP apart: fuzzy_compare: true accepts that)"}},
		{"NaN equals nothing, as in promtool", `
    promql_expr_test:
      - {expr: 'vector(0) / 0', eval_time: 0m, exp_samples: [{labels: '{}', value: .nan}]}`,
			false, []string{"value: expected NaN, got NaN (NaN equals nothing, not even NaN, as in promtool)"}},
		{"an alert test naming no alerting rule passes with a warning, as in promtool", `
    alert_rule_test:
      - {eval_time: 0m, alertname: Dwn}`,
			true, []string{`WARNING: `, `tests[0].alert_rule_test[0].alertname: no alerting rule "Dwn" in rule_files`}},
		{"an alert test naming no alerting rule fails if it expects an alert", `
    alert_rule_test:
      - {eval_time: 0m, alertname: Dwn, exp_alerts: [{exp_labels: {job: a}}]}`,
			false, []string{`no alerting rule "Dwn" in rule_files`, "got firing alerts (0): none"}},
		{"scalar result", `
    promql_expr_test:
      - {expr: '1 + 1', eval_time: 0m, exp_samples: [{labels: '{}', value: 2}]}`,
			true, nil},
		{"rule evaluation error", `
    input_series:
      - {series: 'clash{instance="a"}', values: '1'}
      - {series: 'clash{instance="b"}', values: '1'}
    alert_rule_test:
      - {eval_time: 0m, alertname: Clash}`,
			false, []string{`tests[0] "case", time: 0s: rule evaluation failed, group: second, rule: Clash, err: `}},
		{"$externalURL is external_url as written", `
    external_url: HTTP://Example.com:80/prom/
    alert_rule_test:
      - {eval_time: 0m, alertname: Links}`,
			false, []string{`var="HTTP://Example.com:80/prom/"`}},
		{"template functions have no URL, as in promtool", `
    external_url: http://example.com/prom
    alert_rule_test:
      - {eval_time: 0m, alertname: Links}`,
			false, []string{`func="<error expanding template: `, `at <pathPrefix>: error calling pathPrefix: runtime error: invalid memory address or nil pointer dereference>"`}},
		{"no external_url: $externalURL is empty", `
    alert_rule_test:
      - {eval_time: 0m, alertname: Links}`,
			false, []string{`var=""`}},
		{"start_timestamp as RFC 3339 with a zone", `
    start_timestamp: 2024-01-01T02:00:00+02:00
    promql_expr_test:
      - {expr: time(), eval_time: 0m, exp_samples: [{labels: '{}', value: 1704067200}]}`,
			true, nil},
		{"start_timestamp as Unix seconds", `
    start_timestamp: 1704067200
    input_series: [{series: 'x', values: '1+1x3'}]
    promql_expr_test:
      - {expr: timestamp(x), eval_time: 2m, exp_samples: [{labels: '{}', value: 1704067320}]}`,
			true, nil},
		{"start_timestamp empty", `
    start_timestamp: ''`,
			false, []string{`tests[0].start_timestamp: "" is not a time`}},
		{"start_timestamp null: epoch 0", `
    start_timestamp:
    promql_expr_test:
      - {expr: time(), eval_time: 1m, exp_samples: [{labels: '{}', value: 60}]}`,
			true, nil},
		{"an eval_time between evaluations sees no later input, as in promtool", `
    interval: 30s
    input_series: [{series: 'x', values: '1 2 3'}]
    promql_expr_test:
      - {expr: x, eval_time: 30s, exp_samples: [{labels: x, value: 1}]}`,
			true, nil},
		{"query error", `
    promql_expr_test:
      - {expr: 'label_replace(vector(1), "a", "b", "c", "(")', eval_time: 0m}`,
			false, []string{`expr: "label_replace(vector(1), \"a\", \"b\", \"c\", \"(\")", time: 0s: invalid regular expression`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			write(t, filepath.Join(dir, "rules.yml"), rulesYAML)
			file := filepath.Join(dir, "test.yml")
			write(t, file, "rule_files: [rules.yml]\ngroup_eval_order: [first, second]\ntests:\n  - name: case"+tt.test+"\n")
			var out bytes.Buffer
			sum := ruletest.Run(context.Background(), &out, file)
			if sum.OK() != tt.ok {
				t.Errorf("ok = %v, want %v:\n%s", sum.OK(), tt.ok, out.String())
			}
			for _, w := range tt.want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("report lacks %q:\n%s", w, out.String())
				}
			}
		})
	}
}

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}
