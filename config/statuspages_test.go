package config

import (
	"reflect"
	"strings"
	"testing"
)

// TestStatusPagesLoad: the README's status page loads as written, its
// groups and probes in order, reasons hidden.
func TestStatusPagesLoad(t *testing.T) {
	cfg, err := loadTestdata(t, "testdata/statuspages.yml")
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.StatusPages) != 1 {
		t.Fatalf("got %d status pages, want 1", len(cfg.StatusPages))
	}
	want := StatusPage{
		Name:  "public",
		Path:  "/status",
		Title: "Example status",
		Groups: []StatusGroup{
			{Name: "Website", Probes: []string{"home", "login-and-profile"}},
			{Name: "API", Probes: []string{"api-health"}},
		},
		ShowReasons: false,
	}
	if got := cfg.StatusPages[0]; !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v\nwant %+v", got, want)
	}
}

// TestStatusPageDefaults: a page without a title is headed by its name;
// show_reasons is off unless written.
func TestStatusPageDefaults(t *testing.T) {
	const yml = "probes: [{name: home, http: {url: \"https://www.example.com/\"}}]\n" +
		"status_pages:\n" +
		"  - {name: public, path: /status, groups: [{name: Website, probes: [home]}]}\n" +
		"  - {name: internal, path: /internal, title: Inside, description: For us, show_reasons: true, groups: [{name: Website, probes: [home]}]}\n"
	cfg, err := Parse("f.yml", []byte(yml), testEnv)
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"title defaults to the name", cfg.StatusPages[0].Title, "public"},
		{"reasons hidden by default", cfg.StatusPages[0].ShowReasons, false},
		{"title as written", cfg.StatusPages[1].Title, "Inside"},
		{"description", cfg.StatusPages[1].Description, "For us"},
		{"reasons shown when asked", cfg.StatusPages[1].ShowReasons, true},
	}
	for _, c := range checks {
		t.Run(c.name, func(t *testing.T) {
			if c.got != c.want {
				t.Errorf("got %v, want %v", c.got, c.want)
			}
		})
	}
}

// TestStatusPagePaths: a page takes a path of its own, never one of
// Lookout's routes nor anything under them, and never another page's
// path or its .json, whichever page comes first.
func TestStatusPagePaths(t *testing.T) {
	tests := []struct {
		name    string
		paths   []string
		wantErr string // in the error; "" for none
	}{
		{"plain", []string{"/status"}, ""},
		{"nested", []string{"/status/api.v2"}, ""},
		{"unreserved characters", []string{"/Status_page-2~x"}, ""},
		{"beside the API's version", []string{"/v1/status"}, ""},
		{"a prefix of a route's name only", []string{"/slackers"}, ""},
		{"two pages", []string{"/status", "/status/api"}, ""},
		{"the API", []string{"/api/v1/status"}, "Lookout's own route /api/"},
		{"the API's folder", []string{"/api"}, "Lookout's own route /api/"},
		{"reload", []string{"/-/status"}, "Lookout's own route /-/"},
		{"health", []string{"/healthz"}, "Lookout's own route /healthz"},
		{"pprof", []string{"/debug"}, "Lookout's own route /debug/"},
		{"heartbeats", []string{"/v1/heartbeat"}, "Lookout's own route /v1/heartbeat/"},
		{"query", []string{"/status?x=1"}, "characters a URL path does not take"},
		{"percent", []string{"/st%61tus"}, "characters a URL path does not take"},
		{"wildcard", []string{"/{name}"}, "characters a URL path does not take"},
		{"dot segment", []string{"/status/."}, `holds a "." segment`},
		{"same path", []string{"/status", "/status"}, `"/status" is served by status_pages[0] already`},
		{"json of the first", []string{"/status", "/status.json"}, `"/status.json" is served by status_pages[0] already`},
		{"json of the second", []string{"/status.json", "/status"}, `"/status.json" is served by status_pages[0] already`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var yml strings.Builder
			yml.WriteString("probes: [{name: home, http: {url: \"https://www.example.com/\"}}]\nstatus_pages:\n")
			for i, p := range tt.paths {
				yml.WriteString("  - {name: p" + string(rune('0'+i)) + ", path: \"" + p + "\", groups: [{name: A, probes: [home]}]}\n")
			}
			_, err := Parse("f.yml", []byte(yml.String()), testEnv)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tt.wantErr != "" && err == nil:
				t.Fatalf("accepted; want an error with %q", tt.wantErr)
			case tt.wantErr != "" && !strings.Contains(err.Error(), tt.wantErr):
				t.Fatalf("got %v\nwant an error with %q", err, tt.wantErr)
			}
		})
	}
}
