package dispatch

import (
	"log/slog"
	"maps"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/model"

	"github.com/lookout-dev/lookout/alerting"
)

func TestNotificationID(t *testing.T) {
	run := func(t *testing.T) []string {
		var ids []string
		bubble(t, Options{Route: testRoute()}, func(t *testing.T, d *Dispatcher, sink *memSink) {
			d.Put(alert("Down", "a"), alert("Slow", "a"))
			sleep(time.Second)
			d.Put(alert("Down", "b"))
			sleep(10 * time.Second)
			for _, n := range sink.notifications() {
				ids = append(ids, n.ID)
			}
		})
		return ids
	}
	first := run(t)
	if len(first) != 3 {
		t.Fatalf("got %d notifications, want 3", len(first))
	}
	t.Run("unique per group and flush", func(t *testing.T) {
		seen := map[string]bool{}
		for _, id := range first {
			if seen[id] {
				t.Fatalf("ID %s repeats in %q", id, first)
			}
			seen[id] = true
		}
	})
	t.Run("deterministic", func(t *testing.T) {
		if again := run(t); strings.Join(again, ",") != strings.Join(first, ",") {
			t.Fatalf("IDs differ between identical runs: %q, %q", first, again)
		}
	})
}

func TestEnqueueFailure(t *testing.T) {
	bubble(t, Options{Route: testRoute()}, func(t *testing.T, d *Dispatcher, sink *memSink) {
		sink.setFail(errOutboxFull)
		a := alert("Down", "a")
		d.Put(a)
		sleep(time.Second)
		expect(t, sink)
		if s := d.Snapshot(); len(s) != 0 {
			t.Fatalf("state recorded for a notification the sink refused: %v", s)
		}
		sink.setFail(nil)
		sleep(10 * time.Second)
		expect(t, sink, `+11s team firing {alertname="Down"} [Down/a:firing]`)

		// A refused resolved notification keeps the alert for the retry.
		sink.setFail(errOutboxFull)
		d.Put(resolve(a))
		sleep(10 * time.Second)
		sink.setFail(nil)
		sleep(10 * time.Second)
		expect(t, sink, `+31s team resolved {alertname="Down"} [Down/a:resolved]`)
	})
}

func TestRestart(t *testing.T) {
	// Before the restart a and b fire and were notified.
	var saved map[string]NotifiedState
	bubble(t, Options{Route: testRoute()}, func(t *testing.T, d *Dispatcher, sink *memSink) {
		d.Put(alert("Down", "a"), alert("Down", "b"), alert("Slow", "a"))
		sleep(time.Second)
		expect(t, sink,
			`+1s team firing {alertname="Down"} [Down/a:firing Down/b:firing]`,
			`+1s team firing {alertname="Slow"} [Slow/a:firing]`)
		saved = d.Snapshot()
	})
	tests := []struct {
		name string
		put  func() []alerting.Alert
		want []string
	}{
		{
			name: "alerts still firing do not page again",
			put:  func() []alerting.Alert { return []alerting.Alert{old(alert("Down", "a")), old(alert("Down", "b"))} },
		},
		{
			name: "an alert that cleared gets its resolved",
			put: func() []alerting.Alert {
				return []alerting.Alert{old(alert("Down", "a")), resolve(old(alert("Down", "b"))), resolve(old(alert("Slow", "a")))}
			},
			want: []string{
				`+0s team firing {alertname="Down"} [Down/a:firing Down/b:resolved]`,
				`+0s team resolved {alertname="Slow"} [Slow/a:resolved]`,
			},
		},
		{
			name: "a new alert in a known group is sent",
			put: func() []alerting.Alert {
				return []alerting.Alert{old(alert("Down", "a")), old(alert("Down", "b")), alert("Down", "c")}
			},
			want: []string{`+0s team firing {alertname="Down"} [Down/a:firing Down/b:firing Down/c:firing]`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			restored := maps.Clone(saved)
			bubble(t, Options{Route: testRoute()}, func(t *testing.T, d *Dispatcher, sink *memSink) {
				d.Restore(restored)
				d.Put(tt.put()...)
				synctest.Wait()
				expect(t, sink, tt.want...)
				sleep(30 * time.Second) // group_interval ticks, before repeat_interval
				expect(t, sink)
			})
		})
	}
	t.Run("unclaimed state is kept until the longest repeat interval has passed", func(t *testing.T) {
		bubble(t, Options{Route: testRoute()}, func(t *testing.T, d *Dispatcher, sink *memSink) {
			d.Restore(saved)
			if got := len(d.Snapshot()); got != 2 {
				t.Fatalf("Snapshot has %d groups right after Restore, want 2", got)
			}
			sleep(time.Minute) // last notified at +1s before the restart
			if got := len(d.Snapshot()); got != 2 {
				t.Fatalf("Snapshot has %d groups within the repeat interval, want 2", got)
			}
			sleep(2 * time.Second)
			if got := len(d.Snapshot()); got != 0 {
				t.Fatalf("Snapshot has %d groups a repeat interval later, want 0", got)
			}
		})
	})
}

