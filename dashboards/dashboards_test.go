package dashboards_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
)

const (
	// goldenFile is a real /metrics of the daemon (Lookout's and the probe
	// families); readmeFile documents every metric, the MongoDB and Web
	// Vitals ones too.
	goldenFile = "../cmd/lookout/internal/daemon/testdata/metrics.golden"
	readmeFile = "../README.md"

	// wantDatasource is what every panel and query must name: the
	// dashboard's datasource variable, so that a file imports through
	// provisioning without __inputs.
	wantDatasource = `{"type":"prometheus","uid":"${datasource}"}`
)

// notMetrics are names the README puts in backticks that are not metrics
// Lookout exposes.
var notMetrics = []string{
	// Values of the collector label of lookout_collector_*.
	"mongodb_server", "mongodb_replset", "mongodb_pools", "mongodb_indexes", "mongodb_slow_queries",
	"mongodb_backups", "mongodb_backup_NAME",
}

// TestDashboards checks every dashboard in this folder.
func TestDashboards(t *testing.T) {
	known := loadCatalog(t)
	files, err := filepath.Glob("*.json")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no dashboards (*.json) in this folder")
	}
	uids := map[string]string{}
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		t.Run(file, func(t *testing.T) {
			for _, p := range checkDashboard(file, data, known) {
				t.Error(p)
			}
		})
		var d struct{ UID string }
		if json.Unmarshal(data, &d) == nil && d.UID != "" {
			if other, ok := uids[d.UID]; ok {
				t.Errorf("%s: uid %q is also %s's", file, d.UID, other)
			}
			uids[d.UID] = file
		}
	}
}

