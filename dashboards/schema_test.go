package dashboards_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/cog/plugins"
	"github.com/grafana/grafana-foundation-sdk/go/cog/variants"
	gfdashboard "github.com/grafana/grafana-foundation-sdk/go/dashboard"
)

// The schema check decodes each dashboard with the types the Grafana
// Foundation SDK (github.com/grafana/grafana-foundation-sdk/go v0.0.22)
// generates from Grafana's schemas: the dashboard model of Grafana 12.3,
// the panel options and field config of Grafana 11.6 (stat, table,
// timeseries, bargauge, …) and the Prometheus query. Its strict decoder
// refuses a field the schema does not have, a value of the wrong type and a
// missing required field; the types' Validate methods check the ranges
// (gridPos.w at most 24, …). On top of the SDK it refuses a panel type the
// schema has no options for, and a query of a data source it has no query
// schema for, both of which the SDK would let through unchecked, and it
// decodes fieldConfig strictly, which the SDK's panel decoder does not.

// TestSchema checks every dashboard in this folder against Grafana's
// dashboard schema.
func TestSchema(t *testing.T) {
	files, err := filepath.Glob("*.json")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no dashboards (*.json) in this folder")
	}
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		t.Run(file, func(t *testing.T) {
			for _, p := range checkSchema(file, data) {
				t.Error(p)
			}
		})
	}
}

// TestCheckSchema shows that the schema check refuses what a Grafana would
// not read as written, on copies of a real dashboard spoiled one way each.
func TestCheckSchema(t *testing.T) {
	const file = "lookout-probes.json"
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name  string
		spoil func(t *testing.T, d map[string]any)
		want  []string
	}{{
		name:  "as it is",
		spoil: func(*testing.T, map[string]any) {},
	}, {
		name: "unknown dashboard field",
		spoil: func(_ *testing.T, d map[string]any) {
			d["refreshInterval"] = "1m"
		},
		want: []string{file + `: dashboard: refreshInterval: unknown field`},
	}, {
		name: "missing dashboard field",
		spoil: func(_ *testing.T, d map[string]any) {
			delete(d, "schemaVersion")
		},
		want: []string{file + `: dashboard: schemaVersion: required field is missing from input`},
	}, {
		name: "unknown panel field",
		spoil: func(t *testing.T, d map[string]any) {
			panelTitled(t, d, "Down")["colour"] = "red"
		},
		want: []string{file + `: panel "Down": colour: unknown field`},
	}, {
		name: "unknown option",
		spoil: func(t *testing.T, d map[string]any) {
			object(t, panelTitled(t, d, "Runs by result"), "options")["legnd"] = map[string]any{}
		},
		want: []string{file + `: panel "Runs by result": options.legnd: unknown field`},
	}, {
		name: "unknown field config",
		spoil: func(t *testing.T, d map[string]any) {
			object(t, object(t, panelTitled(t, d, "Response size"), "fieldConfig"), "defaults")["unti"] = "bytes"
		},
		want: []string{file + `: panel "Response size": fieldConfig.defaults.unti: unknown field`},
	}, {
		name: "unknown query field",
		spoil: func(t *testing.T, d map[string]any) {
			target := panelTitled(t, d, "Up")["targets"].([]any)[0].(map[string]any)
			target["exp"] = target["expr"]
		},
		want: []string{file + `: panel "Up": targets[0].exp: unknown field`},
	}, {
		name: "string for a number",
		spoil: func(t *testing.T, d map[string]any) {
			object(t, panelTitled(t, d, "Skipped runs"), "gridPos")["w"] = "4"
		},
		want: []string{file + `: panel "Skipped runs": gridPos.w: want a whole number, 0 or more, got a string`},
	}, {
		name: "string for a list in the options",
		spoil: func(t *testing.T, d map[string]any) {
			object(t, object(t, panelTitled(t, d, "TLS versions"), "options"), "reduceOptions")["calcs"] = "lastNotNull"
		},
		want: []string{file + `: panel "TLS versions": options.reduceOptions.calcs: want a list, got a string`},
	}, {
		name: "missing option",
		spoil: func(t *testing.T, d map[string]any) {
			delete(object(t, panelTitled(t, d, "Scheduler lag"), "options"), "legend")
		},
		want: []string{file + `: panel "Scheduler lag": options.legend: required field is missing from input`},
	}, {
		name: "missing query field",
		spoil: func(t *testing.T, d map[string]any) {
			delete(panelTitled(t, d, "Runs started")["targets"].([]any)[0].(map[string]any), "expr")
		},
		want: []string{file + `: panel "Runs started": targets[0].expr: required field is missing from input`},
	}, {
		name: "unknown panel type",
		spoil: func(t *testing.T, d map[string]any) {
			panelTitled(t, d, "Probe state")["type"] = "tabel"
		},
		want: []string{file + `: panel "Probe state": type: "tabel" is no panel type of Grafana's schema, so its options and fieldConfig are not checked`},
	}, {
		name: "out of range",
		spoil: func(t *testing.T, d map[string]any) {
			object(t, panelTitled(t, d, "Certificates"), "gridPos")["w"] = 25
		},
		want: []string{file + `: panel "Certificates": gridPos.w: must be <= 24`},
	}, {
		name: "unknown variable field",
		spoil: func(t *testing.T, d map[string]any) {
			variableNamed(t, d, "probe")["multiple"] = true
		},
		want: []string{file + `: variable "probe": multiple: unknown field`},
	}, {
		name: "in a collapsed row",
		spoil: func(t *testing.T, d map[string]any) {
			collapseLastRow(t, d)
			object(t, panelTitled(t, d, "Skipped runs per probe"), "options")["legend"] = "bottom"
		},
		want: []string{file + `: panel "Skipped runs per probe": options.legend: want an object, got a string`},
	}, {
		name: "several at once",
		spoil: func(t *testing.T, d map[string]any) {
			panelTitled(t, d, "Down")["colour"] = "red"
			panelTitled(t, d, "Degraded")["colour"] = "orange"
			d["style"] = "dark"
		},
		want: []string{
			file + `: dashboard: style: unknown field`,
			file + `: panel "Degraded": colour: unknown field`,
			file + `: panel "Down": colour: unknown field`,
		},
	}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var d map[string]any
			if err := json.Unmarshal(data, &d); err != nil {
				t.Fatal(err)
			}
			tc.spoil(t, d)
			spoiled, err := json.Marshal(d)
			if err != nil {
				t.Fatal(err)
			}
			got := checkSchema(file, spoiled)
			if !slices.Equal(got, tc.want) {
				t.Errorf("got:\n\t%s\nwant:\n\t%s", strings.Join(got, "\n\t"), strings.Join(tc.want, "\n\t"))
			}
		})
	}
}

