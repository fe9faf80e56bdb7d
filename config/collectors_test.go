package config

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
)

// TestCollectorRules pins the rules of the webvitals and mongodb sections
// that the collectors used to apply only at start, so that lookout check
// reports them, each with file:line:col.
func TestCollectorRules(t *testing.T) {
	long := "/" + strings.Repeat("a", MaxRouteLen)
	tests := []struct {
		name, yaml, want string // yaml starts with an empty line; want "" for no error
	}{
		{"origin with a trailing slash", `
webvitals:
  allowed_origins: ["https://www.example.com/"]
`, `t.yml:3:21: webvitals.allowed_origins[0]: "https://www.example.com/" is not an origin; want scheme://host[:port] such as https://www.example.com, or https://*.example.com`},
		{"origin with a user", `
webvitals:
  allowed_origins: ["https://me@www.example.com"]
`, `t.yml:3:21: webvitals.allowed_origins[0]: "https://me@www.example.com" is not an origin; want scheme://host[:port] such as https://www.example.com, or https://*.example.com`},
		{"wildcard inside a host", `
webvitals:
  allowed_origins: ["https://shop.*.example.com", "https://*.", "https://x.example.com:44a"]
`, `t.yml:3:21: webvitals.allowed_origins[0]: "https://shop.*.example.com" is not an origin; want scheme://host[:port] such as https://www.example.com, or https://*.example.com
t.yml:3:51: webvitals.allowed_origins[1]: "https://*." is not an origin; want scheme://host[:port] such as https://www.example.com, or https://*.example.com
t.yml:3:65: webvitals.allowed_origins[2]: "https://x.example.com:44a" is not an origin; want scheme://host[:port] such as https://www.example.com, or https://*.example.com`},
		{"origins that are fine", `
webvitals:
  allowed_origins: ["HTTPS://WWW.Example.com:443", "http://[::1]:8080", "https://*.example.com"]
`, ""},
		{"route templates", `
webvitals:
  routes: ["/a/*/b", "/users/:", "/blog/*/", "/x", "/x", "` + long + `"]
`, `t.yml:3:12: webvitals.routes[0]: "/a/*/b": * is allowed only as the whole last segment, as in /blog/*
t.yml:3:22: webvitals.routes[1]: "/users/:": a parameter needs a name, as in /users/:id
t.yml:3:52: webvitals.routes[4]: "/x" is listed twice, first as routes[3]
t.yml:3:58: webvitals.routes[5]: is 257 bytes long; want a route template of at most 256 bytes`},
		{"more templates than max_routes", `
webvitals:
  routes: ["/a", "/b"]
  max_routes: 1
`, `t.yml:4:15: webvitals.max_routes: 2 route templates but max_routes is 1; raise max_routes to at least 2`},
		{"more templates than the default max_routes", `
webvitals:
  routes: [` + routesYAML(DefaultMaxRoutes+1) + `]
`, `t.yml:3:11: webvitals.routes: 201 route templates but max_routes is 200; raise max_routes to at least 201`},
		{"rates that are not numbers", `
webvitals:
  rate_limit: {per_ip: NaN/s}
`, `t.yml:3:24: webvitals.rate_limit.per_ip: "NaN/s" is not a rate; want a positive number per s, m or h, like 20/s`},
		{"an infinite rate", `
webvitals:
  rate_limit: {per_ip: +Inf/m}
`, `t.yml:3:24: webvitals.rate_limit.per_ip: "+Inf/m" is not a rate; want a positive number per s, m or h, like 20/s`},
		{"minPoolSize over Lookout's pool", `
mongodb:
  - {name: a, uri: "mongodb://lookout:hunter2@127.0.0.1:27017/?minPoolSize=10"}
`, `t.yml:3:20: mongodb[0].uri: minPoolSize must be less than or equal to maxPoolSize, got minPoolSize=10 maxPoolSize=4 (the value is not shown: it may hold a password)`},
		{"heartbeat under the driver's minimum", `
mongodb:
  - {name: a, uri: "mongodb://127.0.0.1:27017/?heartbeatFrequencyMS=100"}
`, `t.yml:3:20: mongodb[0].uri: heartbeatFrequencyMS must exceed the minimum heartbeat interval of 500ms, got heartbeatFrequencyMS="100ms" (the value is not shown: it may hold a password)`},
		{"a TLS file that cannot be read", `
mongodb:
  - {name: a, uri: "mongodb://127.0.0.1:27017/?tls=true&tlsCAFile=/nonexistent/ca.pem"}
`, `t.yml:3:20: mongodb[0].uri: open /nonexistent/ca.pem: no such file or directory (the value is not shown: it may hold a password)`},
		{"an interval too short for a timeout", `
mongodb:
  - {name: a, uri: "mongodb://127.0.0.1:27017/", interval: 1ns}
`, `t.yml:3:60: mongodb[0].interval: 1ns leaves no time for a pass's timeout; want an interval like 60s`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("t.yml", []byte(tt.yaml), testEnv)
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != tt.want {
				t.Errorf("errors:\n%s\nwant:\n%s", got, tt.want)
			}
		})
	}
}

