package rules_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/lookout-dev/lookout/alerting/promtest"
	"github.com/lookout-dev/lookout/alerting/rules"
	"github.com/lookout-dev/lookout/alerting/rules/ruletest"
)

// TestPromtoolChecksBuiltinRules: the built-in rule files, as `lookout
// rules export` writes them for a team's own Prometheus, pass `promtool
// check rules`, and every built-in alert has a unit test in testdata.
func TestPromtoolChecksBuiltinRules(t *testing.T) {
	promtool := promtest.Bin(t, "promtool")
	files, err := rules.BuiltinFiles()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	var paths []string
	alerts := map[string]bool{}
	alertLine := regexp.MustCompile(`(?m)^\s*-\s*alert:\s*(\w+)`)
	for name, data := range files {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
		for _, m := range alertLine.FindAllSubmatch(data, -1) {
			alerts[string(m[1])] = true
		}
	}
	slices.Sort(paths)
	out, err := exec.Command(promtool, append([]string{"check", "rules"}, paths...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("promtool check rules refuses the built-in rules (%v):\n%s", err, out)
	}
	t.Logf("promtool check rules:\n%s", out)

	tested := map[string]bool{}
	tests, err := filepath.Glob("testdata/*_test.yml")
	if err != nil {
		t.Fatal(err)
	}
	alertName := regexp.MustCompile(`(?m)^\s*alertname:\s*(\w+)`)
	for _, f := range tests {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range alertName.FindAllSubmatch(data, -1) {
			tested[string(m[1])] = true
		}
	}
	builtin, err := rules.Builtin(nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range builtin {
		for _, r := range g.Rules {
			if _, ok := r.(*rules.AlertingRule); !ok {
				continue
			}
			if !alerts[r.Name()] {
				t.Errorf("built-in alert %s is not in the exported files", r.Name())
			}
			if !tested[r.Name()] {
				t.Errorf("built-in alert %s has no alert_rule_test in testdata/*_test.yml", r.Name())
			}
		}
	}
}

// TestPromtoolAgrees: `promtool test rules` and `lookout test rules`
// (ruletest) give the same verdict on the same files: the built-in
// rules' tests, and ruletest's own cases, passing and failing.
func TestPromtoolAgrees(t *testing.T) {
	promtool := promtest.Bin(t, "promtool")
	files, err := filepath.Glob("testdata/*_test.yml")
	if err != nil {
		t.Fatal(err)
	}
	// ruletest's cases are the test files with a golden report.
	golden, err := filepath.Glob("ruletest/testdata/*.out")
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range golden {
		f := strings.TrimSuffix(g, ".out") + ".yml"
		if _, err := os.Stat(f); err == nil {
			files = append(files, f)
		}
	}
	if len(files) < 20 {
		t.Fatalf("only %d test files found", len(files))
	}
	passed, failed := 0, 0
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			var report strings.Builder
			ours := ruletest.Run(context.Background(), &report, f).OK()
			out, err := exec.Command(promtool, "test", "rules", f).CombinedOutput()
			var exit *exec.ExitError
			if err != nil && !errors.As(err, &exit) {
				t.Fatal(err)
			}
			theirs := err == nil
			if ours != theirs {
				t.Errorf("lookout test rules says pass=%t, promtool test rules says pass=%t\nlookout:\n%s\npromtool:\n%s", ours, theirs, report.String(), out)
			}
			if theirs {
				passed++
			} else {
				failed++
			}
		})
	}
	t.Logf("%d test files: promtool passes %d and fails %d, as lookout test rules does", len(files), passed, failed)
	if passed == 0 || failed == 0 {
		t.Errorf("the comparison needs passing and failing files: %d passed, %d failed", passed, failed)
	}
}
