package dispatch

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
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

// matcherSyntax splits one matcher into name, operator and value. The
// operators are tried longest first, so `a!=b` is never read as `a!` `=`.
var matcherSyntax = regexp.MustCompile(`^\s*([^=!~\s]+)\s*(=~|!~|!=|=)\s*(.*?)\s*$`)

// ParseMatchers parses Alertmanager-style matchers, one per string:
// `severity="page"`, `team=~"api|web"`, `env!="dev"`, `host!~"db.*"`,
// optionally in braces.
// The value may be left unquoted (`severity=page`), in which case it is
// taken literally up to the end of the string, surrounding spaces
// trimmed. Quoted values follow PromQL string rules (double, single or
// back quotes, Go escapes). Regular expressions are anchored, as
// everywhere in Prometheus. The syntax is checked by PromQL's own
// metric-selector parser, so rules and routes accept the same strings.
func ParseMatchers(ss []string) (Matchers, error) {
	ms := make(Matchers, 0, len(ss))
	for i, s := range ss {
		m, err := parseMatcher(s)
		if err != nil {
			return nil, fmt.Errorf("matcher %d (%s): %w", i+1, strconv.Quote(s), err)
		}
		ms = append(ms, m)
	}
	return ms, nil
}

func parseMatcher(s string) (*labels.Matcher, error) {
	s = strings.TrimSpace(s)
	if inner, ok := strings.CutPrefix(s, "{"); ok {
		if s, ok = strings.CutSuffix(inner, "}"); !ok {
			return nil, errors.New("missing closing brace")
		}
	}
	if strings.TrimSpace(s) == "" {
		return nil, errors.New("empty matcher")
	}
	parts := matcherSyntax.FindStringSubmatch(s)
	if parts == nil {
		return nil, errors.New(`want label, operator (=, !=, =~ or !~) and value, like severity="page"`)
	}
	name, op, value := parts[1], parts[2], parts[3]
	if !model.LabelName(name).IsValidLegacy() {
		return nil, fmt.Errorf("invalid label name %q: want letters, digits and underscores, not starting with a digit", name)
	}
	if value == "" || !strings.ContainsRune("\"'`", rune(value[0])) {
		value = strconv.Quote(value)
	}
	ms, err := parser.NewParser(parser.Options{}).ParseMetricSelector("{" + name + op + value + "}")
	if err != nil {
		return nil, parseError(err)
	}
	if len(ms) != 1 {
		return nil, fmt.Errorf("want one matcher, got %d; list each in its own string", len(ms))
	}
	return ms[0], nil
}

// parseError drops the parser's line:column prefix, which counts
// positions in the selector built around the matcher, not in the input.
func parseError(err error) error {
	var perrs parser.ParseErrors
	if errors.As(err, &perrs) && len(perrs) > 0 && perrs[0].Err != nil {
		return perrs[0].Err
	}
	return err
}
