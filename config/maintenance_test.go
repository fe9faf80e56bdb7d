package config

import (
	"strings"
	"testing"
	"time"
)

// TestMaintenanceLoads: the README's maintenance window loads as written,
// its schedule read in its time zone.
func TestMaintenanceLoads(t *testing.T) {
	cfg, err := loadTestdata(t, "testdata/statuspages.yml")
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Maintenance) != 1 {
		t.Fatalf("got %d maintenance windows, want 1", len(cfg.Maintenance))
	}
	m := cfg.Maintenance[0]
	var matchers []string
	for _, x := range m.Matchers {
		matchers = append(matchers, x.String())
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"name", m.Name, "weekly-db"},
		{"schedule", m.Schedule.Spec, "0 4 * * SUN"},
		{"timezone", m.Timezone, "Europe/Berlin"},
		{"location", m.Location.String(), "Europe/Berlin"},
		{"duration", m.Duration.Std(), time.Hour},
		{"no one-off", m.Start == nil && m.End == nil, true},
		{"matchers", strings.Join(matchers, " "), `probe=~"api-.*"`},
		{"matches the API's probes", m.Matchers[0].Matches("api-health"), true},
		{"matches no other", m.Matchers[0].Matches("home"), false},
		{"message", m.Message, "Database maintenance"},
	}
	for _, c := range checks {
		t.Run(c.name, func(t *testing.T) {
			if c.got != c.want {
				t.Errorf("got %v, want %v", c.got, c.want)
			}
		})
	}
}

// window is a maintenance window, or none (the zero window).
type window struct{ start, end string }

// TestMaintenanceWindows: ActiveAt finds the window an instant is in and
// Next the one after it; a schedule is read in its time zone, through
// daylight saving changes, and a duration is elapsed time.
func TestMaintenanceWindows(t *testing.T) {
	const (
		weekly = `{name: m, schedule: "0 4 * * SUN", timezone: Europe/Berlin, duration: 1h, matchers: ['probe="db"']}`
		at0230 = `{name: m, schedule: "30 2 * * *", timezone: Europe/Berlin, duration: 1h, matchers: ['probe="db"']}`
		at0100 = `{name: m, schedule: "0 1 * * *", timezone: Europe/Berlin, duration: 2h, matchers: ['probe="db"']}`
		utc    = `{name: m, schedule: "0 4 * * *", duration: 30m, matchers: ['probe="db"']}`
		hourly = `{name: m, schedule: "@hourly", duration: 3h, matchers: ['probe="db"']}`
		oneOff = `{name: m, start: "2026-05-01T22:00:00+02:00", end: "2026-05-02T02:00:00+02:00", matchers: ['probe="db"']}`
	)
	none := window{}
	tests := []struct {
		name     string
		m        string
		at       string
		active   window
		nextFrom window // Next(at)
	}{
		// 2026-03-29 is a Sunday; Berlin's clocks go from 02:00 CET to 03:00 CEST.
		{"weekly, the Sunday before the change", weekly, "2026-03-22T04:30:00+01:00",
			window{"2026-03-22T04:00:00+01:00", "2026-03-22T05:00:00+01:00"}, window{"2026-03-29T04:00:00+02:00", "2026-03-29T05:00:00+02:00"}},
		{"weekly, at 04:00 local after the change", weekly, "2026-03-29T04:30:00+02:00",
			window{"2026-03-29T04:00:00+02:00", "2026-03-29T05:00:00+02:00"}, window{"2026-04-05T04:00:00+02:00", "2026-04-05T05:00:00+02:00"}},
		{"weekly, an hour early by the old offset", weekly, "2026-03-29T03:30:00+01:00", // 04:30 CEST, in the window
			window{"2026-03-29T04:00:00+02:00", "2026-03-29T05:00:00+02:00"}, window{"2026-04-05T04:00:00+02:00", "2026-04-05T05:00:00+02:00"}},
		{"weekly, the end is not in the window", weekly, "2026-03-29T05:00:00+02:00",
			none, window{"2026-04-05T04:00:00+02:00", "2026-04-05T05:00:00+02:00"}},
		{"weekly, the start is", weekly, "2026-03-29T04:00:00+02:00",
			window{"2026-03-29T04:00:00+02:00", "2026-03-29T05:00:00+02:00"}, window{"2026-04-05T04:00:00+02:00", "2026-04-05T05:00:00+02:00"}},
		{"weekly, a second before the start", weekly, "2026-03-29T03:59:59+02:00",
			none, window{"2026-03-29T04:00:00+02:00", "2026-03-29T05:00:00+02:00"}},
		{"02:30 does not exist on the day of the change", at0230, "2026-03-29T03:15:00+02:00",
			none, window{"2026-03-30T02:30:00+02:00", "2026-03-30T03:30:00+02:00"}},
		{"02:30 the day before", at0230, "2026-03-28T03:15:00+01:00",
			window{"2026-03-28T02:30:00+01:00", "2026-03-28T03:30:00+01:00"}, window{"2026-03-30T02:30:00+02:00", "2026-03-30T03:30:00+02:00"}},
		{"02:30 happens twice when the clocks go back", at0230, "2026-10-25T02:45:00+01:00",
			window{"2026-10-25T02:30:00+01:00", "2026-10-25T03:30:00+01:00"}, window{"2026-10-26T02:30:00+01:00", "2026-10-26T03:30:00+01:00"}},
		{"a window across the change lasts its duration", at0100, "2026-03-29T03:30:00+02:00",
			window{"2026-03-29T01:00:00+01:00", "2026-03-29T04:00:00+02:00"}, window{"2026-03-30T01:00:00+02:00", "2026-03-30T03:00:00+02:00"}},
		{"UTC by default", utc, "2026-03-29T04:10:00Z",
			window{"2026-03-29T04:00:00Z", "2026-03-29T04:30:00Z"}, window{"2026-03-30T04:00:00Z", "2026-03-30T04:30:00Z"}},
		{"overlapping windows: the latest", hourly, "2026-03-29T10:30:00Z",
			window{"2026-03-29T10:00:00Z", "2026-03-29T13:00:00Z"}, window{"2026-03-29T11:00:00Z", "2026-03-29T14:00:00Z"}},
		{"one-off, before", oneOff, "2026-05-01T21:59:59+02:00",
			none, window{"2026-05-01T22:00:00+02:00", "2026-05-02T02:00:00+02:00"}},
		{"one-off, its start", oneOff, "2026-05-01T22:00:00+02:00",
			window{"2026-05-01T22:00:00+02:00", "2026-05-02T02:00:00+02:00"}, none},
		{"one-off, during, in another zone", oneOff, "2026-05-01T23:30:00Z",
			window{"2026-05-01T22:00:00+02:00", "2026-05-02T02:00:00+02:00"}, none},
		{"one-off, its end", oneOff, "2026-05-02T02:00:00+02:00", none, none},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := loadMaintenance(t, tt.m)
			at := parseTime(t, tt.at)
			start, end, ok := m.ActiveAt(at)
			checkWindow(t, "ActiveAt", start, end, ok, tt.active)
			start, end, ok = m.Next(at)
			checkWindow(t, "Next", start, end, ok, tt.nextFrom)
		})
	}
}

