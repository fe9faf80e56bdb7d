package daemon

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/lookout-dev/lookout/alerting/dispatch"
	"github.com/lookout-dev/lookout/alerting/silences"
	"github.com/lookout-dev/lookout/config"
)

// TestSilenceAPILimits: every refusal of POST /api/v1/silences has its
// status (400 not a valid silence, 413 too large, 422 refused by a limit)
// and names what was wrong.
func TestSilenceAPILimits(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "lookout.yml")
	writeConfig(t, cfg, fmt.Sprintf("server: {listen: \"127.0.0.1:0\"}\nstorage: {path: %q}\nalerting: {silences: {max: 2}}\n", filepath.Join(dir, "data")))
	d := startDaemon(t, cfg)
	defer d.stop(t)

	silence := func(matchers, duration, comment string) string {
		return fmt.Sprintf(`{"matchers":[%s],"duration":%q,"createdBy":"alice","comment":%q}`, matchers, duration, comment)
	}
	ok := silence(`"alertname=\"ProbeDown\""`, "1h", "deploy")
	tests := []struct {
		name   string
		body   string
		status int
		want   string // the answer starts with it
	}{
		{"trailing whitespace", ok + "\n\t ", http.StatusCreated, "{"},
		{"a second object", ok + ok, http.StatusBadRequest,
			"silence: invalid JSON body: data after the JSON object; want one object"},
		{"trailing garbage", ok + " x", http.StatusBadRequest, "silence: invalid JSON body: data after the JSON object"},
		{"not JSON", "alertname=ProbeDown", http.StatusBadRequest, "silence: invalid JSON body: invalid JSON at byte 1: invalid character"},
		{"unknown field", `{"matchers":["a=\"b\""],"duration":"1h","createdBy":"a","extra":1}`, http.StatusBadRequest,
			`silence: invalid JSON body: unknown field "extra"; valid fields: id, matchers, startsAt, endsAt, duration, createdBy, comment, state`},
		{"a field of the wrong type, named", `{"matchers":[1],"duration":"1h","createdBy":"a"}`, http.StatusBadRequest,
			`silence: invalid JSON body: field "matchers": got a JSON number, want a string`},
		{"a bad time, named", `{"matchers":["a=\"b\""],"startsAt":"soon","createdBy":"a"}`, http.StatusBadRequest,
			`silence: invalid JSON body: field "startsAt": parsing time "soon"`},
		{"matchers that match nothing but the empty value", silence(`"alertname=~\".*\"","env!=\"prod\""`, "1h", ""), http.StatusUnprocessableEntity,
			`silence: every matcher ({alertname=~".*",env!="prod"}) matches alerts without the label, so the silence would mute every alert`},
		{"a year", silence(`"alertname=~\".+\""`, "8760h", ""), http.StatusUnprocessableEntity,
			"silence: lasts 8760h0m0s, longer than alerting.silences.max_duration (2160h0m0s)"},
		{"a long comment", silence(`"alertname=\"ProbeDown\""`, "1h", strings.Repeat("c", 9000)), http.StatusRequestEntityTooLarge,
			"silence: 9026 bytes, over alerting.silences.max_size (8192): comment 9000 bytes, createdBy 5, 1 matchers 21"},
		{"a body far over the size", silence(`"alertname=\"ProbeDown\""`, "1h", strings.Repeat("c", 70000)), http.StatusRequestEntityTooLarge,
			"silence: request body over 65536 bytes; alerting.silences.max_size bounds a silence to 8192"},
		{"the second fits", ok, http.StatusCreated, "{"},
		{"the third is over alerting.silences.max", ok, http.StatusUnprocessableEntity,
			"silence: Lookout keeps 2 silences, as many as alerting.silences.max allows"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := d.post(t, "/api/v1/silences", tt.body)
			if resp.StatusCode != tt.status || !strings.HasPrefix(body, tt.want) {
				t.Errorf("got %d %q\nwant %d %q", resp.StatusCode, body, tt.status, tt.want)
			}
		})
	}
	req, _ := http.NewRequest(http.MethodDelete, d.base+"/api/v1/silences/nope", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("expiring an unknown silence: %d, want 404", resp.StatusCode)
	}
}

