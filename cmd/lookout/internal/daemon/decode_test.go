package daemon

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestDecodeJSONNamesTheField: the admin API's request decoding says which
// field was wrong, and how.
func TestDecodeJSONNamesTheField(t *testing.T) {
	type request struct {
		Matchers []string  `json:"matchers"`
		StartsAt time.Time `json:"startsAt,omitzero"`
		Count    int       `json:"count"`
		Comment  string    `json:"comment"`
		internal string
	}
	tests := []struct {
		name, body, want string
	}{
		{"valid", `{"matchers":["a=\"b\""],"count":2,"comment":"c"}`, ""},
		{"field names ignore case, as encoding/json's", `{"Comment":"c"}`, ""},
		{"wrong element type", `{"matchers":[1]}`, `field "matchers": got a JSON number, want a string`},
		{"wrong type", `{"count":"two"}`, `field "count": got a JSON string, want a number`},
		{"bad time", `{"startsAt":"soon"}`, `field "startsAt": parsing time "soon"`},
		{"unknown field", `{"commnt":"c"}`, `unknown field "commnt"; valid fields: matchers, startsAt, count, comment`},
		{"an empty name", `{"":"x"}`, `unknown field ""`},
		{"not an object", `["a"]`, "got a JSON array; want an object"},
		{"empty", ``, "empty body; want a JSON object"},
		{"cut short", `{"comment":`, "the JSON object ends early"},
		{"syntax", `{"comment":"c",}`, "invalid JSON at byte 16"},
		{"trailing data", `{"comment":"c"} {}`, "data after the JSON object; want one object"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var v request
			r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(tt.body))
			err := decodeJSON(httptest.NewRecorder(), r, &v, 1<<10)
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("error %v; want none", err)
			case tt.want != "" && (err == nil || !strings.HasPrefix(err.Error(), tt.want)):
				t.Errorf("error %v; want %q", err, tt.want)
			}
		})
	}
	t.Run("too large", func(t *testing.T) {
		var v request
		r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(`{"comment":"`+strings.Repeat("x", 100)+`"}`))
		err := decodeJSON(httptest.NewRecorder(), r, &v, 50)
		var tooLarge *http.MaxBytesError
		if !errors.As(err, &tooLarge) || !strings.HasPrefix(err.Error(), "body over 50 bytes") {
			t.Errorf("error %v; want one over 50 bytes wrapping *http.MaxBytesError", err)
		}
	})
}
