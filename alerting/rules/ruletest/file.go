package ruletest

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"

	"github.com/prometheus/common/model"
	"go.yaml.in/yaml/v3"
)

// testFile is a unit test file in promtool's format.
type testFile struct {
	RuleFiles          []string       `yaml:"rule_files"`
	EvaluationInterval model.Duration `yaml:"evaluation_interval"`
	GroupEvalOrder     []string       `yaml:"group_eval_order"`
	Tests              []testGroup    `yaml:"tests"`
	// FuzzyCompare lets an expected value differ from the one got by one
	// ULP, as in promtool; values are compared exactly otherwise.
	FuzzyCompare bool `yaml:"fuzzy_compare"`
}

type testGroup struct {
	Name            string            `yaml:"name"`
	Interval        model.Duration    `yaml:"interval"`
	InputSeries     []inputSeries     `yaml:"input_series"`
	AlertRuleTests  []alertTestCase   `yaml:"alert_rule_test"`
	PromQLExprTests []exprTestCase    `yaml:"promql_expr_test"`
	ExternalLabels  map[string]string `yaml:"external_labels"`
	// ExternalURL is $externalURL in alert templates.
	ExternalURL string `yaml:"external_url"`
	// StartTimestamp is when the test starts (RFC 3339 or Unix seconds);
	// epoch 0 if unset.
	StartTimestamp string `yaml:"start_timestamp"`
}

type inputSeries struct {
	Series string `yaml:"series"`
	Values string `yaml:"values"`
}

type alertTestCase struct {
	EvalTime  model.Duration `yaml:"eval_time"`
	Alertname string         `yaml:"alertname"`
	ExpAlerts []expAlert     `yaml:"exp_alerts"`
}

type expAlert struct {
	ExpLabels      map[string]string `yaml:"exp_labels"`
	ExpAnnotations map[string]string `yaml:"exp_annotations"`
}

type exprTestCase struct {
	Expr       string         `yaml:"expr"`
	EvalTime   model.Duration `yaml:"eval_time"`
	ExpSamples []expSample    `yaml:"exp_samples"`
}

type expSample struct {
	Labels string  `yaml:"labels"`
	Value  float64 `yaml:"value"`
	// Histogram is a native histogram in promtool's series notation, like
	// '{{schema:0 count:4 sum:5 buckets:[1 2 1]}}'. Value is still
	// compared, as promtool does: a histogram sample's value is 0.
	Histogram string `yaml:"histogram"`
}

// decoded is a test file with the node of every field path, so later
// checks can name file:line:col, and the warnings those checks gave.
type decoded struct {
	file     string
	tf       testFile
	pos      map[string]*yaml.Node
	warnings []string
}

// at says msg about the node of path (or about the file, if unknown).
func (d *decoded) at(path, format string, args ...any) string {
	msg := fmt.Sprintf(format, args...)
	if n := d.pos[path]; n != nil {
		return fmt.Sprintf("%s:%d:%d: %s: %s", d.file, n.Line, n.Column, path, msg)
	}
	return fmt.Sprintf("%s: %s: %s", d.file, path, msg)
}

// errAt is a problem at the node of path.
func (d *decoded) errAt(path, format string, args ...any) error {
	return errors.New(d.at(path, format, args...))
}

// warn notes something at path that promtool lets pass.
func (d *decoded) warn(path, format string, args ...any) {
	d.warnings = append(d.warnings, d.at(path, format, args...))
}

// decodeFile reads a test file. Unknown fields and malformed durations
// are errors naming file:line:col and the field's path; all are reported.
func decodeFile(file string) (*decoded, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	d := &decoded{file: file, pos: map[string]*yaml.Node{}}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	if len(root.Content) == 0 {
		return nil, fmt.Errorf("%s: empty test file; want rule_files and tests", file)
	}
	var errs []error
	d.walk(root.Content[0], reflect.TypeFor[testFile](), "", &errs)
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if err := root.Content[0].Decode(&d.tf); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	return d, nil
}

var durationType = reflect.TypeFor[model.Duration]()

// walk checks n against t: every mapping key must be a field of the
// struct, every duration must parse. It records each path's node.
func (d *decoded) walk(n *yaml.Node, t reflect.Type, path string, errs *[]error) {
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	d.pos[path] = n
	switch {
	case t == durationType:
		if _, err := model.ParseDuration(n.Value); n.Kind != yaml.ScalarNode || err != nil {
			*errs = append(*errs, d.errAt(path, "%q is not a duration; want a number and a unit, like 30s, 5m or 1h", n.Value))
		}
	case t.Kind() == reflect.Struct && n.Kind == yaml.MappingNode:
		fields := map[string]reflect.Type{}
		var names []string
		for f := range t.Fields() {
			if name, _, _ := strings.Cut(f.Tag.Get("yaml"), ","); name != "" && name != "-" {
				fields[name] = f.Type
				names = append(names, name)
			}
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			key := n.Content[i].Value
			ft, ok := fields[key]
			if !ok {
				d.pos[join(path, key)] = n.Content[i]
				*errs = append(*errs, d.errAt(join(path, key), "unknown field; want one of %s", strings.Join(names, ", ")))
				continue
			}
			d.walk(n.Content[i+1], ft, join(path, key), errs)
		}
	case t.Kind() == reflect.Slice && n.Kind == yaml.SequenceNode:
		for i, c := range n.Content {
			d.walk(c, t.Elem(), fmt.Sprintf("%s[%d]", path, i), errs)
		}
	case t.Kind() == reflect.Map && n.Kind == yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			d.walk(n.Content[i+1], t.Elem(), join(path, n.Content[i].Value), errs)
		}
	}
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// ruleFiles resolves rule_files against the test file's folder and
// expands globs. A pattern that matches nothing is a warning, as in
// promtool: the tests run without it.
func (d *decoded) ruleFiles() ([]string, error) {
	var files []string
	var errs []error
	for i, pat := range d.tf.RuleFiles {
		path := fmt.Sprintf("rule_files[%d]", i)
		p := pat
		if p != "" && !filepath.IsAbs(p) {
			p = filepath.Join(filepath.Dir(d.file), p)
		}
		matches, err := filepath.Glob(p)
		switch {
		case err != nil:
			errs = append(errs, d.errAt(path, "%q: %v", pat, err))
		case len(matches) == 0:
			d.warn(path, "%q matches no file (looked for %q); the tests run without it, as in promtool", pat, p)
		}
		files = append(files, matches...)
	}
	slices.Sort(files)
	return slices.Compact(files), errors.Join(errs...)
}
