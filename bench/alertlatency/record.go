package main

import (
	"encoding/json"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/common/model"

	"github.com/lookout-dev/lookout/alerting"
	"github.com/lookout-dev/lookout/alerting/dispatch"
	"github.com/lookout-dev/lookout/alerting/notify/webhook"
	"github.com/lookout-dev/lookout/alerting/rules"
)

// idLabel tells the bench's alerts apart; each alert has its own value.
const idLabel = "alert_id"

// timeline is when one alert passed each stage, in wall-clock time.
type timeline struct {
	tick     time.Time // start of the evaluation at which it turned firing
	eval     int       // that evaluation's number, from 0
	put      time.Time // the rule manager handed it, firing, to the dispatcher
	enqueued time.Time // the outbox committed its notification
	arrived  time.Time // the webhook request reached the server
}

// recorder keeps each alert's timeline. The rule manager, the
// dispatcher, the outbox and the HTTP server all call into it.
type recorder struct {
	mu        sync.Mutex
	lastTick  time.Time // start of the current evaluation
	lastEval  int       // its number
	alerts    map[string]*timeline
	resolved  int // resolved notifications received
	arrivedN  int
	allIn     chan struct{}
	wantFired int
}

func newRecorder(n int) *recorder {
	return &recorder{alerts: map[string]*timeline{}, allIn: make(chan struct{}), wantFired: n}
}

func (r *recorder) get(id string) *timeline {
	tl := r.alerts[id]
	if tl == nil {
		tl = &timeline{}
		r.alerts[id] = tl
	}
	return tl
}

// tickStarted is called as each evaluation starts (from Options.Ingest).
func (r *recorder) tickStarted(k int, now time.Time) {
	r.mu.Lock()
	r.lastEval, r.lastTick = k, now
	r.mu.Unlock()
}

// sender is the rule manager's Sender: it notes the first time each
// alert is handed over firing, then passes everything to the dispatcher.
type sender struct {
	r *recorder
	d *dispatch.Dispatcher
}

var _ rules.Sender = sender{}

func (s sender) Put(alerts ...alerting.Alert) {
	now := time.Now()
	s.r.mu.Lock()
	for i := range alerts {
		if tl := s.r.get(string(alerts[i].Labels[idLabel])); alerts[i].EndsAt.IsZero() && tl.put.IsZero() {
			tl.tick, tl.eval, tl.put = s.r.lastTick, s.r.lastEval, now
		}
	}
	s.r.mu.Unlock()
	s.d.Put(alerts...)
}

// enqueued notes when a firing notification was committed.
func (r *recorder) enqueued(n *alerting.Notification, now time.Time) {
	if n.Status != alerting.StatusFiring {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := range n.Alerts {
		if tl := r.get(string(n.Alerts[i].Labels[idLabel])); tl.enqueued.IsZero() {
			tl.enqueued = now
		}
	}
}

// ServeHTTP is the webhook receiver: it notes when the request arrived,
// before reading the body, for each firing alert it carries.
func (r *recorder) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	now := time.Now()
	var m webhook.Message
	if err := json.NewDecoder(io.LimitReader(req.Body, 1<<20)).Decode(&m); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, a := range m.Alerts {
		if a.Status != string(model.AlertFiring) {
			r.resolved++
			continue
		}
		if tl := r.get(string(a.Labels[idLabel])); tl.arrived.IsZero() {
			tl.arrived = now
			r.arrivedN++
			if r.arrivedN == r.wantFired {
				close(r.allIn)
			}
		}
	}
}