// old returns a with a StartsAt before the restart.
func old(a alerting.Alert) alerting.Alert {
	a.StartsAt = a.StartsAt.Add(-time.Hour)
	return a
}

// stateSink is an outbox that stores group state with each notification.
type stateSink struct {
	memSink
	mu     sync.Mutex
	states map[string]NotifiedState
}

var _ StateSink = (*stateSink)(nil)

func (s *stateSink) EnqueueWithState(n *alerting.Notification, groupKey string, st NotifiedState) error {
	if err := s.Enqueue(n); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.states[groupKey] = st
	return nil
}

func TestStateSink(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sink := &stateSink{states: map[string]NotifiedState{}}
		d := New(Options{Route: testRoute()}, sink, nil, slog.New(slog.DiscardHandler))
		d.Put(alert("Down", "a"), alert("Down", "b"))
		time.Sleep(time.Second)
		d.flushDue(time.Now())
		want := d.Snapshot()
		sink.mu.Lock()
		defer sink.mu.Unlock()
		if len(sink.states) != 1 || len(want) != 1 {
			t.Fatalf("stored %v, snapshot %v; want one group each", sink.states, want)
		}
		for k, st := range want {
			got := sink.states[k]
			if !got.NotifiedAt.Equal(st.NotifiedAt) || len(got.Firing) != 2 || got.Firing[0] != st.Firing[0] || got.Firing[1] != st.Firing[1] {
				t.Fatalf("stored state %v, snapshot %v", got, st)
			}
		}
	})
}

func TestMetrics(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		reg := prometheus.NewRegistry()
		d := New(Options{
			Route:    testRoute(),
			Inhibit:  probeInhibition(t),
			Silences: SilenceList{{ID: "s1", Matchers: mustMatchers(t, `inst="b"`), EndsAt: time.Now().Add(time.Hour)}},
		}, &memSink{}, reg, nil)
		d.Put(
			alert("ProbeDown", "a", "probe", "web"),
			alert("ProbeDegraded", "a", "probe", "web"), // inhibited
			alert("ProbeDegraded", "b", "probe", "db"),  // silenced
			alert("ProbeDegraded", "c", "probe", "db"),
			resolve(alert("Gone", "a")), // forms no group
		)
		const want = `
# HELP lookout_alert_groups Aggregation groups the dispatcher holds.
# TYPE lookout_alert_groups gauge
lookout_alert_groups 2
# HELP lookout_alerts Firing alerts the dispatcher holds, by whether they are notified (active) or silenced or inhibited (suppressed).
# TYPE lookout_alerts gauge
lookout_alerts{state="active"} 2
lookout_alerts{state="suppressed"} 2
`
		if err := testutil.GatherAndCompare(reg, strings.NewReader(want)); err != nil {
			t.Fatal(err)
		}
	})
}

// TestMerge: a group another dispatcher told about an alert firing sends
// its resolved notification here, and does not page for it again.
func TestMerge(t *testing.T) {
	sink := &memSink{}
	d := New(Options{Route: &Route{Receiver: "oncall", GroupBy: []model.LabelName{"alertname"}, GroupWait: time.Nanosecond, GroupInterval: time.Hour, RepeatInterval: 4 * time.Hour}}, sink, nil, nil)
	fired := alerting.Alert{Labels: model.LabelSet{"alertname": "ProbeDown", "probe": "api"}, StartsAt: time.Now().Add(-time.Minute)}
	key := d.tree.match(fired.Labels)[0].groupKey(model.LabelSet{"alertname": "ProbeDown"})
	d.Merge(map[string]NotifiedState{key: {Firing: []model.Fingerprint{fired.Fingerprint()}, NotifiedAt: time.Now()}})
	d.Put(fired)
	d.flushDue(time.Now())
	if n := len(sink.notifications()); n != 0 {
		t.Fatalf("an alert another replica paged for paged again: %d notifications", n)
	}
	resolved := fired
	resolved.EndsAt = time.Now()
	d.Merge(map[string]NotifiedState{key: {Firing: []model.Fingerprint{fired.Fingerprint()}}}) // into the group now
	d.Put(resolved)
	d.flushDue(time.Now().Add(time.Hour))
	if got := sink.notifications(); len(got) != 1 || got[0].Status != alerting.StatusResolved {
		t.Errorf("after it resolved: %+v; want one resolved notification", got)
	}
}
