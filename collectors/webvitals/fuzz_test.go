package webvitals

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"reflect"
	"strings"
	"testing"

	"github.com/lookout-dev/lookout/config"
)

// FuzzDecode feeds arbitrary bodies to the decoder and the route and value
// handling behind it: nothing panics, and every route label is bounded.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{v3LCP, v4INPAttribution, nextHydration, "[" + v5FCP + "," + v4INP + "]", `[1,null,{}]`} {
		f.Add([]byte(s))
	}
	rt := newRouteTable([]string{"/users/:id", "/blog/*"}, 20, slog.New(slog.DiscardHandler))
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
			if len(route) > config.MaxRouteLen || (route != routeOther && route != routeUnknown && !strings.HasPrefix(route, "/")) {
				t.Fatalf("route %q from page %q", route, page)
			}
		}
	})
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
