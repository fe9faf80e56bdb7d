package dispatch

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/common/model"

	"github.com/lookout-dev/lookout/alerting"
)

// memSink is an in-memory outbox: it records what it is given, and
// fails while fail is set.
type memSink struct {
	mu    sync.Mutex
	got   []*alerting.Notification
	fail  error
	start time.Time
}

var _ Sink = (*memSink)(nil)

func (s *memSink) Enqueue(n *alerting.Notification) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail != nil {
		return s.fail
	}
	s.got = append(s.got, n)
	return nil
}

func (s *memSink) setFail(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fail = err
}

// take returns the notifications received since the last take, each
// summarised by describe.
func (s *memSink) take() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, n := range s.got {
		out = append(out, describe(n, s.start))
	}
	s.got = nil
	return out
}

func (s *memSink) notifications() []*alerting.Notification {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*alerting.Notification(nil), s.got...)
}

// describe renders a notification as
// "+30s receiver firing {group labels} [name/inst:firing ...]".
func describe(n *alerting.Notification, start time.Time) string {
	var as []string
	for _, a := range n.Alerts {
		st := "firing"
		if a.ResolvedAt(n.CreatedAt) {
			st = "resolved"
		}
		as = append(as, fmt.Sprintf("%s/%s:%s", a.Name(), a.Labels["inst"], st))
	}
	return fmt.Sprintf("+%s %s %s %s [%s]", n.CreatedAt.Sub(start), n.Receiver, n.Status,
		n.GroupLabels, strings.Join(as, " "))
}

// alert returns a firing alert named name on instance inst, with extra
// labels given as name, value pairs.
func alert(name, inst string, extra ...string) alerting.Alert {
	ls := model.LabelSet{model.AlertNameLabel: model.LabelValue(name), "inst": model.LabelValue(inst)}
	for i := 0; i+1 < len(extra); i += 2 {
		ls[model.LabelName(extra[i])] = model.LabelValue(extra[i+1])
	}
	return alerting.Alert{Labels: ls, StartsAt: time.Now()}
}

// resolve returns a resolved now.
func resolve(a alerting.Alert) alerting.Alert {
	a.EndsAt = time.Now()
	return a
}

// bubble runs f in a synctest bubble with a running dispatcher for opts
// and stops the dispatcher afterwards, failing if Run does not return.
func bubble(t *testing.T, opts Options, f func(t *testing.T, d *Dispatcher, sink *memSink)) {
	t.Helper()
	synctest.Test(t, func(t *testing.T) {
		sink := &memSink{start: time.Now()}
		d := New(opts, sink, nil, slog.New(slog.NewTextHandler(t.Output(), nil)))
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { done <- d.Run(ctx) }()
		f(t, d, sink)
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
}

// sleep advances the bubble's clock and lets the dispatcher catch up.
func sleep(d time.Duration) {
	time.Sleep(d)
	synctest.Wait()
}

// expect fails unless the sink received exactly want since the last
// check.
func expect(t *testing.T, sink *memSink, want ...string) {
	t.Helper()
	got := sink.take()
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("notifications:\n got %s\nwant %s", strings.Join(got, "\n     "), strings.Join(want, "\n     "))
	}
}

var errOutboxFull = errors.New("outbox full")

// testRoute groups by alertname with short timers: group_wait 1s,
// group_interval 10s, repeat_interval 1m.
func testRoute() *Route {
	return &Route{
		Receiver:       "team",
		GroupBy:        []model.LabelName{"alertname"},
		GroupWait:      time.Second,
		GroupInterval:  10 * time.Second,
		RepeatInterval: time.Minute,
	}
}
