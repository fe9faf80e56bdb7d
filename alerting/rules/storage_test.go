package rules_test

import (
	"context"
	"strings"
	"testing"

	"github.com/lookout-dev/lookout/alerting/rules"
	"github.com/lookout-dev/lookout/alerting/rules/ruletest"
)

// TestBuiltinStorageRule: the built-in pack holds LookoutStorageFailing,
// and its promtool-format unit test passes.
func TestBuiltinStorageRule(t *testing.T) {
	groups, err := rules.Builtin(nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, g := range groups {
		for _, r := range g.Rules {
			found = found || (g.Name == "lookout-storage" && r.Name() == "LookoutStorageFailing")
		}
	}
	if !found {
		t.Error("the built-in pack lacks LookoutStorageFailing in group lookout-storage")
	}
	var out strings.Builder
	if sum := ruletest.Run(context.Background(), &out, "testdata/storage_test.yml"); !sum.OK() || sum.Tests != 1 {
		t.Errorf("rule unit test failed (%+v):\n%s", sum, out.String())
	}
}
