package rules_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"

	"github.com/lookout-dev/lookout/alerting/rules"
)

// failingStorage fails every query, so every evaluation fails.
type failingStorage struct{}

func (failingStorage) Querier(int64, int64) (storage.Querier, error) {
	return nil, errors.New("storage down")
}

func (failingStorage) Append(time.Time, labels.Labels, float64) error { return nil }

func (failingStorage) AppendHistogram(time.Time, labels.Labels, *histogram.FloatHistogram) error {
	return nil
}

// TestGroupSeriesFollowGroups: each rule group's
// lookout_rule_evaluation_failures_total is there at 0 from when Update
// loads the group, before any evaluation, so increase() counts the first
// failure; a group a later Update drops loses its series, its last
// evaluation time too.
func TestGroupSeriesFollowGroups(t *testing.T) {
	groups, err := rules.Load([]string{writeRules(t, `groups:
  - name: alpha
    rules:
      - alert: Down
        expr: up == 0
  - name: beta
    rules:
      - record: job:up:sum
        expr: sum(up)
`)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	const (
		failuresHead = `
# HELP lookout_rule_evaluation_failures_total Rule evaluations that failed.
# TYPE lookout_rule_evaluation_failures_total counter
`
		lastEvalHead = `
# HELP lookout_rule_group_last_evaluation_timestamp_seconds When each rule group was last evaluated.
# TYPE lookout_rule_group_last_evaluation_timestamp_seconds gauge
`
	)
	at := time.Unix(1_800_000_000, 0)
	reg := prometheus.NewRegistry()
	m := rules.NewManager(rules.Options{Storage: failingStorage{}, Interval: time.Minute}, reg)
	steps := []struct {
		name               string
		do                 func()
		failures, lastEval string
	}{
		{"loaded", func() { m.Update(groups) },
			failuresHead + "lookout_rule_evaluation_failures_total{rule_group=\"alpha\"} 0\nlookout_rule_evaluation_failures_total{rule_group=\"beta\"} 0\n", ""},
		{"alpha failed", func() { m.EvalGroup(t.Context(), groups[0], at) },
			failuresHead + "lookout_rule_evaluation_failures_total{rule_group=\"alpha\"} 1\nlookout_rule_evaluation_failures_total{rule_group=\"beta\"} 0\n",
			lastEvalHead + "lookout_rule_group_last_evaluation_timestamp_seconds{rule_group=\"alpha\"} 1.8e+09\n"},
		{"reloaded unchanged", func() { m.Update(groups) },
			failuresHead + "lookout_rule_evaluation_failures_total{rule_group=\"alpha\"} 1\nlookout_rule_evaluation_failures_total{rule_group=\"beta\"} 0\n",
			lastEvalHead + "lookout_rule_group_last_evaluation_timestamp_seconds{rule_group=\"alpha\"} 1.8e+09\n"},
		{"alpha removed", func() { m.Update(groups[1:]) },
			failuresHead + "lookout_rule_evaluation_failures_total{rule_group=\"beta\"} 0\n", ""},
		{"all removed", func() { m.Update(nil) }, "", ""},
	}
	for _, step := range steps {
		t.Run(step.name, func(t *testing.T) {
			step.do()
			if err := testutil.GatherAndCompare(reg, strings.NewReader(step.failures), "lookout_rule_evaluation_failures_total"); err != nil {
				t.Error(err)
			}
			if err := testutil.GatherAndCompare(reg, strings.NewReader(step.lastEval), "lookout_rule_group_last_evaluation_timestamp_seconds"); err != nil {
				t.Error(err)
			}
		})
	}
}
