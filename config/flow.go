package config

import (
	"fmt"
	"regexp"
	"sort"
	"strings"

	"cel.dev/cel-go/cel"
	celast "cel.dev/cel-go/common/ast"
	"cel.dev/cel-go/common/operators"
	"cel.dev/cel-go/common/types"
	"go.yaml.in/yaml/v3"
)

// Flow is a multi-step API check (probes[].flow): HTTP checks run in
// order within the probe's timeout, each step's extract setting variables
// that later steps read as {{ vars.NAME }} in their requests and as
// vars.NAME in CEL.
type Flow struct {
	// Cookies keeps one cookie jar per run, shared by its steps.
	Cookies bool       `yaml:"cookies"`
	Steps   []FlowStep `yaml:"steps"`
}

// FlowStep is one step of a flow: a full HTTP check, what it extracts
// from the response, and checks of its own.
//
// What an expression may read: the step's http checks (http.assert,
// http.degraded_if) and its extract read the variables of earlier steps;
// the step's own assert and degraded_if run after its extract, so they
// read its variables too. The request's templates read earlier steps'
// only.
type FlowStep struct {
	Name string `yaml:"name"`
	// Timeout is the step's own; 0: what is left of the probe's timeout.
	Timeout    Duration           `yaml:"timeout"`
	HTTP       *HTTP              `yaml:"http"`
	Extract    map[string]Extract `yaml:"extract"`
	Assert     []Expr             `yaml:"assert"`
	DegradedIf []Expr             `yaml:"degraded_if"`
	// Templates are the step's HTTP fields that hold {{ vars.NAME }},
	// parsed at load (every such field, also those without a template:
	// those are literal).
	Templates StepTemplates `yaml:"-"`
	// ExtractNames are Extract's keys, sorted: the order extracts run in.
	ExtractNames []string `yaml:"-"`
}

// Extract sets a variable from a step's response.
type Extract struct {
	CEL ValueExpr `yaml:"cel"`
	// Secret makes the value show as *** wherever the flow's output
	// could hold it.
	Secret bool `yaml:"secret"`
}

// StepTemplates are a flow step's HTTP fields that take templates, with
// ${VAR} expanded; a field not set is the zero Template (expands to "").
type StepTemplates struct {
	// URL is the URL as written, ${VAR} expanded (not url.URL.String(),
	// which escapes braces); its scheme and host are literal.
	URL Template
	// Headers are the header values, by header name as written.
	Headers                         map[string]Template
	Body                            Template
	Username, Password, BearerToken Template // basic_auth and bearer_token
}

// Limits of a flow.
const (
	MaxFlowSteps   = 20
	MaxStepNameLen = 64
)

// stepNameRE is what a step may be called: it becomes the step label.
var stepNameRE = regexp.MustCompile(`^[A-Za-z0-9_.-]+$`)

func (f *Flow) check(d *decoder, x exprs, path string, timeout Duration) {
	switch {
	case len(f.Steps) == 0:
		d.errorAt(path+".steps", "missing; want the flow's steps in order, like steps: [{name: login, http: {url: https://api.example.com/auth/login}}]")
	case len(f.Steps) > MaxFlowSteps:
		d.errorAt(path+".steps", "has %d steps; want at most %d", len(f.Steps), MaxFlowSteps)
	}
	extractedBy := map[string]int{} // variable → index of the step that extracts it
	firstName := map[string]int{}
	for i := range f.Steps {
		s := &f.Steps[i]
		spath := fmt.Sprintf("%s.steps[%d]", path, i)
		switch j, dup := firstName[s.Name]; {
		case s.Name == "":
			d.errorAt(spath+".name", "missing; every step needs a name, unique within the flow (it is the value of the step label)")
		case len(s.Name) > MaxStepNameLen || !stepNameRE.MatchString(s.Name):
			d.errorAt(spath+".name", "%q is not a step name; want at most %d letters, digits, _, . and - (it is the value of the step label)", s.Name, MaxStepNameLen)
		case dup:
			d.errorAt(spath+".name", "duplicate step name %q, first used by steps[%d]; names must be unique within the flow", s.Name, j)
		default:
			firstName[s.Name] = i
		}
		switch {
		case s.Timeout == 0 && d.has(spath+".timeout"):
			d.errorAt(spath+".timeout", "is 0; want a positive duration up to the probe's timeout %s, or no timeout for what is left of it", timeout.Std())
		case s.Timeout > timeout:
			d.errorAt(spath+".timeout", "%s is longer than the probe's timeout %s, which bounds the whole flow; want at most %s", s.Timeout.Std(), timeout.Std(), timeout.Std())
		}
		s.ExtractNames = sortedKeys(s.Extract)
		for _, name := range s.ExtractNames {
			epath := spath + ".extract." + name
			switch j, dup := extractedBy[name]; {
			case !varNameRE.MatchString(name):
				d.errorAtKey(epath, "%q is not a variable name; want letters, digits and _, not starting with a digit", name)
			case dup:
				d.errorAtKey(epath, "variable %q is already extracted by step %q; want a new name (a variable is set once per run)", name, f.Steps[j].Name)
			default:
				extractedBy[name] = i
			}
		}
	}
	for i := range f.Steps {
		sc := varScope{steps: f.Steps, by: extractedBy, step: i}
		f.Steps[i].check(d, x, fmt.Sprintf("%s.steps[%d]", path, i), sc)
	}
}

