package main

import (
	"bytes"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"

	"github.com/lookout-dev/lookout/alerting/rules"
)

// TestRulesExport: `lookout rules export DIR` writes every built-in rule
// file as Lookout runs it, in a form Prometheus's own rule file parser
// takes (with its template checks), and leaves a file already there alone
// unless -force.
func TestRulesExport(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "rules")
	var out, errOut bytes.Buffer
	if code := run([]string{"rules", "export", dir}, &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	want, err := rules.BuiltinFiles()
	if err != nil {
		t.Fatal(err)
	}
	written, _ := filepath.Glob(filepath.Join(dir, "*.yml"))
	if len(written) != len(want) || len(want) == 0 {
		t.Fatalf("wrote %v, want the %d built-in files", written, len(want))
	}
	for name, data := range want {
		got, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil || !bytes.Equal(got, data) {
			t.Errorf("%s: differs from the built-in file (%v)", name, err)
			continue
		}
		if !strings.Contains(out.String(), filepath.Join(dir, name)) {
			t.Errorf("the output does not name %s:\n%s", name, out.String())
		}
		groups, errs := rulefmt.Parse(got, false, model.UTF8Validation, parser.NewParser(parser.Options{}), nil)
		if len(errs) > 0 || len(groups.Groups) == 0 {
			t.Errorf("%s: Prometheus's rule file parser refuses it: %v", name, errs)
		}
	}

	errOut.Reset()
	if code := run([]string{"rules", "export", dir}, &out, &errOut); code != 1 || !strings.Contains(errOut.String(), "exists; left as it is (-force replaces it)") {
		t.Errorf("export into a folder that has the files: exit %d, %q; want 1 and that it left them", code, errOut.String())
	}
	first := filepath.Join(dir, slices.Sorted(maps.Keys(want))[0])
	if err := os.WriteFile(first, []byte("changed"), 0o644); err != nil {
		t.Fatal(err)
	}
	if code := run([]string{"rules", "export", "-force", dir}, &out, &errOut); code != 0 {
		t.Fatalf("-force: exit %d", code)
	}
	if got, _ := os.ReadFile(first); string(got) == "changed" {
		t.Error("-force left a changed file as it was")
	}
	if code := run([]string{"rules", "list"}, &out, &errOut); code != 2 {
		t.Errorf("lookout rules list: exit %d, want 2 (usage)", code)
	}
}