// object returns the JSON object m[key].
func object(t *testing.T, m map[string]any, key string) map[string]any {
	t.Helper()
	o, ok := m[key].(map[string]any)
	if !ok {
		t.Fatalf("%s is not an object: %v", key, m[key])
	}
	return o
}

// panelTitled returns the panel of that title, at the top or in a row.
func panelTitled(t *testing.T, d map[string]any, title string) map[string]any {
	t.Helper()
	var find func(panels []any) map[string]any
	find = func(panels []any) map[string]any {
		for _, p := range panels {
			p := p.(map[string]any)
			if p["title"] == title {
				return p
			}
			if nested, ok := p["panels"].([]any); ok {
				if found := find(nested); found != nil {
					return found
				}
			}
		}
		return nil
	}
	p := find(d["panels"].([]any))
	if p == nil {
		t.Fatalf("no panel %q", title)
	}
	return p
}

// variableNamed returns the template variable of that name.
func variableNamed(t *testing.T, d map[string]any, name string) map[string]any {
	t.Helper()
	for _, v := range object(t, d, "templating")["list"].([]any) {
		if v := v.(map[string]any); v["name"] == name {
			return v
		}
	}
	t.Fatalf("no variable %q", name)
	return nil
}

// collapseLastRow moves the panels after the last row into it, as Grafana
// saves a collapsed row.
func collapseLastRow(t *testing.T, d map[string]any) {
	t.Helper()
	panels := d["panels"].([]any)
	last := len(panels) - 1
	for last >= 0 && panels[last].(map[string]any)["type"] != "row" {
		last--
	}
	if last < 0 {
		t.Fatal("no row")
	}
	row := panels[last].(map[string]any)
	row["collapsed"] = true
	row["panels"] = slices.Clone(panels[last+1:])
	d["panels"] = panels[:last+1]
}