func (s *FlowStep) check(d *decoder, x exprs, path string, sc varScope) {
	if s.HTTP == nil {
		d.errorAt(path+".http", "missing; want the request this step makes and its checks, like http: {url: https://api.example.com/auth/login}")
	} else {
		hpath := path + ".http"
		s.HTTP.check(d, x.env, hpath)
		for _, f := range s.templateFields(d, hpath) {
			d.checkTemplateVars(f.path, *f.t, sc)
		}
		d.checkExprVars(x.env, hpath, s.HTTP.Assert, s.HTTP.DegradedIf, sc)
	}
	for _, name := range s.ExtractNames {
		e := s.Extract[name]
		cpath := path + ".extract." + name + ".cel"
		if e.CEL.Source == "" {
			if !d.has(cpath) {
				d.errorAt(cpath, "missing; want a CEL expression over the step's response, like cel: 'body.token'")
			}
			continue
		}
		d.compileValue(x.env, &e.CEL, cpath)
		s.Extract[name] = e
		d.checkVarsRead(x.env, e.CEL.Source, cpath, sc)
	}
	x.compile(d, path, s.Assert, s.DegradedIf)
	sc.own = true
	d.checkExprVars(x.env, path, s.Assert, s.DegradedIf, sc)
}

// templateField is one field of a step's request that takes templates.
type templateField struct {
	path string
	t    *Template
}

// templateFields fills s.Templates from what the decoder parsed, and
// returns its fields with their paths.
func (s *FlowStep) templateFields(d *decoder, path string) []templateField {
	t := &s.Templates
	fields := []templateField{
		{path + ".url", &t.URL}, {path + ".body", &t.Body}, {path + ".bearer_token", &t.BearerToken},
		{path + ".basic_auth.username", &t.Username}, {path + ".basic_auth.password", &t.Password},
	}
	if len(s.HTTP.Headers) > 0 {
		t.Headers = make(map[string]Template, len(s.HTTP.Headers))
	}
	for _, name := range sortedKeys(s.HTTP.Headers) {
		fields = append(fields, templateField{path + ".headers." + name, nil})
	}
	for i, f := range fields {
		parsed := d.templates[f.path]
		if f.t == nil {
			name := strings.TrimPrefix(f.path, path+".headers.")
			t.Headers[name] = parsed
			fields[i].t = &parsed
			continue
		}
		*f.t = parsed
	}
	return fields
}

// varScope tells which variables an expression or template of one step
// may read.
type varScope struct {
	steps []FlowStep
	by    map[string]int // variable → index of the step that extracts it
	step  int
	own   bool // the step's own variables are known (its assert and degraded_if)
}

