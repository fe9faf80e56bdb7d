package config

import (
	"cmp"
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"cel.dev/cel-go/cel"
	"go.yaml.in/yaml/v3"
)

// scalarParser is implemented by config types that are written as one YAML
// scalar (durations, regexps, CEL expressions, ...). The error it returns
// says what was wrong and what would be valid; the decoder adds where.
type scalarParser interface {
	parseScalar(s string) error
}

// decoder turns a YAML node tree into config structs, collecting every
// problem instead of stopping at the first, and remembering the node of
// each field path so later checks can point at the right line.
//
// Probes are often written alike, so within one file the decoder compiles
// each regular expression and CEL expression once and shares the result;
// both are safe for concurrent use.
type decoder struct {
	file    string
	env     func(string) (string, bool)
	errs    Errors
	nodes   map[string]*yaml.Node
	keyPos  map[string]*yaml.Node
	regexps map[string]*regexp.Regexp // by pattern
	exprs   map[exprKey]compiledExpr  // by environment and source
	envs    map[string]*cel.Env       // by probe kind
	// lines are the file's, to place a problem inside a value.
	lines [][]byte
	// templates are the parsed values of the fields that take
	// {{ vars.NAME }}, by path.
	templates map[string]Template
	// secrets are the values ${VAR} put into each probe's fields, by the
	// probe's path (probes[N]).
	secrets map[string][]string
	// settled are paths whose value has had its problem told: one problem
	// per value (a template where none goes makes the value invalid too).
	settled map[string]bool
}

func newDecoder(file string, env func(string) (string, bool)) *decoder {
	return &decoder{
		file: file, env: env, nodes: map[string]*yaml.Node{}, keyPos: map[string]*yaml.Node{},
		regexps: map[string]*regexp.Regexp{}, exprs: map[exprKey]compiledExpr{}, envs: map[string]*cel.Env{},
		templates: map[string]Template{}, secrets: map[string][]string{}, settled: map[string]bool{},
	}
}

func (d *decoder) errorf(n *yaml.Node, path, format string, args ...any) {
	if d.settled[path] {
		return
	}
	e := &Error{File: d.file, Path: path, Msg: fmt.Sprintf(format, args...)}
	if n != nil {
		e.Line, e.Col = n.Line, n.Column
	}
	d.errs = append(d.errs, e)
}

// errorAt reports a problem at the node recorded for path, or at the
// nearest recorded parent when the field was not written at all.
func (d *decoder) errorAt(path, format string, args ...any) {
	p := path
	for {
		if n, ok := d.nodes[p]; ok {
			d.errorf(n, path, format, args...)
			return
		}
		i := strings.LastIndexAny(p, ".[")
		if i < 0 {
			d.errorf(d.nodes[""], path, format, args...)
			return
		}
		p = p[:i]
	}
}

// errorAtKey reports a problem at the key of a mapping entry (used for
// problems with the field as a whole, such as duplicate names).
func (d *decoder) errorAtKey(path, format string, args ...any) {
	if n, ok := d.keyPos[path]; ok {
		d.errorf(n, path, format, args...)
		return
	}
	d.errorAt(path, format, args...)
}

// has reports whether the user wrote the field at path.
func (d *decoder) has(path string) bool {
	_, ok := d.nodes[path]
	return ok
}

var scalarParserType = reflect.TypeFor[scalarParser]()

// mappingForm is implemented by a scalarParser that may also be written
// as a mapping (tls: true, or tls: {server_name: …}): mapping returns
// the value the mapping decodes into.
type mappingForm interface {
	mapping() reflect.Value
}

// addrAs returns v's address as a T, if v is addressable and *v is one.
func addrAs[T any](v reflect.Value) (T, bool) {
	var zero T
	if !v.CanAddr() {
		return zero, false
	}
	t, ok := v.Addr().Interface().(T)
	return t, ok
}

