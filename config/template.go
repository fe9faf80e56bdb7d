package config

import (
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Template is a string that may hold {{ vars.NAME }} (spaces inside the
// braces optional), expanded at run time with a flow's variables. Only a
// flow step's http url (path and query), header values, body,
// basic_auth and bearer_token take templates; anywhere else in a probe
// "{{" is a config error. ${VAR} references are expanded at load, in
// the text around the templates only: a variable's value is never read
// as a template.
type Template struct {
	// Source is the value as written, ${VAR} expanded and each
	// {{ vars.NAME }} as written: what Expand returns when IsLiteral. It
	// may hold secrets (Probe.Secrets).
	Source string
	parts  []templatePart
}

// templatePart is literal text (${VAR} expanded) or a variable's name.
type templatePart struct {
	text, name string
	at         int // the byte offset in the value as written (before ${VAR}), to tell where a problem is
}

// Expand returns the value with each {{ vars.NAME }} replaced by
// lookup(NAME), as is (no escaping).
func (t Template) Expand(lookup func(name string) string) string {
	switch {
	case len(t.parts) == 0:
		return ""
	case len(t.parts) == 1 && t.parts[0].name == "":
		return t.parts[0].text
	}
	var b strings.Builder
	for _, p := range t.parts {
		if p.name != "" {
			b.WriteString(lookup(p.name))
		} else {
			b.WriteString(p.text)
		}
	}
	return b.String()
}

// Vars returns the variable names it reads, in order, each once.
func (t Template) Vars() []string {
	var names []string
	for _, p := range t.parts {
		if p.name != "" && !slices.Contains(names, p.name) {
			names = append(names, p.name)
		}
	}
	return names
}

// IsLiteral reports whether it holds no template: Expand returns the same
// whatever the variables.
func (t Template) IsLiteral() bool {
	for _, p := range t.parts {
		if p.name != "" {
			return false
		}
	}
	return true
}

// MarshalText writes the template as written.
func (t Template) MarshalText() ([]byte, error) { return []byte(t.Source), nil }

// templateError is a malformed template at a byte offset of the value.
type templateError struct {
	at  int
	msg string
}

func (e *templateError) Error() string { return e.msg }

// varNameRE is what a flow's variable may be called.
var varNameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// parseTemplate splits src into text and {{ vars.NAME }}, expanding ${VAR}
// in the text with lookup. A "{{" inside ${…} is the reference's, as
// expandEnv reads it. The error is a *templateError for a malformed
// template, else expandEnv's.
func parseTemplate(src string, lookup func(string) (string, bool)) (Template, error) {
	var t Template
	var source strings.Builder
	start := 0
	text := func(end int) error {
		if end == start {
			return nil
		}
		s, err := expandEnv(src[start:end], lookup)
		if err == nil && s != "" {
			t.parts = append(t.parts, templatePart{text: s, at: start})
			source.WriteString(s)
		}
		return err
	}
	for i := 0; i < len(src); {
		switch {
		case strings.HasPrefix(src[i:], "$$"):
			i += 2
		case strings.HasPrefix(src[i:], "${"):
			end := strings.IndexByte(src[i:], '}')
			if end < 0 {
				i = len(src)
			} else {
				i += end + 1
			}
		case strings.HasPrefix(src[i:], "{{"):
			if err := text(i); err != nil {
				return Template{}, err
			}
			end := strings.Index(src[i+2:], "}}")
			if end < 0 {
				return Template{}, &templateError{i, "has {{ without a closing }}; want {{ vars.NAME }}"}
			}
			whole := src[i : i+2+end+2]
			name, ok := strings.CutPrefix(strings.TrimSpace(whole[2:len(whole)-2]), "vars.")
			if !ok || !varNameRE.MatchString(name) {
				return Template{}, &templateError{i, fmt.Sprintf("%q is not a template; want {{ vars.NAME }}, NAME a variable an earlier step extracts", truncate(whole, 40))}
			}
			t.parts = append(t.parts, templatePart{name: name, at: i})
			source.WriteString(whole)
			i += len(whole)
			start = i
		default:
			i++
		}
	}
	if err := text(len(src)); err != nil {
		return Template{}, err
	}
	t.Source = source.String()
	return t, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// templateFieldRE matches the paths of the fields that take templates: a
// flow step's http url, header values, body, basic_auth and bearer_token.
var templateFieldRE = regexp.MustCompile(`^probes\[\d+\]\.flow\.steps\[\d+\]\.http\.(url|body|bearer_token|basic_auth\.username|basic_auth\.password|headers\..+)$`)

// celTemplateRE finds what looks like a template in a CEL expression.
var celTemplateRE = regexp.MustCompile(`\{\{\s*vars\.`)

var (
	exprType      = reflect.TypeFor[Expr]()
	valueExprType = reflect.TypeFor[ValueExpr]()
)

// probeTemplate handles "{{" in a probe's scalar n of type t at path: the
// fields that take templates are parsed into d.templates; anywhere else a
// template is an error (in CEL, only what reads like {{ vars.… }}, since
// a CEL string may hold braces).
func (d *decoder) probeTemplate(n *yaml.Node, t reflect.Type, path string) {
	if strings.Contains(path, ".flow.steps[") && templateFieldRE.MatchString(path) {
		d.stepTemplate(n, path)
		return
	}
	at := strings.Index(n.Value, "{{")
	if at < 0 {
		return
	}
	if t == exprType || t == valueExprType {
		loc := celTemplateRE.FindStringIndex(n.Value)
		if loc == nil {
			return
		}
		d.errorf(d.at(n, loc[0]), path, "takes no template; a flow step's CEL reads a variable as vars.NAME, without braces")
	} else {
		d.errorf(d.at(n, at), path, "takes no template; {{ vars.NAME }} works in url, headers, body, basic_auth and bearer_token of a flow step")
	}
	d.settled[path] = true
}

// stepTemplate parses the value of a flow step's field that takes
// templates into d.templates. An unset ${VAR} is left to the decoding of
// the value to tell.
func (d *decoder) stepTemplate(n *yaml.Node, path string) {
	t, err := parseTemplate(n.Value, d.lookupFor(path))
	if te, ok := err.(*templateError); ok {
		d.errorf(d.at(n, te.at), path, "%s", te.msg)
		d.settled[path] = true
		return
	}
	if err != nil {
		return
	}
	if strings.HasSuffix(path, ".http.url") {
		if at, ok := t.originLiteral(); !ok {
			d.errorf(d.at(n, at), path, "has a template before its path; the scheme and host must be known at load (they choose the connection and its TLS), so {{ vars.NAME }} may stand in the path and query only")
			d.settled[path] = true
			return
		}
	}
	d.templates[path] = t
}

// originLiteral reports whether a URL template's scheme and host are
// literal: its text before the first variable holds "://" and, after it,
// the "/", "?" or "#" that ends the host. If not, at is where the first
// variable stands.
func (t Template) originLiteral() (at int, ok bool) {
	var prefix string
	for _, p := range t.parts {
		if p.name != "" {
			i := strings.Index(prefix, "://")
			return p.at, i >= 0 && strings.ContainsAny(prefix[i+3:], "/?#")
		}
		prefix += p.text
	}
	return 0, true
}
