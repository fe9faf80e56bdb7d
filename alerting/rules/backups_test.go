package rules_test

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
	"go.yaml.in/yaml/v3"

	"github.com/lookout-dev/lookout/alerting/rules"
	"github.com/lookout-dev/lookout/alerting/rules/ruletest"
)

const (
	backupRules     = "backups.yml"
	backupRuleTests = "testdata/backups_test.yml"
	// backupTests is how many tests backupRuleTests holds: one per rule.
	backupTests = 8
)

// TestBuiltinBackupRules runs the promtool-format unit tests of the
// built-in MongoDB backup rules.
func TestBuiltinBackupRules(t *testing.T) {
	var out strings.Builder
	if sum := ruletest.Run(context.Background(), &out, backupRuleTests); !sum.OK() || sum.Tests != backupTests {
		t.Errorf("rule unit tests failed (%+v, want %d tests):\n%s", sum, backupTests, out.String())
	}
}

// TestBackupRuleMutants: every small change to a built-in backup rule
// makes its unit tests fail, so they pin each rule's comparison, threshold
// and wait. A mutant turns a comparison around, makes it inclusive or
// negates it, doubles or halves a number, or drops or halves the rule's
// `for`.
func TestBackupRuleMutants(t *testing.T) {
	orig := parseRuleFile(t, backupRules)
	var tf yaml.Node
	data, err := os.ReadFile(backupRuleTests)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(data, &tf); err != nil {
		t.Fatal(err)
	}

	// The control: the rules as written for the mutants, none changed,
	// pass. Otherwise every mutant would fail for nothing it changed.
	control := writeMutant(t, &tf, orig, -1, -1, printedRule)
	if sum, out := runQuiet(control); !sum.OK() || sum.Tests != backupTests || strings.Contains(out, "WARNING") {
		t.Fatalf("the unchanged rules, as the mutants print them, fail (%+v):\n%s", sum, out)
	}

	var n int
	for gi, g := range orig.Groups {
		for ri, r := range g.Rules {
			ms := mutants(t, r)
			if len(ms) == 0 {
				t.Errorf("%s: no mutants; the test would pin nothing of it", r.Alert)
			}
			for _, m := range ms {
				n++
				file := writeMutant(t, &tf, orig, gi, ri, m.apply)
				t.Run(r.Alert+" "+m.change, func(t *testing.T) {
					t.Parallel()
					sum, out := runQuiet(file)
					switch {
					case sum.Tests != backupTests:
						t.Fatalf("%s with %s: ran %d tests, want %d; the mutant is not what failed:\n%s", r.Alert, m.change, sum.Tests, backupTests, out)
					case strings.Contains(out, "WARNING"):
						t.Fatalf("%s with %s: warnings, so the tests may not read the mutant:\n%s", r.Alert, m.change, out)
					case sum.OK():
						t.Errorf("%s survives %s: no test fails with\n  expr: %s\n  for: %s", r.Alert, m.change, m.expr, m.forDur)
					}
				})
			}
		}
	}
	if n == 0 {
		t.Fatalf("%s: no rules", backupRules)
	}
}

// mutant is one change to an alerting rule.
type mutant struct {
	change string // what changed, like "> to >=" or "for 5m to 0s"
	expr   string
	forDur model.Duration
}

func (m mutant) apply(r rulefmt.Rule) rulefmt.Rule {
	r.Expr, r.For = m.expr, m.forDur
	return r
}

// printedRule is r with its expression as the parser prints it, as the
// mutants' expressions are.
func printedRule(r rulefmt.Rule) rulefmt.Rule {
	expr, err := rules.NewParser().ParseExpr(r.Expr)
	if err != nil {
		panic(err) // parseRuleFile has parsed it
	}
	r.Expr = expr.String()
	return r
}

// comparisonMutants are what each comparison becomes: turned around,
// made inclusive or exclusive, negated.
var comparisonMutants = map[parser.ItemType][]parser.ItemType{
	parser.LSS:  {parser.GTR, parser.LTE, parser.GTE},
	parser.LTE:  {parser.GTE, parser.LSS, parser.GTR},
	parser.GTR:  {parser.LSS, parser.GTE, parser.LTE},
	parser.GTE:  {parser.LTE, parser.GTR, parser.LSS},
	parser.EQLC: {parser.NEQ},
	parser.NEQ:  {parser.EQLC},
}

