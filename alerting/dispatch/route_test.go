package dispatch

import (
	"slices"
	"testing"
	"time"

	"github.com/prometheus/common/model"
)

func mustMatchers(t *testing.T, ss ...string) Matchers {
	t.Helper()
	ms, err := ParseMatchers(ss)
	if err != nil {
		t.Fatal(err)
	}
	return ms
}

func TestRouteMatch(t *testing.T) {
	root := &Route{
		Receiver: "default",
		GroupBy:  []model.LabelName{"alertname"},
		Routes: []*Route{
			{
				Receiver: "oncall",
				Matchers: mustMatchers(t, `severity="page"`),
				Continue: true,
			},
			{
				Receiver: "db",
				Matchers: mustMatchers(t, `team="db"`),
				Routes: []*Route{
					{Receiver: "db-prod", Matchers: mustMatchers(t, `env="prod"`)},
				},
			},
			{
				Receiver: "web",
				Matchers: mustMatchers(t, `team=~"web|api"`),
			},
			{
				Receiver: "never", // shadowed by "db" above, which does not continue
				Matchers: mustMatchers(t, `team="db"`),
			},
		},
	}
	tree := newTree(root)
	tests := []struct {
		name string
		lset model.LabelSet
		want []string // receivers in order
	}{
		{"no child matches: the root", model.LabelSet{"team": "ops"}, []string{"default"}},
		{"first matching child wins", model.LabelSet{"team": "db"}, []string{"db"}},
		{"grandchild", model.LabelSet{"team": "db", "env": "prod"}, []string{"db-prod"}},
		{"continue goes on to siblings", model.LabelSet{"severity": "page", "team": "api"}, []string{"oncall", "web"}},
		{"continue with no later match", model.LabelSet{"severity": "page"}, []string{"oncall"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, n := range tree.match(tt.lset) {
				got = append(got, n.receiver)
			}
			if !slices.Equal(got, tt.want) {
				t.Fatalf("match(%s) = %q, want %q", tt.lset, got, tt.want)
			}
		})
	}
}

func TestRouteInheritance(t *testing.T) {
	root := &Route{
		Receiver:      "default",
		GroupBy:       []model.LabelName{"alertname"},
		GroupInterval: time.Minute,
		Routes: []*Route{
			{Matchers: mustMatchers(t, `a="1"`), GroupWait: 5 * time.Second},
			{Matchers: mustMatchers(t, `a="2"`), GroupBy: []model.LabelName{}, Receiver: "two"},
			{Matchers: mustMatchers(t, `a="3"`), GroupBy: []model.LabelName{GroupByAll}},
		},
	}
	tree := newTree(root)
	tests := []struct {
		name                string
		node                *node
		receiver            string
		wait, interval, rep time.Duration
		lset                model.LabelSet
		key                 string
	}{
		{
			name: "root takes defaults for what it leaves zero", node: tree,
			receiver: "default", wait: DefaultGroupWait, interval: time.Minute, rep: DefaultRepeatInterval,
			lset: model.LabelSet{"alertname": "X", "b": "c"}, key: `{}:{alertname="X"}`,
		},
		{
			name: "child inherits and overrides", node: tree.children[0],
			receiver: "default", wait: 5 * time.Second, interval: time.Minute, rep: DefaultRepeatInterval,
			lset: model.LabelSet{"alertname": "X", "a": "1"}, key: `{}/{a="1"}/0:{alertname="X"}`,
		},
		{
			name: "empty group_by: one group", node: tree.children[1],
			receiver: "two", wait: DefaultGroupWait, interval: time.Minute, rep: DefaultRepeatInterval,
			lset: model.LabelSet{"alertname": "X", "a": "2"}, key: `{}/{a="2"}/1:{}`,
		},
		{
			name: "group by all labels", node: tree.children[2],
			receiver: "default", wait: DefaultGroupWait, interval: time.Minute, rep: DefaultRepeatInterval,
			lset: model.LabelSet{"alertname": "X", "a": "3"}, key: `{}/{a="3"}/2:{a="3", alertname="X"}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := tt.node
			if n.receiver != tt.receiver || n.groupWait != tt.wait || n.groupInterval != tt.interval || n.repeatInterval != tt.rep {
				t.Fatalf("got receiver %q timers %s/%s/%s, want %q %s/%s/%s",
					n.receiver, n.groupWait, n.groupInterval, n.repeatInterval, tt.receiver, tt.wait, tt.interval, tt.rep)
			}
			if got := n.groupKey(n.groupLabels(tt.lset)); got != tt.key {
				t.Fatalf("group key = %s, want %s", got, tt.key)
			}
		})
	}
	if root.Routes[0].Receiver != "" || root.Routes[0].GroupInterval != 0 {
		t.Fatal("newTree changed the caller's routes")
	}
}