// writeSizes is a ResponseWriter that keeps no body, only the largest
// single write and the total.
type writeSizes struct {
	header         http.Header
	largest, total int
	body           strings.Builder // kept only when keep is set
	keep           bool
}

func (w *writeSizes) Header() http.Header { return w.header }
func (w *writeSizes) WriteHeader(int)     {}
func (w *writeSizes) Write(p []byte) (int, error) {
	w.largest, w.total = max(w.largest, len(p)), w.total+len(p)
	if w.keep {
		w.body.Write(p)
	}
	return len(p), nil
}

// TestSilencesStreamed: GET /api/v1/silences writes 10,000 silences one
// at a time, never their whole JSON at once, and reads as the same JSON
// as writeJSON would have made.
func TestSilencesStreamed(t *testing.T) {
	db, err := bolt.Open(filepath.Join(t.TempDir(), "lookout.db"), 0o600, &bolt.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	limits := config.Silences{Max: config.DefaultMaxSilences, MaxSize: config.DefaultMaxSilenceSize, MaxDuration: config.DefaultMaxSilenceDuration}
	st, err := silences.Open(db, limits, nil)
	if err != nil {
		t.Fatal(err)
	}
	d := &daemon{log: slog.New(slog.DiscardHandler), alerting: &alertingParts{silences: st}}
	ms, err := dispatch.ParseMatchers([]string{`alertname="ProbeDown"`, `probe=~"api-.*"`})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now().Add(time.Hour)
	add := func(n int) {
		have := len(st.List())
		for i := range n {
			at := start.Add(time.Duration(have+i) * time.Second)
			if _, err := st.Add(dispatch.Silence{Matchers: ms, StartsAt: at, EndsAt: at.Add(time.Hour), CreatedBy: "alice", Comment: "deploying the API"}); err != nil {
				t.Fatal(err)
			}
		}
	}
	tests := []struct {
		name  string
		total int // silences
	}{
		{"none", 0}, {"one", 1}, {"three", 3}, {"10,000", config.DefaultMaxSilences},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			add(tt.total - len(st.List()))
			w := &writeSizes{header: http.Header{}, keep: tt.total <= 3}
			d.handleSilences(w, httptest.NewRequest(http.MethodGet, "/api/v1/silences", nil))
			if w.keep {
				want := httptest.NewRecorder()
				out := struct {
					Silences []silences.JSON `json:"silences"`
				}{Silences: []silences.JSON{}}
				for _, s := range st.List() {
					out.Silences = append(out.Silences, silences.ToJSON(s, time.Now()))
				}
				writeJSON(want, out)
				if got := w.body.String(); got != want.Body.String() {
					t.Errorf("streamed:\n%s\nwant what writeJSON writes:\n%s", got, want.Body.String())
				}
				return
			}
			if w.largest > 4<<10 || w.total < 2<<20 {
				t.Errorf("largest write %d bytes of %d; want each silence written on its own (under 4 KiB here)", w.largest, w.total)
			}
		})
	}
	t.Run("10,000 read back, newest first", func(t *testing.T) {
		srv := httptest.NewServer(http.HandlerFunc(d.handleSilences))
		defer srv.Close()
		resp, err := http.Get(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var got struct {
			Silences []silences.JSON `json:"silences"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
			t.Fatal(err)
		}
		if n := len(got.Silences); n != config.DefaultMaxSilences {
			t.Fatalf("read %d silences, want %d", n, config.DefaultMaxSilences)
		}
		for i := 1; i < len(got.Silences); i++ {
			if !got.Silences[i].StartsAt.Before(got.Silences[i-1].StartsAt) {
				t.Fatalf("silence %d starts %s, not before the one listed above it (%s)", i, got.Silences[i].StartsAt, got.Silences[i-1].StartsAt)
			}
		}
	})
}