// TestCheckDashboard shows that the check finds what it looks for, on
// small dashboards written here.
func TestCheckDashboard(t *testing.T) {
	known := loadCatalog(t)
	cases := []struct {
		name string
		json string
		want []string
	}{{
		name: "valid",
		json: board(
			panelJSON(1, "Run duration p95", `histogram_quantile(0.95, sum by (le, probe) (rate(lookout_probe_duration_seconds_bucket{job=~"${job:regex}", probe=~"$probe"}[$__rate_interval])))`+
				` or histogram_quantile(0.95, sum by (probe) (rate(lookout_probe_duration_seconds{job=~"${job:regex}", probe=~"$probe"}[$__rate_interval])))`)+","+
				`{"id": 2, "title": "Web Vitals", "type": "row", "collapsed": true, "panels": [`+
				panelJSON(3, "LCP loads", `sum(increase(webvitals_lcp_seconds_count{route=~"${route}"}[$__range])) or histogram_count(sum(increase(webvitals_lcp_seconds{route=~"${route}"}[$__range])))`)+","+
				panelJSON(4, "MongoDB", `mongodb_up`)+`]}`,
			variableJSON("probe", `label_values(lookout_probe_state{job=~"$job"}, probe)`),
			variableJSON("job", `label_values(job)`)),
	}, {
		name: "histogram read one way only",
		json: board(panelJSON(1, "Eval p99", `histogram_quantile(0.99, sum by (le) (rate(lookout_rule_evaluation_duration_seconds_bucket[5m])))`) + "," +
			panelJSON(2, "Lag p99", `histogram_quantile(0.99, sum(rate(lookout_scheduler_lag_seconds[5m])))`) + "," +
			panelJSON(3, "INP loads", `sum(rate(webvitals_inp_seconds_count[5m]))`)),
		want: []string{
			`test.json: panel "Eval p99", query A: reads lookout_rule_evaluation_duration_seconds_bucket but not the native histogram lookout_rule_evaluation_duration_seconds; add its native form with or`,
			`test.json: panel "Lag p99", query A: reads the native histogram lookout_scheduler_lag_seconds but none of its classic series; add the classic form with or`,
			`test.json: panel "INP loads", query A: reads webvitals_inp_seconds_count but not the native histogram webvitals_inp_seconds; add its native form with or`,
		},
	}, {
		name: "misspelled metric",
		json: board(panelJSON(1, "Up", `probe_sucess{probe=~"$probe"}`)),
		want: []string{`test.json: panel "Up", query A: unknown metric "probe_sucess"`},
	}, {
		name: "misspelled metric in a collapsed row",
		json: board(`{"id": 1, "title": "Replica set", "type": "row", "collapsed": true, "panels": [` +
			panelJSON(2, "Lag", `max by (member) (mongodb_replset_member_lag_seconds{target=~"$target"})`) + `]}`),
		want: []string{`test.json: panel "Lag", query A: unknown metric "mongodb_replset_member_lag_seconds"`},
	}, {
		name: "histogram suffix on a counter",
		json: board(panelJSON(1, "Runs", `rate(lookout_probe_runs_total_bucket[5m])`)),
		want: []string{`test.json: panel "Runs", query A: unknown metric "lookout_probe_runs_total_bucket"`},
	}, {
		name: "a backup step the README names, not a metric",
		json: board(panelJSON(1, "Backups", `time() - mongodb_backups`)),
		want: []string{`test.json: panel "Backups", query A: unknown metric "mongodb_backups"`},
	}, {
		name: "a label value the README lists",
		json: board(panelJSON(1, "Server step", `mongodb_server{target=~"$target"}`)),
		want: []string{`test.json: panel "Server step", query A: unknown metric "mongodb_server"`},
	}, {
		name: "parse error",
		json: board(panelJSON(1, "Passed", `sum(rate(probe_success[$__range])`)),
		want: []string{`test.json: panel "Passed", query A: cannot parse "sum(rate(probe_success[5m])": 1:28: parse error: unclosed left parenthesis`},
	}, {
		name: "variable outside a label matcher",
		json: board(panelJSON(1, "Passed", `rate(probe_success[$window])`)),
		want: []string{`test.json: panel "Passed", query A: cannot parse "rate(probe_success[x])": 1:20: parse error: unexpected character in duration expression: 'x'`},
	}, {
		name: "panel ids missing and repeated",
		json: board(panelJSON(1, "A", `probe_success`) + "," + panelJSON(1, "B", `probe_success`) + "," +
			`{"title": "C", "type": "stat", "datasource": ` + wantDatasource + `, "targets": [{"refId": "A", "expr": "probe_success"}]}`),
		want: []string{
			`test.json: panel "B": id 1 is also panel "A"'s`,
			`test.json: panel "C": no id`,
		},
	}, {
		name: "datasource not the variable",
		json: board(`{"id": 1, "title": "Up", "type": "stat", "datasource": {"type": "prometheus", "uid": "P1809F7CD0C75ACF3"},` +
			`"targets": [{"refId": "A", "expr": "probe_success", "datasource": "Prometheus"}]},` +
			`{"id": 2, "title": "Down", "type": "stat", "targets": [{"refId": "A", "expr": "probe_success"}]},` +
			`{"id": 3, "title": "Empty", "type": "stat", "datasource": ` + wantDatasource + `}`),
		want: []string{
			`test.json: panel "Up": datasource {"type":"prometheus","uid":"P1809F7CD0C75ACF3"}, want ` + wantDatasource,
			`test.json: panel "Up", query A: datasource "Prometheus", want ` + wantDatasource,
			`test.json: panel "Down": datasource missing, want ` + wantDatasource,
			`test.json: panel "Empty": no queries`,
		},
	}, {
		name: "variable queries",
		json: board(panelJSON(1, "Up", `probe_success`),
			variableJSON("probe", `label_values(lookout_probe_stat{job=~"$job"}, probe)`),
			variableJSON("team", `metrics(lookout_.*)`)),
		want: []string{
			`test.json: variable "probe": unknown metric "lookout_probe_stat"`,
			`test.json: variable "team": query "metrics(lookout_.*)": want label_values(…) or query_result(…)`,
		},
	}, {
		name: "not importable through provisioning",
		json: `{"__inputs": [{"name": "DS_PROMETHEUS", "type": "datasource", "pluginId": "prometheus"}],` +
			`"schemaVersion": 27, "panels": [` + panelJSON(1, "Up", `probe_success`) + `]}`,
		want: []string{
			`test.json: no uid`,
			`test.json: schemaVersion 27, want 39`,
			`test.json: has __inputs, which file provisioning cannot fill: use the datasource variable`,
			`test.json: no datasource variable (type datasource, query prometheus)`,
		},
	}, {
		name: "not JSON",
		json: `{"panels": [}`,
		want: []string{`test.json: not a dashboard: invalid character '}' looking for beginning of value`},
	}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := checkDashboard("test.json", []byte(tc.json), known)
			if !slices.Equal(got, tc.want) {
				t.Errorf("got:\n\t%s\nwant:\n\t%s", strings.Join(got, "\n\t"), strings.Join(tc.want, "\n\t"))
			}
		})
	}
}