// mutants returns r's mutants, leaving out any that print as r does (0
// doubled is 0).
func mutants(t *testing.T, r rulefmt.Rule) []mutant {
	t.Helper()
	expr, err := rules.NewParser().ParseExpr(r.Expr)
	if err != nil {
		t.Fatalf("%s: %v", r.Alert, err)
	}
	orig := expr.String()
	var out []mutant
	add := func(change string) {
		if e := expr.String(); e != orig {
			out = append(out, mutant{change: change, expr: e, forDur: r.For})
		}
	}
	parser.Inspect(expr, func(node parser.Node, _ []parser.Node) error {
		switch n := node.(type) {
		case *parser.BinaryExpr:
			was := n.Op
			for _, op := range comparisonMutants[was] {
				n.Op = op
				add(was.String() + " to " + op.String())
			}
			n.Op = was
		case *parser.NumberLiteral:
			was := n.Val
			for _, v := range []float64{was * 2, was / 2} {
				n.Val = v
				add(formatNumber(was) + " to " + formatNumber(v))
			}
			n.Val = was
		}
		return nil
	})
	if r.For > 0 {
		for _, d := range []model.Duration{0, r.For / 2} {
			out = append(out, mutant{change: "for " + r.For.String() + " to " + d.String(), expr: orig, forDur: d})
		}
	}
	return out
}

func formatNumber(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }

func parseRuleFile(t *testing.T, file string) *rulefmt.RuleGroups {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	rgs, errs := rulefmt.Parse(data, false, model.UTF8Validation, rules.NewParser(), slog.New(slog.DiscardHandler))
	if len(errs) > 0 {
		t.Fatalf("%s: %v", file, errs)
	}
	return rgs
}

// writeMutant writes orig, its rule ri of group gi changed by change
// (every rule printed as printedRule does), and a copy of the test file
// tf reading it, to a new folder; it returns the test file's path.
func writeMutant(t *testing.T, tf *yaml.Node, orig *rulefmt.RuleGroups, gi, ri int, change func(rulefmt.Rule) rulefmt.Rule) string {
	t.Helper()
	var m rulefmt.RuleGroups
	for g, grp := range orig.Groups {
		grp.Rules = append([]rulefmt.Rule(nil), grp.Rules...)
		for r := range grp.Rules {
			grp.Rules[r] = printedRule(grp.Rules[r])
			if g == gi && r == ri {
				grp.Rules[r] = change(grp.Rules[r])
			}
		}
		m.Groups = append(m.Groups, grp)
	}
	dir := t.TempDir()
	rulesFile := filepath.Join(dir, "rules.yml")
	data, err := yaml.Marshal(&m)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(rulesFile, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := rules.Load([]string{rulesFile}, nil); err != nil {
		t.Fatalf("the mutant does not load: %v\n%s", err, data)
	}
	testFile := filepath.Join(dir, "rules_test.yml")
	if err := os.WriteFile(testFile, withRuleFiles(t, tf, rulesFile), 0o600); err != nil {
		t.Fatal(err)
	}
	return testFile
}

// withRuleFiles is the test file tf with rule_files: [file].
func withRuleFiles(t *testing.T, tf *yaml.Node, file string) []byte {
	t.Helper()
	doc := tf.Content[0]
	for i := 0; i+1 < len(doc.Content); i += 2 {
		if doc.Content[i].Value != "rule_files" {
			continue
		}
		saved := *doc.Content[i+1]
		*doc.Content[i+1] = yaml.Node{Kind: yaml.SequenceNode, Style: yaml.FlowStyle,
			Content: []*yaml.Node{{Kind: yaml.ScalarNode, Value: file}}}
		data, err := yaml.Marshal(tf)
		*doc.Content[i+1] = saved
		if err != nil {
			t.Fatal(err)
		}
		return data
	}
	t.Fatalf("%s has no rule_files", backupRuleTests)
	return nil
}

func runQuiet(testFile string) (ruletest.Summary, string) {
	var out strings.Builder
	sum := ruletest.Run(context.Background(), &out, testFile)
	return sum, out.String()
}