// routesYAML is n distinct route templates, as a YAML flow sequence's items.
func routesYAML(n int) string {
	r := make([]string, n)
	for i := range r {
		r[i] = fmt.Sprintf(`"/r%d"`, i)
	}
	return strings.Join(r, ", ")
}

// TestWebVitalsDefaultsFilledOnce: Parse fills an unset webvitals section
// as WithDefaults does, the one place the defaults are applied.
func TestWebVitalsDefaultsFilledOnce(t *testing.T) {
	cfg, err := Parse("t.yml", []byte("webvitals:\n  enabled: true\n  allowed_origins: [\"https://www.example.com\"]\n"), testEnv)
	if err != nil {
		t.Fatal(err)
	}
	want := WebVitals{Enabled: true, AllowedOrigins: []string{"https://www.example.com"}}.WithDefaults()
	if !reflect.DeepEqual(cfg.WebVitals, want) {
		t.Errorf("parsed %+v, want %+v", cfg.WebVitals, want)
	}
	if want.MaxRoutes != DefaultMaxRoutes || want.RateLimit.PerIP != DefaultRatePerIP || want.RateLimit.Burst != DefaultBurst ||
		want.SoftNavigations != SoftNavSeparate {
		t.Errorf("WithDefaults = %+v", want)
	}
	set := WebVitals{MaxRoutes: 5, RateLimit: RateLimit{PerIP: 1, Burst: 2}, SoftNavigations: SoftNavDrop}
	if got := set.WithDefaults(); !reflect.DeepEqual(got, set) {
		t.Errorf("WithDefaults changed set fields: %+v", got)
	}
}

// TestParseOrigin: the one reading of an origin, for allowed_origins and
// for the Origin header a browser sends.
func TestParseOrigin(t *testing.T) {
	tests := []struct {
		in, want string // want "" for an error
	}{
		{"https://www.example.com", "https://www.example.com"},
		{"HTTPS://WWW.Example.COM", "https://www.example.com"},
		{"https://www.example.com:443", "https://www.example.com"},
		{"http://www.example.com:80", "http://www.example.com"},
		{"http://www.example.com:8080", "http://www.example.com:8080"},
		{"https://*.example.com", "https://*.example.com"},
		{"http://[::1]:3000", "http://[::1]:3000"},
		{"http://[::1]", "http://[::1]"},
		{"null", ""},
		{"", ""},
		{"ftp://www.example.com", ""},
		{"https://", ""},
		{"https://www.example.com/", ""},
		{"https://www.example.com?x", ""},
		{"https://www.example.com#x", ""},
		{"https://u:p@www.example.com", ""},
		{"https://www.example.com:", ""},
		{"https://www.example.com:123456", ""},
		{"https://[]", ""},
		{"https://*", ""},
		{"https://*.", ""},
		{"https://a*.example.com", ""},
		{"https://*.*.example.com", ""},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			o, err := ParseOrigin(tt.in)
			switch {
			case tt.want == "" && err == nil:
				t.Errorf("ParseOrigin = %+v, want an error", o)
			case tt.want != "" && err != nil:
				t.Errorf("ParseOrigin: %v, want %s", err, tt.want)
			case tt.want != "" && o.String() != tt.want:
				t.Errorf("ParseOrigin = %s, want %s", o, tt.want)
			}
		})
	}
}