// board is a dashboard of the given panels and variables, with the
// datasource variable.
func board(panels string, variables ...string) string {
	vars := append([]string{`{"name": "datasource", "type": "datasource", "query": "prometheus"}`}, variables...)
	return `{"uid": "test", "schemaVersion": 39, "panels": [` + panels + `], "templating": {"list": [` +
		strings.Join(vars, ",") + `]}}`
}

// panelJSON is a time series panel of one query.
func panelJSON(id int, title, expr string) string {
	return fmt.Sprintf(`{"id": %d, "title": %s, "type": "timeseries", "datasource": %s, "targets": [{"refId": "A", "expr": %s}]}`,
		id, quote(title), wantDatasource, quote(expr))
}

// variableJSON is a query variable in Grafana 10's form.
func variableJSON(name, query string) string {
	return fmt.Sprintf(`{"name": %s, "type": "query", "datasource": %s, "query": {"qryType": 1, "query": %s}}`,
		quote(name), wantDatasource, quote(query))
}

// quote is s as a JSON string.
func quote(s string) string {
	b, err := json.Marshal(s)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// catalog maps the metric families Lookout exposes to their type, "" for
// those only the README names.
type catalog map[string]string

// readmeName is a metric name in backticks, perhaps with its labels
// (`probe_http_duration_seconds{phase}`). Names without an underscore are
// left out, being labels or config fields; config fields with one
// (`max_concurrent`) are let through, as no query would name them.
var readmeName = regexp.MustCompile("`([a-zA-Z_:][a-zA-Z0-9_:]*_[a-zA-Z0-9_:]*)(?:\\{[a-zA-Z0-9_,]*\\})?`")

func loadCatalog(t *testing.T) catalog {
	t.Helper()
	c := catalog{}
	golden, err := os.ReadFile(goldenFile)
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(string(golden)) {
		if f := strings.Fields(line); len(f) == 4 && f[0] == "#" && f[1] == "TYPE" {
			c[f[2]] = f[3]
		}
	}
	readme, err := os.ReadFile(readmeFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range readmeName.FindAllStringSubmatch(string(readme), -1) {
		if _, ok := c[m[1]]; !ok {
			c[m[1]] = ""
		}
	}
	for _, name := range notMetrics {
		delete(c, name)
	}
	return c
}

// known tells whether Lookout exposes a series of that name: a family, or
// the _bucket, _count or _sum of a histogram.
func (c catalog) known(name string) bool {
	if _, ok := c[name]; ok {
		return true
	}
	_, ok := c.classicOf(name)
	return ok
}

// classicOf returns the histogram whose _bucket, _count or _sum series
// name is.
func (c catalog) classicOf(name string) (string, bool) {
	if _, ok := c[name]; ok {
		return "", false
	}
	for _, suffix := range []string{"_bucket", "_count", "_sum"} {
		if base, ok := strings.CutSuffix(name, suffix); ok {
			typ, ok := c[base]
			return base, ok && (typ == "" || typ == "histogram")
		}
	}
	return "", false
}

// The parts of Grafana's dashboard model the check reads.
type (
	dashboard struct {
		UID           string          `json:"uid"`
		SchemaVersion int             `json:"schemaVersion"`
		Inputs        json.RawMessage `json:"__inputs"`
		Panels        []panel         `json:"panels"`
		Templating    struct {
			List []variable `json:"list"`
		} `json:"templating"`
	}
	panel struct {
		ID         *int            `json:"id"`
		Title      string          `json:"title"`
		Type       string          `json:"type"`
		Datasource json.RawMessage `json:"datasource"`
		Targets    []target        `json:"targets"`
		Panels     []panel         `json:"panels"` // of a collapsed row
	}
	target struct {
		RefID      string          `json:"refId"`
		Expr       string          `json:"expr"`
		Datasource json.RawMessage `json:"datasource"`
	}
	variable struct {
		Name       string          `json:"name"`
		Type       string          `json:"type"`
		Datasource json.RawMessage `json:"datasource"`
		Query      json.RawMessage `json:"query"` // a string, or {"query": "…"} since Grafana 10
	}
)

// checker gathers the problems of one dashboard file.
type checker struct {
	file     string
	known    catalog
	parser   parser.Parser
	ids      map[int]string // panel id → title
	problems []string
}

// checkDashboard returns every problem of a dashboard, each naming the
// file, the panel or variable, and what is wrong.
func checkDashboard(file string, data []byte, known catalog) []string {
	c := &checker{file: file, known: known, parser: parser.NewParser(parser.Options{}), ids: map[int]string{}}
	var d dashboard
	if err := json.Unmarshal(data, &d); err != nil {
		c.errorf("not a dashboard: %v", err)
		return c.problems
	}
	if d.UID == "" {
		c.errorf("no uid")
	}
	if d.SchemaVersion != 39 {
		c.errorf("schemaVersion %d, want 39", d.SchemaVersion)
	}
	if d.Inputs != nil {
		c.errorf("has __inputs, which file provisioning cannot fill: use the datasource variable")
	}
	if len(d.Panels) == 0 {
		c.errorf("no panels")
	}
	for _, p := range d.Panels {
		c.panel(p)
	}
	hasDatasource := false
	for _, v := range d.Templating.List {
		hasDatasource = hasDatasource || v.Name == "datasource" && v.Type == "datasource" && string(v.Query) == `"prometheus"`
		c.variable(v)
	}
	if !hasDatasource {
		c.errorf("no datasource variable (type datasource, query prometheus)")
	}
	return c.problems
}

func (c *checker) errorf(format string, args ...any) {
	c.problems = append(c.problems, c.file+": "+fmt.Sprintf(format, args...))
}

func (c *checker) panel(p panel) {
	where := fmt.Sprintf("panel %q", p.Title)
	switch {
	case p.ID == nil:
		c.errorf("%s: no id", where)
	case c.ids[*p.ID] != "":
		c.errorf("%s: id %d is also panel %q's", where, *p.ID, c.ids[*p.ID])
	default:
		c.ids[*p.ID] = p.Title
	}
	if p.Type != "row" { // a row only groups panels
		c.datasource(where, p.Datasource)
		if len(p.Targets) == 0 {
			c.errorf("%s: no queries", where)
		}
	}
	for _, t := range p.Targets {
		tw := fmt.Sprintf("%s, query %s", where, t.RefID)
		if t.Datasource != nil {
			c.datasource(tw, t.Datasource)
		}
		c.expr(tw, t.Expr)
	}
	for _, child := range p.Panels {
		c.panel(child)
	}
}

// labelValues and queryResult are the variable queries of Grafana's
// Prometheus data source that name metrics.
var (
	labelValues      = regexp.MustCompile(`^label_values\((.*),\s*\w+\s*\)$`)
	labelValuesOfAll = regexp.MustCompile(`^label_values\(\s*\w+\s*\)$`)
	queryResult      = regexp.MustCompile(`^query_result\((.*)\)$`)
)

func (c *checker) variable(v variable) {
	if v.Type != "query" {
		return
	}
	where := fmt.Sprintf("variable %q", v.Name)
	c.datasource(where, v.Datasource)
	var q string
	if json.Unmarshal(v.Query, &q) != nil {
		var obj struct{ Query string }
		if err := json.Unmarshal(v.Query, &obj); err != nil {
			c.errorf("%s: query %s is neither a string nor {\"query\": string}", where, v.Query)
			return
		}
		q = obj.Query
	}
	q = strings.TrimSpace(q)
	if labelValuesOfAll.MatchString(q) {
		return
	}
	for _, re := range []*regexp.Regexp{labelValues, queryResult} {
		if m := re.FindStringSubmatch(q); m != nil {
			c.expr(where, m[1])
			return
		}
	}
	c.errorf("%s: query %q: want label_values(…) or query_result(…)", where, q)
}

func (c *checker) datasource(where string, raw json.RawMessage) {
	if len(raw) == 0 || string(raw) == "null" {
		c.errorf("%s: datasource missing, want %s", where, wantDatasource)
		return
	}
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil || b.String() != wantDatasource {
		c.errorf("%s: datasource %s, want %s", where, b.String(), wantDatasource)
	}
}

// expr parses a query, with Grafana's variables replaced, and checks the
// name of every series it selects.
func (c *checker) expr(where, query string) {
	if strings.TrimSpace(query) == "" {
		c.errorf("%s: empty query", where)
		return
	}
	expanded := expandVariables(query)
	e, err := c.parser.ParseExpr(expanded)
	if err != nil {
		c.errorf("%s: cannot parse %q: %v", where, expanded, err)
		return
	}
	names := selectedNames(e)
	for _, name := range names {
		switch {
		case name == "":
			c.errorf("%s: a selector without a metric name", where)
		case !c.known.known(name):
			c.errorf("%s: unknown metric %q", where, name)
		}
	}
	c.histogramForms(where, names)
}

// histogramForms checks that a query reading a histogram reads both its
// classic series and its native form (as in `classic or native`): a
// Prometheus keeps the classic series only, the native histogram only
// (scrape_native_histograms), or a native histogram with the classic
// buckets (convert_classic_histograms_to_nhcb), and the panel must show
// data in each.
func (c *checker) histogramForms(where string, names []string) {
	classic := map[string]bool{} // histograms read through a classic series
	for _, name := range names {
		if base, ok := c.known.classicOf(name); ok {
			classic[base] = true
			if !slices.Contains(names, base) {
				c.errorf("%s: reads %s but not the native histogram %s; add its native form with or", where, name, base)
			}
		}
	}
	for _, name := range names {
		if c.known[name] == "histogram" && !classic[name] {
			c.errorf("%s: reads the native histogram %s but none of its classic series; add the classic form with or", where, name)
		}
	}
}

// grafanaVariable is $name, ${name} or ${name:format}.
var grafanaVariable = regexp.MustCompile(`\$(?:\{([A-Za-z_]\w*)(?::[^}]*)?\}|([A-Za-z_]\w*))`)

// builtinValues stand for Grafana's own variables.
var builtinValues = map[string]string{
	"__rate_interval": "5m", "__interval": "5m", "__range": "5m",
	"__interval_ms": "300000", "__range_ms": "300000", "__range_s": "300",
}

// expandVariables replaces Grafana's variables: its own by a duration or a
// number, the dashboard's by a label value. A dashboard variable anywhere
// but in a label matcher therefore fails to parse.
func expandVariables(query string) string {
	return grafanaVariable.ReplaceAllStringFunc(query, func(v string) string {
		m := grafanaVariable.FindStringSubmatch(v)
		if value, ok := builtinValues[m[1]+m[2]]; ok {
			return value
		}
		return "x"
	})
}

// selectedNames returns the metric names of e's selectors, sorted, once
// each; "" for a selector without one.
func selectedNames(e parser.Expr) []string {
	var names []string
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		vs, ok := n.(*parser.VectorSelector)
		if !ok {
			return nil
		}
		name := vs.Name
		for _, m := range vs.LabelMatchers {
			if name == "" && m.Name == labels.MetricName && m.Type == labels.MatchEqual {
				name = m.Value
			}
		}
		names = append(names, name)
		return nil
	})
	slices.Sort(names)
	return slices.Compact(names)
}