// checkSchema returns every way a dashboard departs from Grafana's
// dashboard schema, sorted, each naming the file, the panel (by title),
// the variable or the dashboard, and the field.
func checkSchema(file string, data []byte) []string {
	// The SDK keeps its panel and query schemas in a registry of its own;
	// registering them again is harmless.
	plugins.RegisterDefaultPlugins()
	var doc map[string]any
	if err := json.Unmarshal(data, &doc); err != nil {
		return []string{fmt.Sprintf("%s: not a dashboard: %v", file, err)}
	}
	c := &schemaChecker{file: file, doc: doc}

	var strict gfdashboard.Dashboard
	c.add("", strict.UnmarshalJSONStrict(data), func(e *cog.BuildError) bool {
		// The SDK decodes fieldConfig leniently; panelExtras decodes it
		// strictly, field by field.
		return !panelFieldConfig.MatchString(e.Path)
	})
	c.panelExtras("panels", doc["panels"])

	// Validate checks ranges on the values the lenient decoder returns; a
	// dashboard that fails to decode has its type errors reported above.
	var lenient gfdashboard.Dashboard
	if json.Unmarshal(data, &lenient) == nil {
		c.add("", lenient.Validate(), nil)
		for i, p := range lenient.Panels {
			path := "panels[" + strconv.Itoa(i) + "]"
			switch {
			case p.Panel != nil:
				c.validatePanel(path, *p.Panel)
			case p.RowPanel != nil:
				for j, child := range p.RowPanel.Panels {
					c.validatePanel(path+".panels["+strconv.Itoa(j)+"]", child)
				}
			}
		}
	}
	slices.Sort(c.problems)
	return slices.Compact(c.problems)
}

// panelFieldConfig is the path of a panel's fieldConfig, which the SDK's
// panel decoder reads leniently.
var panelFieldConfig = regexp.MustCompile(`^panels\[\d+\](\.panels\[\d+\])?\.fieldConfig$`)

// schemaChecker gathers the schema problems of one dashboard file.
type schemaChecker struct {
	file     string
	doc      map[string]any // the dashboard as plain JSON, to name panels and variables
	problems []string
}

// add reports the errors of one of the SDK's decoders or validators, their
// paths under prefix, skipping those keep refuses.
func (c *schemaChecker) add(prefix string, err error, keep func(*cog.BuildError) bool) {
	if err == nil {
		return
	}
	var errs cog.BuildErrors
	if !errors.As(err, &errs) {
		c.report(prefix, err.Error())
		return
	}
	// The SDK's strict decoders return an empty BuildErrors, not nil,
	// when they find nothing.
	for _, e := range errs {
		if keep == nil || keep(e) {
			c.report(joinPath(prefix, e.Path), e.Message)
		}
	}
}

// unexpectedField is how the SDK words an unknown field; the last element
// of its path is then the Go type that has no such field.
var unexpectedField = regexp.MustCompile(`^unexpected field '(.*)'$`)

// report adds a problem at a path of the dashboard's JSON, naming the
// panel or variable the path is in.
func (c *schemaChecker) report(path, message string) {
	if m := unexpectedField.FindStringSubmatch(message); m != nil {
		path, message = joinPath(parentPath(path), m[1]), "unknown field"
	}
	message = describeTypeError(strings.TrimPrefix(message, "json: "))
	// Validate puts the Go type of a panel in the path.
	path = strings.NewReplacer(".Panel.", ".", ".RowPanel.", ".").Replace(path + ".")
	path = strings.TrimSuffix(path, ".")

	where, field := c.locate(path)
	if field == "" {
		c.problems = append(c.problems, fmt.Sprintf("%s: %s: %s", c.file, where, message))
		return
	}
	c.problems = append(c.problems, fmt.Sprintf("%s: %s: %s: %s", c.file, where, field, message))
}

// typeError is encoding/json's wording of a value of the wrong type.
var typeError = regexp.MustCompile(`^cannot unmarshal (\w+)( \S+)? into Go (?:value|struct field \S+) of type (\S+)$`)

// describeTypeError words a type error in JSON's terms rather than the
// SDK's Go types: "want an integer, got a string".
func describeTypeError(message string) string {
	m := typeError.FindStringSubmatch(message)
	if m == nil {
		return message
	}
	got := map[string]string{"string": "a string", "number": "a number", "bool": "true or false", "array": "a list", "object": "an object"}[m[1]]
	if got == "" {
		got = m[1]
	}
	if m[2] != "" {
		got = "the " + m[1] + m[2]
	}
	goType := m[3]
	var want string
	switch {
	case strings.HasPrefix(goType, "[]"):
		want = "a list"
	case strings.HasPrefix(goType, "map["):
		want = "an object"
	case strings.Contains(goType, "."): // one of the schema's types: an enum, mostly
		want = "a " + goType[strings.LastIndexByte(goType, '.')+1:]
	case strings.HasPrefix(goType, "uint"):
		want = "a whole number, 0 or more"
	case strings.HasPrefix(goType, "int"):
		want = "a whole number"
	case strings.HasPrefix(goType, "float"):
		want = "a number"
	case goType == "string":
		want = "a string"
	case goType == "bool":
		want = "true or false"
	default:
		return message
	}
	return "want " + want + ", got " + got
}