func (d *decoder) decode(n *yaml.Node, v reflect.Value, path string) {
	for n.Kind == yaml.DocumentNode && len(n.Content) == 1 {
		n = n.Content[0]
	}
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	d.nodes[path] = n
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return
	}
	if n.Kind == yaml.ScalarNode && strings.HasPrefix(path, "probes[") {
		d.probeTemplate(n, v.Type(), path)
	}
	if v.Kind() == reflect.Pointer {
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		d.decode(n, v.Elem(), path)
		return
	}
	if m, ok := addrAs[mappingForm](v); ok && n.Kind == yaml.MappingNode {
		d.decode(n, m.mapping(), path)
		return
	}
	if v.CanAddr() && v.Addr().Type().Implements(scalarParserType) {
		s, ok := d.scalar(n, path, "a single value")
		if !ok {
			return
		}
		if err := d.parseScalar(v.Addr().Interface().(scalarParser), s); err != nil {
			d.valueError(n, path, s, err.Error())
		}
		return
	}
	switch v.Kind() {
	case reflect.Struct:
		d.decodeStruct(n, v, path)
	case reflect.Slice:
		d.decodeSlice(n, v, path)
	case reflect.Map:
		d.decodeMap(n, v, path)
	default:
		d.decodeBasic(n, v, path)
	}
}

// parseScalar parses s into p, reusing the compiled form of a regular
// expression seen before in this file.
func (d *decoder) parseScalar(p scalarParser, s string) error {
	re, ok := p.(*Regexp)
	if !ok {
		return p.parseScalar(s)
	}
	if compiled, seen := d.regexps[s]; seen {
		re.Regexp = compiled
		return nil
	}
	if err := re.parseScalar(s); err != nil {
		return err
	}
	d.regexps[s] = re.Regexp
	return nil
}

// valueError reports a bad value. When the value came from environment
// variables, the message shows the ${VAR} reference as written rather than
// what it expanded to, which may be a secret.
func (d *decoder) valueError(n *yaml.Node, path, expanded, msg string) {
	if expanded != n.Value && expanded != "" {
		msg = strings.ReplaceAll(msg, expanded, n.Value)
	}
	d.errorf(n, path, "%s", msg)
}

// scalar returns the node's value with ${VAR} references expanded.
func (d *decoder) scalar(n *yaml.Node, path, want string) (string, bool) {
	if n.Kind != yaml.ScalarNode {
		d.errorf(n, path, "got %s, want %s", kindName(n), want)
		return "", false
	}
	lookup := d.env
	if strings.Contains(n.Value, "${") {
		lookup = d.lookupFor(path)
	}
	s, err := expandEnv(n.Value, lookup)
	if err != nil {
		d.errorf(n, path, "%v", err)
		return "", false
	}
	return s, true
}

// lookupFor returns the environment lookup for the value at path, which
// records in d.secrets what it gives a probe's fields.
func (d *decoder) lookupFor(path string) func(string) (string, bool) {
	probe, ok := probePath(path)
	if !ok {
		return d.env
	}
	return func(name string) (string, bool) {
		v, ok := d.env(name)
		if ok && v != "" {
			d.secrets[probe] = append(d.secrets[probe], v)
		}
		return v, ok
	}
}

// probePath returns the probes[N] that path is in.
func probePath(path string) (string, bool) {
	if !strings.HasPrefix(path, "probes[") {
		return "", false
	}
	i := strings.IndexByte(path, ']')
	if i < 0 {
		return "", false
	}
	return path[:i+1], true
}

// secretsOf returns the values ${VAR} put into the probe at path, longest
// first (so a secret holding another is replaced whole), each once.
func (d *decoder) secretsOf(path string) []string {
	s := d.secrets[path]
	if len(s) == 0 {
		return nil
	}
	return longestFirst(slices.Clone(s))
}

// longestFirst sorts secrets longest first, each once, so that a secret
// holding another is hidden whole.
func longestFirst(s []string) []string {
	slices.SortFunc(s, func(a, b string) int {
		if c := cmp.Compare(len(b), len(a)); c != 0 {
			return c
		}
		return strings.Compare(a, b)
	})
	return slices.Compact(s)
}

// at returns the position of the byte at offset in n's value: exact when
// the value is written on its line as it reads (plain, or quoted without
// escapes), else n's own.
func (d *decoder) at(n *yaml.Node, offset int) *yaml.Node {
	if n.Line < 1 || n.Line > len(d.lines) || strings.Contains(n.Value, "\n") || offset > len(n.Value) {
		return n
	}
	col := n.Column
	if n.Style&(yaml.SingleQuotedStyle|yaml.DoubleQuotedStyle) != 0 {
		col++
	}
	line := []rune(string(d.lines[n.Line-1]))
	if col < 1 || col-1 > len(line) || !strings.HasPrefix(string(line[col-1:]), n.Value) {
		return n
	}
	return &yaml.Node{Line: n.Line, Column: col + utf8.RuneCountInString(n.Value[:offset])}
}

