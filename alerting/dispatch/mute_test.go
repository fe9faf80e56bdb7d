package dispatch

import (
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/common/model"
)

// mutableSilences lets a test add and end silences while the dispatcher
// runs.
type mutableSilences struct {
	mu   sync.Mutex
	list SilenceList
}

var _ Silences = (*mutableSilences)(nil)

func (m *mutableSilences) Muted(lset model.LabelSet, at time.Time) []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.list.Muted(lset, at)
}

func (m *mutableSilences) add(t *testing.T, id string, d time.Duration, matchers ...string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.list = append(m.list, Silence{ID: id, Matchers: mustMatchers(t, matchers...), StartsAt: time.Now(), EndsAt: time.Now().Add(d)})
}

func probeInhibition(t *testing.T) []InhibitRule {
	return []InhibitRule{{
		SourceMatchers: mustMatchers(t, `alertname="ProbeDown"`),
		TargetMatchers: mustMatchers(t, `alertname="ProbeDegraded"`),
		Equal:          []model.LabelName{"probe"},
	}}
}

func TestInhibition(t *testing.T) {
	t.Run("a firing source mutes targets with equal labels only", func(t *testing.T) {
		opts := Options{Route: testRoute(), Inhibit: probeInhibition(t)}
		bubble(t, opts, func(t *testing.T, d *Dispatcher, sink *memSink) {
			down := alert("ProbeDown", "1", "probe", "web")
			d.Put(down, alert("ProbeDegraded", "1", "probe", "web"), alert("ProbeDegraded", "2", "probe", "db"))
			sleep(time.Second)
			expect(t, sink,
				`+1s team firing {alertname="ProbeDegraded"} [ProbeDegraded/2:firing]`,
				`+1s team firing {alertname="ProbeDown"} [ProbeDown/1:firing]`)

			d.Put(resolve(down), alert("ProbeDegraded", "1", "probe", "web"), alert("ProbeDegraded", "2", "probe", "db"))
			sleep(10 * time.Second)
			expect(t, sink,
				`+11s team firing {alertname="ProbeDegraded"} [ProbeDegraded/1:firing ProbeDegraded/2:firing]`,
				`+11s team resolved {alertname="ProbeDown"} [ProbeDown/1:resolved]`)
		})
	})
	t.Run("an alert matching both sides does not inhibit itself", func(t *testing.T) {
		opts := Options{Route: testRoute(), Inhibit: []InhibitRule{{
			SourceMatchers: mustMatchers(t, `severity="critical"`),
			TargetMatchers: mustMatchers(t, `severity=~"critical|warning"`),
			Equal:          []model.LabelName{"probe"},
		}}}
		bubble(t, opts, func(t *testing.T, d *Dispatcher, sink *memSink) {
			d.Put(alert("Down", "1", "probe", "web", "severity", "critical"),
				alert("Slow", "1", "probe", "web", "severity", "warning"))
			sleep(time.Second)
			expect(t, sink, `+1s team firing {alertname="Down"} [Down/1:firing]`)
			groups := d.Groups()
			if len(groups) != 2 || groups[1].Alerts[0].State != StateSuppressed ||
				len(groups[1].Alerts[0].InhibitedBy) != 1 || groups[0].Alerts[0].State != StateActive {
				t.Fatalf("Groups() = %+v", groups)
			}
		})
	})
}

func TestSilences(t *testing.T) {
	t.Run("silenced alerts are not sent and show as suppressed", func(t *testing.T) {
		sil := &mutableSilences{}
		bubble(t, Options{Route: testRoute(), Silences: sil}, func(t *testing.T, d *Dispatcher, sink *memSink) {
			sil.add(t, "s1", time.Minute, `inst="a"`)
			d.Put(alert("Down", "a"), alert("Down", "b"))
			sleep(time.Second)
			expect(t, sink, `+1s team firing {alertname="Down"} [Down/b:firing]`)
			got := d.Groups()[0].Alerts
			if got[0].State != StateSuppressed || !slices.Equal(got[0].SilencedBy, []string{"s1"}) || got[1].State != StateActive {
				t.Fatalf("Groups() alerts = %+v", got)
			}
			sleep(time.Minute) // the silence ends: a is new to the receiver
			expect(t, sink, `+1m1s team firing {alertname="Down"} [Down/a:firing Down/b:firing]`)
		})
	})

	// Each case: a fires and, per the case, is notified or not, then is
	// silenced, then resolves while silenced.
	tests := []struct {
		name        string
		sendWhen    bool
		notifiedYet bool
		want        []string
	}{
		{"notified, then silenced, resolves: sent when the option is on", true, true,
			[]string{`+1m11s team resolved {alertname="Down"} [Down/a:resolved]`}},
		{"notified, then silenced, resolves: dropped when the option is off", false, true, nil},
		{"silenced all its life: never sent", true, false, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sil := &mutableSilences{}
			opts := Options{Route: testRoute(), Silences: sil, SendResolvedWhenMuted: tt.sendWhen}
			bubble(t, opts, func(t *testing.T, d *Dispatcher, sink *memSink) {
				if !tt.notifiedYet {
					sil.add(t, "s1", time.Hour, `alertname="Down"`)
				}
				a := alert("Down", "a")
				d.Put(a)
				sleep(time.Second)
				if tt.notifiedYet {
					expect(t, sink, `+1s team firing {alertname="Down"} [Down/a:firing]`)
					sil.add(t, "s1", time.Hour, `alertname="Down"`)
				}
				sleep(time.Minute)
				expect(t, sink) // silenced while firing: nothing, not even the repeat
				d.Put(resolve(a))
				sleep(10 * time.Second)
				expect(t, sink, tt.want...)
				if g := d.Snapshot(); len(g) > 0 && len(g[`{}:{alertname="Down"}`].Firing) > 0 {
					t.Fatalf("receiver still believed firing after resolution: %v", g)
				}
				sleep(time.Hour)
				expect(t, sink)
			})
		})
	}
}

func TestSilenceTimes(t *testing.T) {
	start := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	s := Silence{ID: "s", Matchers: mustMatchers(t, `a="1"`), StartsAt: start, EndsAt: start.Add(time.Hour)}
	tests := []struct {
		name            string
		at              time.Time
		active, expired bool
	}{
		{"pending", start.Add(-time.Second), false, false},
		{"starts at StartsAt", start, true, false},
		{"active", start.Add(30 * time.Minute), true, false},
		{"ends at EndsAt", start.Add(time.Hour), false, true},
		{"expired", start.Add(2 * time.Hour), false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if s.Active(tt.at) != tt.active || s.Expired(tt.at) != tt.expired {
				t.Fatalf("Active = %t, Expired = %t; want %t, %t", s.Active(tt.at), s.Expired(tt.at), tt.active, tt.expired)
			}
			if got := s.Mutes(model.LabelSet{"a": "1"}, tt.at); got != tt.active {
				t.Fatalf("Mutes = %t, want %t", got, tt.active)
			}
		})
	}
}