var (
	panelPath    = regexp.MustCompile(`^panels\[(\d+)\](?:\.panels\[(\d+)\])?(?:\.(.*))?$`)
	variablePath = regexp.MustCompile(`^templating\.list\[(\d+)\](?:\.(.*))?$`)
)

// locate splits a path into the panel, variable or dashboard it is in and
// the field within.
func (c *schemaChecker) locate(path string) (where, field string) {
	if m := panelPath.FindStringSubmatch(path); m != nil {
		p := element(c.doc["panels"], m[1])
		if m[2] != "" {
			p = element(p["panels"], m[2])
		}
		if title, ok := p["title"].(string); ok {
			return fmt.Sprintf("panel %q", title), m[3]
		}
		return strings.TrimSuffix(path, "."+m[3]), m[3]
	}
	if m := variablePath.FindStringSubmatch(path); m != nil {
		templating, _ := c.doc["templating"].(map[string]any)
		if name, ok := element(templating["list"], m[1])["name"].(string); ok {
			return fmt.Sprintf("variable %q", name), m[2]
		}
	}
	return "dashboard", path
}

// element returns the object at index i of a JSON array, or nil.
func element(array any, i string) map[string]any {
	a, _ := array.([]any)
	n, err := strconv.Atoi(i)
	if err != nil || n >= len(a) {
		return nil
	}
	o, _ := a[n].(map[string]any)
	return o
}

// panelExtras checks, for each panel under path, what the SDK's decoder
// lets through: a panel type it has no schema for, fieldConfig, and
// queries without a data source of their own.
func (c *schemaChecker) panelExtras(path string, panels any) {
	list, _ := panels.([]any)
	for i, raw := range list {
		p, ok := raw.(map[string]any)
		if !ok {
			continue
		}
		at := path + "[" + strconv.Itoa(i) + "]"
		typ, _ := p["type"].(string)
		if typ == "row" {
			c.panelExtras(at+".panels", p["panels"])
			continue
		}
		if _, known := cog.ConfigForPanelcfgVariant(typ); !known && typ != "" {
			c.report(at+".type", fmt.Sprintf("%q is no panel type of Grafana's schema, so its options and fieldConfig are not checked", typ))
		}
		if fc, ok := p["fieldConfig"]; ok && fc != nil {
			var source gfdashboard.FieldConfigSource
			c.add(at+".fieldConfig", source.UnmarshalJSONStrict(mustJSON(fc)), nil)
		}
		panelType := datasourceType(p["datasource"])
		targets, _ := p["targets"].([]any)
		for j, target := range targets {
			c.query(at+".targets["+strconv.Itoa(j)+"]", target, panelType)
		}
	}
}

// query checks a panel query against the query schema of its data source:
// its own, or the panel's. The SDK's panel decoder has checked a query
// that names its own data source already.
func (c *schemaChecker) query(path string, target any, panelType string) {
	typ := datasourceType(target.(map[string]any)["datasource"])
	own := typ != ""
	if !own {
		typ = panelType
	}
	q, err := cog.StrictUnmarshalDataquery(mustJSON(target), typ)
	if !own {
		c.add(path, err, nil)
	}
	if _, unknown := q.(variants.UnknownDataquery); err == nil && unknown {
		c.report(path, fmt.Sprintf("no query schema for data source type %q, so the query is not checked", typ))
	}
}

// validatePanel runs the Validate methods of a panel's options and custom
// field config, which the dashboard's Validate does not reach.
func (c *schemaChecker) validatePanel(path string, p gfdashboard.Panel) {
	type validator interface{ Validate() error }
	if v, ok := p.Options.(validator); ok {
		c.add(path+".options", v.Validate(), nil)
	}
	if p.FieldConfig != nil {
		if v, ok := p.FieldConfig.Defaults.Custom.(validator); ok {
			c.add(path+".fieldConfig.defaults.custom", v.Validate(), nil)
		}
	}
}

// datasourceType is the type of a {"type": …, "uid": …} data source
// reference, or "".
func datasourceType(ref any) string {
	m, _ := ref.(map[string]any)
	typ, _ := m["type"].(string)
	return typ
}

// mustJSON encodes a value decoded from JSON.
func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// joinPath joins two dotted paths, either of which may be empty.
func joinPath(a, b string) string {
	if a == "" || b == "" {
		return a + b
	}
	return a + "." + b
}

// parentPath is a dotted path without its last element.
func parentPath(path string) string {
	i := strings.LastIndexByte(path, '.')
	if i < 0 {
		return ""
	}
	return path[:i]
}
