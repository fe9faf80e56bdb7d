package httpprobe

import (
	"net/http"
	"reflect"
	"slices"
	"testing"
	"time"
	"unsafe"

	"github.com/lookout-dev/lookout/config"
	"github.com/lookout-dev/lookout/probes"
	"github.com/lookout-dev/lookout/probes/internal/exprcheck"
)

// TestActivationIsLazy checks that a run works out only the variables its
// expressions read, each once however many expressions read it.
func TestActivationIsLazy(t *testing.T) {
	tests := []struct {
		name   string
		assert string   // the assert list as YAML flow
		read   []string // in celVars order
	}{
		{"status only", `['status == 200']`, []string{"status"}},
		{"body twice", `['body.status == "UP"', 'size(body.replicas) == 3']`, []string{"body"}},
		{"failing comparison explained", `['body.status == "DOWN"']`, []string{"body"}},
		{"several", `['"content-type" in headers', 'text.contains("UP")', 'phases.connect >= duration("0s")', 'tls == null', 'duration >= duration("0s")']`,
			[]string{"headers", "text", "duration", "phases", "tls"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			yml := "probes:\n  - name: lazy\n    http:\n      url: http://127.0.0.1/\n      assert: " + tt.assert + "\n"
			cfg, err := config.Parse("lazy.yml", []byte(yml), func(string) (string, bool) { return "", false })
			if err != nil {
				t.Fatal(err)
			}
			resp := &http.Response{StatusCode: 200, Header: http.Header{"Content-Type": {"application/json"}}}
			body := []byte(`{"status": "UP", "replicas": [1, 2, 3]}`)
			vars := newActivation(resp, body, &probes.Result{Duration: time.Millisecond}, nil)
			for i := range cfg.Probes[0].HTTP.Assert {
				exprcheck.Assert(&cfg.Probes[0].HTTP.Assert[i], vars)
			}
			var read []string
			for i, name := range celVars {
				if vars.done[i] {
					read = append(read, name)
				}
			}
			if !slices.Equal(read, tt.read) {
				t.Errorf("worked out %v; want only %v", read, tt.read)
			}
			for _, name := range tt.read {
				first, _ := vars.ResolveName(name)
				again, _ := vars.ResolveName(name)
				if !sameValue(first, again) {
					t.Errorf("%s worked out again: %v, then %v", name, first, again)
				}
			}
		})
	}
}

// sameValue reports whether a and b are the same value, not merely equal
// ones: maps and strings must share their memory.
func sameValue(a, b any) bool {
	va, vb := reflect.ValueOf(a), reflect.ValueOf(b)
	switch va.Kind() {
	case reflect.Map:
		return va.Pointer() == vb.Pointer()
	case reflect.String:
		return va.Len() == vb.Len() && (va.Len() == 0 || unsafe.StringData(va.String()) == unsafe.StringData(vb.String()))
	}
	return a == b
}