func loadMaintenance(t *testing.T, m string) *Maintenance {
	t.Helper()
	cfg, err := Parse("f.yml", []byte("maintenance:\n  - "+m+"\n"), testEnv)
	if err != nil {
		t.Fatal(err)
	}
	return &cfg.Maintenance[0]
}

func parseTime(t *testing.T, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func checkWindow(t *testing.T, what string, start, end time.Time, ok bool, want window) {
	t.Helper()
	if want == (window{}) {
		if ok {
			t.Errorf("%s: got %s to %s, want none", what, start.Format(time.RFC3339), end.Format(time.RFC3339))
		}
		return
	}
	ws, we := parseTime(t, want.start), parseTime(t, want.end)
	if !ok || !start.Equal(ws) || !end.Equal(we) {
		t.Errorf("%s: got %s to %s (ok %v), want %s to %s", what, start.Format(time.RFC3339), end.Format(time.RFC3339), ok, want.start, want.end)
	}
}

// TestMaintenanceMessage: a message is counted in characters, not bytes.
func TestMaintenanceMessage(t *testing.T) {
	for _, tt := range []struct {
		name    string
		n       int
		wantErr bool
	}{
		{"at the limit", MaxMaintenanceMessage, false},
		{"over it", MaxMaintenanceMessage + 1, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			yml := "maintenance:\n  - {name: m, schedule: \"@daily\", duration: 1h, matchers: ['probe=\"db\"'], message: \"" + strings.Repeat("é", tt.n) + "\"}\n"
			_, err := Parse("f.yml", []byte(yml), testEnv)
			if (err != nil) != tt.wantErr {
				t.Fatalf("got %v, want an error: %v", err, tt.wantErr)
			}
		})
	}
}
