package rules_test

import (
	"context"
	"strings"
	"testing"

	"github.com/lookout-dev/lookout/alerting/rules/ruletest"
)

// TestBuiltinClusterRule: LookoutClusterDegraded fires for a state
// database unreachable over a minute, a replica lost, and a flapping
// leader, each with its reason, and its promtool-format test passes.
func TestBuiltinClusterRule(t *testing.T) {
	var out strings.Builder
	if sum := ruletest.Run(context.Background(), &out, "testdata/cluster_test.yml"); !sum.OK() || sum.Tests != 1 {
		t.Errorf("rule unit test failed (%+v):\n%s", sum, out.String())
	}
}
