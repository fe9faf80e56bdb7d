package dispatch

import (
	"testing"

	"github.com/prometheus/common/model"
)

func TestParseMatchers(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string // the matcher as Prometheus prints it
	}{
		{"equal quoted", `severity="page"`, `severity="page"`},
		{"equal unquoted", `severity=page`, `severity="page"`},
		{"spaces around", `  severity = page  `, `severity="page"`},
		{"not equal", `env!="dev"`, `env!="dev"`},
		{"regexp", `team=~"api|web"`, `team=~"api|web"`},
		{"not regexp unquoted", `host!~db.*`, `host!~"db.*"`},
		{"single quotes", `severity='page'`, `severity="page"`},
		{"escaped quote", `summary="say \"hi\""`, `summary="say \"hi\""`},
		{"unquoted with spaces inside", `summary=disk full`, `summary="disk full"`},
		{"empty value", `severity=""`, `severity=""`},
		{"empty unquoted value", `severity=`, `severity=""`},
		{"braces", `{severity="page"}`, `severity="page"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ms, err := ParseMatchers([]string{tt.in})
			if err != nil {
				t.Fatalf("ParseMatchers(%q): %v", tt.in, err)
			}
			if len(ms) != 1 || ms[0].String() != tt.want {
				t.Fatalf("ParseMatchers(%q) = %v, want [%s]", tt.in, ms, tt.want)
			}
		})
	}
}

func TestParseMatchersErrors(t *testing.T) {
	tests := []struct {
		name string
		in   []string
		want string
	}{
		{"empty", []string{``}, `matcher 1 (""): empty matcher`},
		{"no operator", []string{`severity`}, `matcher 1 ("severity"): want label, operator (=, !=, =~ or !~) and value, like severity="page"`},
		{"unknown operator", []string{`severity>page`}, `matcher 1 ("severity>page"): want label, operator (=, !=, =~ or !~) and value, like severity="page"`},
		{"bad regexp is the second", []string{`a="b"`, `team=~"(api"`}, "matcher 2 (\"team=~\\\"(api\\\"\"): error parsing regexp: missing closing ): `(api`"},
		{"bad label name", []string{`1team="api"`}, `matcher 1 ("1team=\"api\""): invalid label name "1team": want letters, digits and underscores, not starting with a digit`},
		{"dotted label name", []string{`k8s.pod="x"`}, `matcher 1 ("k8s.pod=\"x\""): invalid label name "k8s.pod": want letters, digits and underscores, not starting with a digit`},
		{"unterminated quote", []string{`team="api`}, `matcher 1 ("team=\"api"): unterminated quoted string`},
		{"unclosed brace", []string{`{team="api"`}, `matcher 1 ("{team=\"api\""): missing closing brace`},
		{"two matchers", []string{`a="b",c="d"`}, `matcher 1 ("a=\"b\",c=\"d\""): want one matcher, got 2; list each in its own string`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseMatchers(tt.in)
			if err == nil {
				t.Fatalf("ParseMatchers(%q) succeeded, want error %q", tt.in, tt.want)
			}
			if err.Error() != tt.want {
				t.Fatalf("ParseMatchers(%q) error:\n got %s\nwant %s", tt.in, err, tt.want)
			}
		})
	}
}

func TestMatchersMatches(t *testing.T) {
	ms, err := ParseMatchers([]string{`severity="page"`, `team=~"api|web"`, `env!="dev"`})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		lset model.LabelSet
		want bool
	}{
		{"all match", model.LabelSet{"severity": "page", "team": "api"}, true},
		{"regexp is anchored", model.LabelSet{"severity": "page", "team": "apis"}, false},
		{"missing label is empty", model.LabelSet{"team": "web"}, false},
		{"not-equal excludes", model.LabelSet{"severity": "page", "team": "api", "env": "dev"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ms.Matches(tt.lset); got != tt.want {
				t.Fatalf("%s.Matches(%s) = %t, want %t", ms, tt.lset, got, tt.want)
			}
		})
	}
}
