package webvitals

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"reflect"
	"strings"
	"testing"
)

// FuzzDecode feeds arbitrary bodies to the decoder and the route and value
// handling behind it: nothing panics, and every route label is bounded.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{v3LCP, v4INPAttribution, nextHydration, "[" + v5FCP + "," + v4INP + "]", `[1,null,{}]`} {
		f.Add([]byte(s))
	}
	rt, errs := newRouteTable([]string{"/users/:id", "/blog/*"}, 20, slog.New(slog.DiscardHandler))
	if len(errs) > 0 {
		f.Fatal(errs)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		// The fast path must read an object exactly as json.Unmarshal does.
		if trimmed := bytes.TrimSpace(body); len(trimmed) > 0 && trimmed[0] == '{' && json.Valid(trimmed) {
			var want wireMetric
			wantErr := json.Unmarshal(trimmed, &want)
			if got, ok := fastObject(trimmed); ok && (wantErr != nil || !reflect.DeepEqual(got, want)) {
				t.Fatalf("fast path read %q as %+v; json.Unmarshal: %+v, %v", trimmed, got, want, wantErr)
			}
		}
		metrics, bad, err := decode(body)
		if err != nil && (metrics != nil || bad != 0) {
			t.Fatalf("error %v with %d metrics and %d bad", err, len(metrics), bad)
		}
		for i := range metrics {
			m := &metrics[i]
			if v, ok := m.value(); ok && v != v {
				t.Fatalf("NaN value accepted from %q", m.Value)
			}
			page, _ := m.page()
			route := rt.label(page)
			if len(route) > maxRouteLen || (route != routeOther && route != routeUnknown && !strings.HasPrefix(route, "/")) {
				t.Fatalf("route %q from page %q", route, page)
			}
		}
	})
}

func TestNewErrors(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"no origins", Config{}, "webvitals: invalid config:\nwebvitals.allowed_origins: empty; want at least one origin such as https://www.example.com (beacons from other origins are refused)"},
		{"bad origin and template, together", Config{
			AllowedOrigins: []string{"https://www.example.com/app", "https://ok.example"},
			Routes:         []string{"/a/*/b", "users"},
			MaxRoutes:      -1,
		}, `webvitals: invalid config:
webvitals.max_routes: -1 is negative; want a positive number, or 0 for 200
webvitals.allowed_origins[0]: "https://www.example.com/app" is not an origin; want scheme://host[:port] with scheme http or https and no path, such as https://www.example.com or https://*.example.com
webvitals.routes[0]: "/a/*/b": * is allowed only as the whole last segment, as in /blog/*
webvitals.routes[1]: "users": want a path template such as /users/:id or /blog/* (starting with /, no query, at most 256 bytes)
webvitals.routes: 2 templates but max_routes is -1; raise max_routes to at least 2`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.cfg, nil, nil)
			if err == nil || err.Error() != tt.want {
				t.Errorf("error:\n%v\nwant:\n%s", err, tt.want)
			}
		})
	}
}

func TestIsID(t *testing.T) {
	for s, want := range map[string]bool{
		"42": true, "3f2504e0-4f89-11d3-9a0c-0305e82c3301": true, "507f1f77bcf86cd799439011": true,
		"deadbeef01234567": true, "deadbeefdeadbeef": false, "V1StGXR8_Z5jdHi6B-myT": true, "k3j4h5g6f7d8s9a0": true,
		"users": false, "top-10-tips-for-2024": false, "iphone15": false, "how-to-configure-alerts": false, "café": false,
	} {
		if got := isID(s); got != want {
			t.Errorf("isID(%q) = %v, want %v", s, got, want)
		}
	}
}
