package rules

import (
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
)

// NewParser returns the PromQL parser rules are read with.
func NewParser() parser.Parser { return parser.NewParser(parser.Options{}) }

// Load reads the rule files matching patterns (globs) in Prometheus's
// format. Every problem in every file is returned, each naming the file
// and, where the parser knows it, the line.
func Load(patterns []string, log *slog.Logger) ([]*Group, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	p := NewParser()
	var files []string
	var errs []error
	for _, pat := range patterns {
		matches, err := filepath.Glob(pat)
		if err != nil {
			errs = append(errs, fmt.Errorf("rule_files %q: %w", pat, err))
			continue
		}
		if len(matches) == 0 && !hasMeta(pat) {
			errs = append(errs, fmt.Errorf("rule_files %q: no such file", pat))
		}
		files = append(files, matches...)
	}
	slices.Sort(files)
	files = slices.Compact(files)
	var groups []*Group
	for _, f := range files {
		rgs, ferrs := rulefmt.ParseFile(f, false, model.UTF8Validation, p, log)
		if len(ferrs) > 0 {
			for _, e := range ferrs {
				errs = append(errs, positioned(f, e))
			}
			continue
		}
		for _, rg := range rgs.Groups {
			g, err := newGroup(f, rg, p)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			groups = append(groups, g)
		}
	}
	return groups, errors.Join(errs...)
}

// linePrefix matches rulefmt's "file: line:col: " so errors read
// "file:line:col: " as Lookout's config errors do.
var linePrefix = regexp.MustCompile(`^: (\d+):(\d+): `)

func positioned(file string, err error) error {
	msg := err.Error()
	rest, ok := strings.CutPrefix(msg, file)
	if !ok || !linePrefix.MatchString(rest) {
		return err
	}
	if strings.HasPrefix(rest, ": 0:0: ") { // rulefmt knows no position
		return errors.New(file + ": " + strings.TrimPrefix(rest, ": 0:0: "))
	}
	return errors.New(file + linePrefix.ReplaceAllString(rest, ":$1:$2: "))
}

func hasMeta(pattern string) bool {
	for _, c := range pattern {
		if c == '*' || c == '?' || c == '[' {
			return true
		}
	}
	return false
}

func newGroup(file string, rg rulefmt.RuleGroup, p parser.Parser) (*Group, error) {
	g := &Group{Name: rg.Name, File: file, Interval: time.Duration(rg.Interval)}
	for _, r := range rg.Rules {
		expr, err := p.ParseExpr(r.Expr)
		if err != nil { // rulefmt has validated it; this cannot happen
			return nil, fmt.Errorf("%s: group %q: %w", file, rg.Name, err)
		}
		lbls := labels.FromMap(r.Labels)
		if len(rg.Labels) > 0 {
			lb := labels.NewBuilder(labels.FromMap(rg.Labels))
			lbls.Range(func(l labels.Label) { lb.Set(l.Name, l.Value) })
			lbls = lb.Labels()
		}
		if r.Alert != "" {
			g.Rules = append(g.Rules, NewAlertingRule(r.Alert, expr, time.Duration(r.For), time.Duration(r.KeepFiringFor),
				lbls, labels.FromMap(r.Annotations), file))
			continue
		}
		g.Rules = append(g.Rules, NewRecordingRule(r.Record, expr, lbls, file))
	}
	return g, nil
}
