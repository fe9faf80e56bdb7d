package dispatch

import (
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/common/model"
)

func TestGroupTimers(t *testing.T) {
	t.Run("group_wait collects the alerts of a new group", func(t *testing.T) {
		bubble(t, Options{Route: testRoute()}, func(t *testing.T, d *Dispatcher, sink *memSink) {
			d.Put(alert("Down", "a"))
			sleep(500 * time.Millisecond)
			d.Put(alert("Down", "b"))
			sleep(499 * time.Millisecond)
			expect(t, sink)
			sleep(time.Millisecond)
			expect(t, sink, `+1s team firing {alertname="Down"} [Down/a:firing Down/b:firing]`)
		})
	})
	t.Run("group_interval paces updates of a changed group", func(t *testing.T) {
		bubble(t, Options{Route: testRoute()}, func(t *testing.T, d *Dispatcher, sink *memSink) {
			d.Put(alert("Down", "a"))
			sleep(time.Second)
			expect(t, sink, `+1s team firing {alertname="Down"} [Down/a:firing]`)
			sleep(2 * time.Second)
			d.Put(alert("Down", "a"), alert("Down", "b"))
			sleep(7*time.Second + 999*time.Millisecond)
			expect(t, sink)
			sleep(time.Millisecond)
			expect(t, sink, `+11s team firing {alertname="Down"} [Down/a:firing Down/b:firing]`)
		})
	})
	t.Run("repeat_interval re-sends an unchanged firing group", func(t *testing.T) {
		bubble(t, Options{Route: testRoute()}, func(t *testing.T, d *Dispatcher, sink *memSink) {
			d.Put(alert("Down", "a"))
			sleep(time.Second)
			expect(t, sink, `+1s team firing {alertname="Down"} [Down/a:firing]`)
			sleep(59 * time.Second)
			expect(t, sink)
			sleep(time.Second) // the tick at +1m1s is the first a minute after +1s
			expect(t, sink, `+1m1s team firing {alertname="Down"} [Down/a:firing]`)
			sleep(time.Minute)
			expect(t, sink, `+2m1s team firing {alertname="Down"} [Down/a:firing]`)
		})
	})
	t.Run("an alert older than group_wait is sent at once", func(t *testing.T) {
		bubble(t, Options{Route: testRoute()}, func(t *testing.T, d *Dispatcher, sink *memSink) {
			a := alert("Down", "a")
			a.StartsAt = a.StartsAt.Add(-time.Hour)
			d.Put(a)
			synctest.Wait()
			expect(t, sink, `+0s team firing {alertname="Down"} [Down/a:firing]`)
		})
	})
}

func TestResolved(t *testing.T) {
	t.Run("resolved alert sent once then dropped; all resolved removes the group", func(t *testing.T) {
		bubble(t, Options{Route: testRoute()}, func(t *testing.T, d *Dispatcher, sink *memSink) {
			a, b := alert("Down", "a"), alert("Down", "b")
			d.Put(a, b)
			sleep(time.Second)
			expect(t, sink, `+1s team firing {alertname="Down"} [Down/a:firing Down/b:firing]`)
			sleep(time.Second)
			d.Put(a, resolve(b))
			sleep(9 * time.Second)
			expect(t, sink, `+11s team firing {alertname="Down"} [Down/a:firing Down/b:resolved]`)
			sleep(10 * time.Second)
			expect(t, sink)
			d.Put(resolve(a))
			sleep(10 * time.Second)
			expect(t, sink, `+31s team resolved {alertname="Down"} [Down/a:resolved]`)
			if g := d.Groups(); len(g) != 0 {
				t.Fatalf("groups left: %v", g)
			}
			sleep(time.Hour)
			expect(t, sink)
		})
	})
	t.Run("fired and resolved within group_wait sends nothing", func(t *testing.T) {
		bubble(t, Options{Route: testRoute()}, func(t *testing.T, d *Dispatcher, sink *memSink) {
			a := alert("Flap", "a")
			d.Put(a)
			sleep(500 * time.Millisecond)
			d.Put(resolve(a))
			sleep(time.Hour)
			expect(t, sink)
		})
	})
	t.Run("a resolved alert nobody heard of forms no group", func(t *testing.T) {
		bubble(t, Options{Route: testRoute()}, func(t *testing.T, d *Dispatcher, sink *memSink) {
			d.Put(resolve(alert("Old", "a")))
			synctest.Wait()
			if g := d.Snapshot(); len(g) != 0 {
				t.Fatalf("state for a resolved alert: %v", g)
			}
			sleep(time.Hour)
			expect(t, sink)
		})
	})
	t.Run("an alert whose EndsAt passes resolves by itself", func(t *testing.T) {
		bubble(t, Options{Route: testRoute()}, func(t *testing.T, d *Dispatcher, sink *memSink) {
			a := alert("Down", "a")
			a.EndsAt = time.Now().Add(15 * time.Second) // valid until, as Prometheus sends
			d.Put(a)
			sleep(time.Second)
			expect(t, sink, `+1s team firing {alertname="Down"} [Down/a:firing]`)
			sleep(20 * time.Second)
			expect(t, sink, `+21s team resolved {alertname="Down"} [Down/a:resolved]`)
		})
	})
}

func TestGroupingAndRouting(t *testing.T) {
	t.Run("group_by splits groups and names them", func(t *testing.T) {
		r := testRoute()
		r.GroupBy = []model.LabelName{"alertname", "probe"}
		bubble(t, Options{Route: r}, func(t *testing.T, d *Dispatcher, sink *memSink) {
			d.Put(alert("Down", "a", "probe", "web"), alert("Down", "b", "probe", "db"), alert("Down", "c", "probe", "web"))
			sleep(time.Second)
			expect(t, sink,
				`+1s team firing {alertname="Down", probe="db"} [Down/b:firing]`,
				`+1s team firing {alertname="Down", probe="web"} [Down/a:firing Down/c:firing]`)
		})
	})
	t.Run("continue sends to every matching route; others go to the parent", func(t *testing.T) {
		r := testRoute()
		r.Routes = []*Route{
			{Receiver: "oncall", Matchers: mustMatchers(t, `severity="page"`), Continue: true},
			{Receiver: "db", Matchers: mustMatchers(t, `team="db"`)},
		}
		bubble(t, Options{Route: r}, func(t *testing.T, d *Dispatcher, sink *memSink) {
			d.Put(alert("Down", "a", "severity", "page", "team", "db"), alert("Slow", "b"))
			sleep(time.Second)
			expect(t, sink,
				`+1s oncall firing {alertname="Down"} [Down/a:firing]`,
				`+1s db firing {alertname="Down"} [Down/a:firing]`,
				`+1s team firing {alertname="Slow"} [Slow/b:firing]`)
		})
	})
}