func (d *decoder) decodeBasic(n *yaml.Node, v reflect.Value, path string) {
	switch v.Kind() {
	case reflect.String:
		if s, ok := d.scalar(n, path, "a string"); ok {
			v.SetString(s)
		}
	case reflect.Bool:
		s, ok := d.scalar(n, path, "true or false")
		if !ok {
			return
		}
		b, err := strconv.ParseBool(s)
		if err != nil {
			d.valueError(n, path, s, fmt.Sprintf("%q is not a boolean; want true or false", s))
			return
		}
		v.SetBool(b)
	case reflect.Int, reflect.Int64:
		s, ok := d.scalar(n, path, "an integer")
		if !ok {
			return
		}
		i, err := strconv.ParseInt(s, 0, 64)
		if err != nil {
			d.valueError(n, path, s, fmt.Sprintf("%q is not an integer", s))
			return
		}
		v.SetInt(i)
	case reflect.Float64:
		s, ok := d.scalar(n, path, "a number")
		if !ok {
			return
		}
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			d.valueError(n, path, s, fmt.Sprintf("%q is not a number", s))
			return
		}
		v.SetFloat(f)
	default:
		panic(fmt.Sprintf("config: no decoder for %s at %s", v.Type(), path))
	}
}

func (d *decoder) decodeStruct(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.MappingNode {
		d.errorf(n, path, "got %s, want a mapping with fields %s", kindName(n), strings.Join(fieldNames(v.Type()), ", "))
		return
	}
	fields := fieldIndex(v.Type())
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		fpath := joinPath(path, k.Value)
		idx, ok := fields[k.Value]
		if !ok {
			d.errorf(k, fpath, "unknown field%s; valid fields: %s", suggest(k.Value, fieldNames(v.Type())), strings.Join(fieldNames(v.Type()), ", "))
			continue
		}
		if seen[k.Value] {
			d.errorf(k, fpath, "field is set twice")
			continue
		}
		seen[k.Value] = true
		d.keyPos[fpath] = k
		d.decode(val, v.Field(idx), fpath)
	}
}

func (d *decoder) decodeSlice(n *yaml.Node, v reflect.Value, path string) {
	items := n.Content
	if n.Kind == yaml.ScalarNode {
		items = []*yaml.Node{n} // a single value stands for a list of one
	} else if n.Kind != yaml.SequenceNode {
		d.errorf(n, path, "got %s, want a list", kindName(n))
		return
	}
	s := reflect.MakeSlice(v.Type(), len(items), len(items))
	for i, item := range items {
		ipath := fmt.Sprintf("%s[%d]", path, i)
		if n.Kind == yaml.ScalarNode {
			ipath = path
		}
		d.decode(item, s.Index(i), ipath)
	}
	v.Set(s)
}

func (d *decoder) decodeMap(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.MappingNode {
		d.errorf(n, path, "got %s, want a mapping", kindName(n))
		return
	}
	m := reflect.MakeMapWithSize(v.Type(), len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		kpath := joinPath(path, k.Value)
		key := reflect.ValueOf(k.Value).Convert(v.Type().Key())
		if m.MapIndex(key).IsValid() {
			d.errorf(k, kpath, "key is set twice")
			continue
		}
		d.keyPos[kpath] = k
		elem := reflect.New(v.Type().Elem()).Elem()
		d.decode(val, elem, kpath)
		m.SetMapIndex(key, elem)
	}
	v.Set(m)
}

func joinPath(parent, field string) string {
	if parent == "" {
		return field
	}
	return parent + "." + field
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	default:
		return fmt.Sprintf("%q", n.Value)
	}
}

func fieldIndex(t reflect.Type) map[string]int {
	m := map[string]int{}
	for i := range t.NumField() {
		if name := yamlName(t.Field(i)); name != "" {
			m[name] = i
		}
	}
	return m
}

func fieldNames(t reflect.Type) []string {
	var names []string
	for i := range t.NumField() {
		if name := yamlName(t.Field(i)); name != "" {
			names = append(names, name)
		}
	}
	return names
}

func yamlName(f reflect.StructField) string {
	tag := f.Tag.Get("yaml")
	if tag == "" || tag == "-" {
		return ""
	}
	name, _, _ := strings.Cut(tag, ",")
	return name
}

// suggest returns ` (did you mean "x"?)` for the valid name closest to a
// misspelt one, or nothing when none is close.
func suggest(got string, valid []string) string {
	best, bestDist := "", 3
	for _, v := range valid {
		if d := editDistance(got, v); d < bestDist {
			best, bestDist = v, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
