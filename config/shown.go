package config

import (
	"encoding"
	"reflect"
	"regexp"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// secretField matches the names of settings that hold a secret whatever
// their value: a password, a token, a key, a DSN, a cookie.
var secretField = regexp.MustCompile(`(?i)(password|passwd|secret|token|api_?key|access_key|private_key|dsn|authorization|cookie|credential)`)

// Shown is the probe as loaded, as YAML, for people (the admin UI):
// every setting that is set, with secrets as ***: the values ${VAR}
// references put in, the values of settings and headers whose name says
// they are secret, and the passwords of URLs.
func (p Probe) Shown() string {
	n := shownNode(reflect.ValueOf(p), "", p.Secrets)
	if n == nil {
		return ""
	}
	b, err := yaml.Marshal(n)
	if err != nil {
		return ""
	}
	return string(b)
}

// shownNode is v as a YAML node, or nil when it is unset; name is the
// setting's (or header's) name.
func shownNode(v reflect.Value, name string, secrets []string) *yaml.Node {
	if !v.IsValid() {
		return nil
	}
	if v.Kind() == reflect.Pointer || v.Kind() == reflect.Interface {
		if v.IsNil() {
			return nil
		}
		if n, ok := textNode(v, name, secrets); ok {
			return n
		}
		return shownNode(v.Elem(), name, secrets)
	}
	if n, ok := textNode(v, name, secrets); ok {
		return n
	}
	switch v.Kind() {
	case reflect.Struct:
		return structNode(v, secrets)
	case reflect.Slice, reflect.Array:
		if v.Len() == 0 {
			return nil
		}
		seq := &yaml.Node{Kind: yaml.SequenceNode}
		for i := range v.Len() {
			if n := shownNode(v.Index(i), name, secrets); n != nil {
				seq.Content = append(seq.Content, n)
			}
		}
		return seq
	case reflect.Map:
		if v.Len() == 0 {
			return nil
		}
		m := &yaml.Node{Kind: yaml.MappingNode}
		keys := v.MapKeys()
		slices.SortFunc(keys, func(a, b reflect.Value) int { return strings.Compare(a.String(), b.String()) })
		for _, k := range keys {
			if n := shownNode(v.MapIndex(k), k.String(), secrets); n != nil {
				m.Content = append(m.Content, scalar(k.String()), n)
			}
		}
		return m
	case reflect.String:
		if v.String() == "" {
			return nil
		}
		return scalar(mask(v.String(), name, secrets))
	case reflect.Bool:
		if !v.Bool() {
			return nil
		}
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: "true"}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Float32, reflect.Float64:
		if v.IsZero() {
			return nil
		}
		var n yaml.Node
		if err := n.Encode(v.Interface()); err != nil {
			return nil
		}
		return &n
	}
	return nil // functions, channels, compiled programs: not settings
}

// structNode shows the struct's settings: its fields with a yaml name.
func structNode(v reflect.Value, secrets []string) *yaml.Node {
	if e, ok := v.Interface().(Expr); ok {
		if e.Source == "" {
			return nil
		}
		return scalar(mask(e.Source, "", secrets))
	}
	m := &yaml.Node{Kind: yaml.MappingNode}
	t := v.Type()
	for i := range t.NumField() {
		f := t.Field(i)
		tag, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if !f.IsExported() || tag == "-" || tag == "" {
			continue
		}
		if n := shownNode(v.Field(i), tag, secrets); n != nil {
			m.Content = append(m.Content, scalar(tag), n)
		}
	}
	if len(m.Content) == 0 {
		return nil
	}
	return m
}

// textNode shows a value that writes itself as text (durations,
// schedules, sizes), a URL with its password masked; false for others.
func textNode(v reflect.Value, name string, secrets []string) (*yaml.Node, bool) {
	if u, ok := v.Interface().(URL); ok {
		if u.URL == nil {
			return nil, true
		}
		return scalar(mask(u.Redacted(), name, secrets)), true
	}
	if u, ok := v.Interface().(*URL); ok {
		return textNode(reflect.ValueOf(*u), name, secrets)
	}
	m, ok := v.Interface().(encoding.TextMarshaler)
	if !ok {
		return nil, false
	}
	if v.IsZero() {
		return nil, true
	}
	b, err := m.MarshalText()
	if err != nil || len(b) == 0 {
		return nil, true
	}
	return scalar(mask(string(b), name, secrets)), true
}

// mask hides s when its setting's name says it is secret, and every
// secret in it otherwise.
func mask(s, name string, secrets []string) string {
	if name != "" && secretField.MatchString(name) {
		return "***"
	}
	for _, sec := range secrets { // longest first
		s = strings.ReplaceAll(s, sec, "***")
	}
	return s
}

func scalar(s string) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s}
}