// known returns the variables known in the scope, sorted.
func (sc varScope) known() []string {
	var names []string
	for name, i := range sc.by {
		if i < sc.step || sc.own && i == sc.step {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	return names
}

// problem says why name cannot be read in the scope; "" if it can.
func (sc varScope) problem(name string) string {
	i, ok := sc.by[name]
	if ok && (i < sc.step || sc.own && i == sc.step) {
		return ""
	}
	known := sc.known()
	tail := "no variable is known here"
	if len(known) > 0 {
		tail = "variables known here: " + strings.Join(known, ", ")
	}
	switch {
	case !ok:
		return fmt.Sprintf("reads vars.%s, which no step extracts%s; %s", name, suggest(name, known), tail)
	case i == sc.step:
		return fmt.Sprintf("reads vars.%s, which this step extracts from its response: its request, http checks and extract see what earlier steps extract (its own assert and degraded_if see its variables too); %s", name, tail)
	}
	return fmt.Sprintf("reads vars.%s, which a later step (%q) extracts; a step sees what earlier steps extract; %s", name, sc.steps[i].Name, tail)
}

// checkTemplateVars reports each variable t reads that is not known in
// sc, where it stands.
func (d *decoder) checkTemplateVars(path string, t Template, sc varScope) {
	n := d.nodes[path]
	for _, p := range t.parts {
		if p.name == "" {
			continue
		}
		if msg := sc.problem(p.name); msg != "" && n != nil {
			d.errorf(d.at(n, p.at), path, "%s", msg)
		}
	}
}

// checkExprVars checks the variables that assert and degraded_if read.
func (d *decoder) checkExprVars(env *cel.Env, path string, assert, degradedIf []Expr, sc varScope) {
	for i := range assert {
		d.checkVarsRead(env, assert[i].Source, fmt.Sprintf("%s.assert[%d]", path, i), sc)
	}
	for i := range degradedIf {
		d.checkVarsRead(env, degradedIf[i].Source, fmt.Sprintf("%s.degraded_if[%d]", path, i), sc)
	}
}

// checkVarsRead reports each vars.NAME (or vars["NAME"]) the CEL
// expression src reads that is not known in sc.
func (d *decoder) checkVarsRead(env *cel.Env, src, path string, sc varScope) {
	if env == nil || src == "" {
		return
	}
	ast, iss := env.Parse(src)
	if iss.Err() != nil {
		return // told by the compile
	}
	n := d.nodeOf(path)
	for _, r := range varsRead(ast) {
		msg := sc.problem(r.name)
		if msg == "" {
			continue
		}
		at := n
		if n != nil && n.Value == src {
			at = d.at(n, byteOffset(src, r.at))
		}
		d.errorf(at, path, "%s", msg)
	}
}

// nodeOf returns the node recorded for path, or for its nearest recorded
// parent (a list written as a single value records the list's path).
func (d *decoder) nodeOf(path string) *yaml.Node {
	for p := path; ; {
		if n, ok := d.nodes[p]; ok {
			return n
		}
		i := strings.LastIndexAny(p, ".[")
		if i < 0 {
			return nil
		}
		p = p[:i]
	}
}

// varRef is a variable a CEL expression reads, and where (in runes).
type varRef struct {
	name string
	at   int
}

// varsRead returns the variables an expression reads as vars.NAME or
// vars["NAME"], in the order written.
func varsRead(ast *cel.Ast) []varRef {
	native := ast.NativeRep()
	isVars := func(e celast.Expr) bool { return e.Kind() == celast.IdentKind && e.AsIdent() == "vars" }
	var refs []varRef
	add := func(name string, operand celast.Expr) {
		r, _ := native.SourceInfo().GetOffsetRange(operand.ID())
		refs = append(refs, varRef{name, int(r.Start)})
	}
	celast.MatchDescendants(celast.NavigateAST(native), func(e celast.NavigableExpr) bool {
		switch e.Kind() {
		case celast.SelectKind:
			if s := e.AsSelect(); isVars(s.Operand()) {
				add(s.FieldName(), s.Operand())
			}
		case celast.CallKind:
			c := e.AsCall()
			if c.FunctionName() != operators.Index || len(c.Args()) != 2 || !isVars(c.Args()[0]) || c.Args()[1].Kind() != celast.LiteralKind {
				break
			}
			if key, ok := c.Args()[1].AsLiteral().(types.String); ok {
				add(string(key), c.Args()[0])
			}
		}
		return false
	})
	sort.SliceStable(refs, func(i, j int) bool { return refs[i].at < refs[j].at })
	return refs
}

// byteOffset converts an offset in runes into one in bytes of s.
func byteOffset(s string, runes int) int {
	for i := range s {
		if runes == 0 {
			return i
		}
		runes--
	}
	if runes == 0 {
		return len(s)
	}
	return len(s) + 1 // out of range: the value's own position is told
}
