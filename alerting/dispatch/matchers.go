package dispatch

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"

	"github.com/lookout-dev/lookout/config"
)

// Matchers select alerts by their labels; all must match. A label the
// alert lacks matches as the empty string, as in Alertmanager.
type Matchers []*labels.Matcher

// Matches reports whether every matcher matches lset.
func (ms Matchers) Matches(lset model.LabelSet) bool {
	for _, m := range ms {
		if !m.Matches(string(lset[model.LabelName(m.Name)])) {
			return false
		}
	}
	return true
}

// String renders the matchers sorted, as {a="b",c=~"d"}; it is part of
// route identifiers and so of group keys.
func (ms Matchers) String() string {
	ss := make([]string, len(ms))
	for i, m := range ms {
		ss[i] = m.String()
	}
	slices.Sort(ss)
	return "{" + strings.Join(ss, ",") + "}"
}

// ParseMatchers parses Alertmanager-style matchers, one per string, with
// config.ParseMatcher, so the API and the config file accept the same.
func ParseMatchers(ss []string) (Matchers, error) {
	ms := make(Matchers, 0, len(ss))
	for i, s := range ss {
		m, err := config.ParseMatcher(s)
		if err != nil {
			return nil, fmt.Errorf("matcher %d (%s): %w", i+1, strconv.Quote(s), err)
		}
		ms = append(ms, m)
	}
	return ms, nil
}
