//go:build linux

package daemon

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/slack-go/slack/slacktest"

	"github.com/lookout-dev/lookout/alerting/notify/sentry/sentrytest"
	"github.com/lookout-dev/lookout/collectors/mongodb/ferretdbtest"
)

// The shape of TestClusterChaos.
const (
	ccProbes        = 20                     // probes of replicas 1, each with its own target, alert group, receiver and Slack channel
	ccIncidents     = 50                     // incidents driven over them
	ccInFlight      = 5                      // incidents at once, at most, besides those a phase starts itself
	ccInterval      = 200 * time.Millisecond // every probe's interval
	ccLease         = 2 * time.Second
	ccFailOpenAfter = 8 * time.Second
	// ccCooldown is how long a probe rests, up, between two of its
	// incidents, so that a late duplicate is counted in its own incident.
	ccCooldown = 1500 * time.Millisecond
	// ccWait bounds the wait for an incident's firing and its resolved
	// notifications; a notification still missing then is counted as lost.
	ccWait = 45 * time.Second
)

// ccKeys are what an incident must get exactly once outside the fail-open
// window: Slack's message, resolve edit and resolve reply in the thread,
// and one firing and one resolved notification (by distinct ID) in Sentry
// and in the webhook.
var ccKeys = []string{"slack/post", "slack/update", "slack/reply", "sentry/firing", "sentry/resolved", "webhook/firing", "webhook/resolved"}

// ccReplicas are the replicas' names; the Sentry project of each is its
// index plus one.
var ccReplicas = []string{"lookout-a", "lookout-b", "lookout-c"}

// TestClusterChaos: three `lookout run` replicas, each a child process,
// share one FerretDB while 50 incidents come and go on 20 probes (a few at
// a time). Meanwhile the leader is killed with SIGKILL and started again,
// the next leader is paused with SIGSTOP for longer than two leases, the
// database stops for less than fail_open_after, then for longer.
//
// Slack, Sentry and a webhook must each get exactly one firing and one
// resolved notification per incident (Slack: one message, one resolve
// edit, one reply), except around the long outage, where every replica
// pages its own alerts (fail open): there duplicates are counted, not
// forbidden, but nothing may be missing, an alert that begins while the
// database is down must page before it comes back, and each replica's
// lookout_cluster_fail_open_notifications_total must count what it sent.
// The paused leader must send nothing once it wakes. It logs the failover
// times, the duplicates of the fail-open window and the probe runs lost
// or doubled while probes move between replicas.
func TestClusterChaos(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster chaos test takes about two minutes")
	}
	if os.Getenv(childConfigEnv) != "" {
		t.Skip("in the child")
	}
	db := ferretdbtest.StartWith(t, ferretdbtest.Options{OnDisk: true})
	h := newClusterChaos(t, db)
	for _, r := range h.replicas {
		h.start(r)
	}
	views := h.agreed(3)
	h.t0 = time.Now()
	driven := make(chan struct{})
	go func() { defer close(driven); h.drive() }()

	// The phases, each once a share of the incidents started, with more
	// allowed to start during it.
	h.allow(10)
	h.waitLaunched(8)
	h.allow(20)
	views = h.killLeader(views[0])
	h.waitLaunched(18)
	h.allow(30)
	h.pauseLeader(views[0])
	h.waitLaunched(28)
	h.allow(38)
	h.shortOutage()
	h.waitLaunched(36)
	h.allow(ccIncidents)
	counters := h.longOutage()

	select {
	case <-driven:
	case <-time.After(90 * time.Second):
		t.Fatalf("the %d incidents did not all start within 90 s of the last phase", ccIncidents)
	}
	h.wg.Wait()
	time.Sleep(3 * time.Second) // anything sent twice would arrive by now
	h.end = time.Now()
	wrong := h.report(counters)
	h.checkChildLogs(len(wrong) > 0)
	if len(wrong) > 0 {
		slices.Sort(wrong)
		t.Errorf("%d wrong counts (times from the replicas' agreement at the start):\n%s", len(wrong), strings.Join(wrong[:min(len(wrong), 25)], "\n"))
	}
}

// killLeader SIGKILLs the leader of v while an incident starts on a probe
// of another replica, and starts it again 8 s later with the same config.
func (h *clusterChaos) killLeader(v clusterView) []clusterView {
	t := h.t
	victim := h.replica(v.Leader)
	h.sinks.hold()
	time.Sleep(2 * time.Second) // answers already given get recorded
	h.killAt = time.Now()
	kill(t, victim.cmd)
	victim.up = false
	h.killIncident = h.launchOn(func(p string) bool { return ownerOf(v, p) != victim.name })
	time.Sleep(time.Second) // the server notices the held requests' connections closed
	h.sinks.refuseHeld()
	after := h.newLeader(v.Epoch)
	h.killLed = time.Now()
	sleepUntil(h.killAt.Add(8 * time.Second))
	h.start(victim)
	views := h.agreed(3)
	h.window("kill", h.killAt, time.Now().Add(2*time.Second))
	t.Logf("SIGKILL: %s led at epoch %d; %s took over at epoch %d; %s started again", victim.name, v.Epoch, after[0].Leader, after[0].Epoch, victim.name)
	return views
}

// pauseLeader SIGSTOPs the leader of v, while an incident starts on a
// probe of another replica, for two leases and a half, then SIGCONTs it.
func (h *clusterChaos) pauseLeader(v clusterView) {
	t := h.t
	paused := h.replica(v.Leader)
	h.sinks.hold()
	time.Sleep(2 * time.Second)
	h.stopAt = time.Now()
	if err := paused.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	paused.up = false
	h.stopIncident = h.launchOn(func(p string) bool { return ownerOf(v, p) != paused.name })
	time.Sleep(300 * time.Millisecond)
	h.sinks.refuseHeld()
	after := h.newLeader(v.Epoch)
	h.stopLed = time.Now()
	sleepUntil(h.stopAt.Add(2*ccLease + ccLease/2))
	h.contAt = time.Now()
	if err := paused.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	paused.up = true
	views := h.agreed(3)
	h.paused, h.rejoined = paused.name, time.Now()
	h.window("stop", h.stopAt, time.Now().Add(2*time.Second))
	t.Logf("SIGSTOP: %s paused for %s; %s took over at epoch %d; after SIGCONT %s leads at epoch %d",
		paused.name, h.contAt.Sub(h.stopAt).Round(time.Millisecond), after[0].Leader, after[0].Epoch, views[0].Leader, views[0].Epoch)
}

// shortOutage stops the database for half of fail_open_after.
func (h *clusterChaos) shortOutage() {
	stop := time.Now()
	h.db.Stop()
	time.Sleep(ccFailOpenAfter / 2)
	h.db.Restart()
	h.agreed(3)
	h.window("db-short", stop, time.Now().Add(2*time.Second))
}

// longOutage stops the database for fail_open_after and 5 s more, so each
// replica pages on its own meanwhile, with an incident starting a second
// in; it returns each replica's lookout_cluster_fail_open_notifications_total
// once the database is back.
func (h *clusterChaos) longOutage() map[string]float64 {
	h.db2Stop = time.Now()
	h.db.Stop()
	time.Sleep(time.Second)
	h.failOpenIncident = h.launchOn(func(string) bool { return true })
	sleepUntil(h.db2Stop.Add(ccFailOpenAfter + 5*time.Second))
	h.db.Restart()
	h.db2Back = time.Now()
	views := h.agreed(3)
	time.Sleep(2 * time.Second) // what was sent from memory arrives
	h.failOpenEnd = time.Now()
	h.window("db-long", h.db2Stop, h.failOpenEnd)
	h.t.Logf("after the outages %s leads at epoch %d", views[0].Leader, views[0].Epoch)
	return h.failOpenCounters()
}

// clusterChaos is TestClusterChaos's world: the replicas, the database,
// the targets, what the integrations accepted, and the incidents.
type clusterChaos struct {
	t        *testing.T
	db       *ferretdbtest.Server
	targets  *probeTargets
	sinks    *chaosSinks
	slack    *chaosSlack
	probes   []string
	replicas []*chaosReplica
	logDir   string

	// When the phases happened; windows are the spans each phase
	// disturbed, by name.
	t0, end                               time.Time
	killAt, killLed, stopAt, stopLed      time.Time
	contAt, db2Stop, db2Back, failOpenEnd time.Time
	windows                               []ccWindow
	// paused is the replica SIGSTOPped; rejoined when the others saw it
	// back after its SIGCONT.
	paused   string
	rejoined time.Time
	// The incidents the phases started themselves (nil when no probe
	// was free); read once every incident has ended.
	killIncident, stopIncident, failOpenIncident *incident

	allowance atomic.Int64 // incidents drive may have started by now
	wg        sync.WaitGroup
	mu        sync.Mutex
	incidents []*incident
	busy      map[string]bool // probes in an incident or resting after one
	used      map[string]int  // incidents per probe so far
	launched  int
	inFlight  int
}

// chaosReplica is one `lookout run` child; only the test's goroutine
// touches it.
type chaosReplica struct {
	name, cfg string
	cmd       *exec.Cmd
	base      string // its admin API
	logs      []string
	up        bool // running and not paused
}

// incident is one probe down until its firing notifications arrive, then
// up until its resolved ones do. Its fields are written by its own
// goroutine and read once clusterChaos.wg is done.
type incident struct {
	probe                   string
	start, fired, up, ended time.Time // fired: every integration's firing seen (zero if not)
	resolved                time.Time // every integration's resolved seen (zero if not)
}

// ccWindow is the span a phase disturbed: from its start until the
// replicas agreed again, and two seconds more.
type ccWindow struct {
	name     string
	from, to time.Time
}

func newClusterChaos(t *testing.T, db *ferretdbtest.Server) *clusterChaos {
	h := &clusterChaos{t: t, db: db, targets: newProbeTargets(t), sinks: &chaosSinks{probeRef: regexp.MustCompile(`\bp\d\d\b`)},
		busy: map[string]bool{}, used: map[string]int{}, logDir: t.ArtifactDir()}
	for i := range ccProbes {
		h.probes = append(h.probes, fmt.Sprintf("p%02d", i))
	}
	// chaosSlack (429 and 500 at random) behind the sinks' recording
	// and hold.
	h.slack = &chaosSlack{rng: rand.New(rand.NewPCG(7, 11)), posts: map[string]int{}, replies: map[string]int{}, updates: map[string]int{},
		probeRef: h.sinks.probeRef}
	h.slack.Server = slacktest.NewTestServer(func(cz slacktest.Customize) {
		cz.Handle("/chat.postMessage", h.sinks.slackHandler(h.slack.handle("chat.postMessage"), false))
		cz.Handle("/chat.update", h.sinks.slackHandler(h.slack.handle("chat.update"), true))
	})
	h.slack.Start()
	t.Cleanup(h.slack.Stop)
	sentry := &sentryServer{unique: map[string]map[string]int{}}
	sentry.srv = httptest.NewServer(h.sinks.sentryHandler(sentry))
	t.Cleanup(sentry.srv.Close)
	hook := httptest.NewServer(h.sinks.webhookHandler())
	t.Cleanup(hook.Close)
	// Each replica has a Sentry project and a webhook path of its own,
	// so the sinks know which replica sent what.
	for i, name := range ccReplicas {
		dsn := strings.Replace(sentry.srv.URL, "http://", "http://publickey@", 1) + "/" + strconv.Itoa(i+1)
		h.replicas = append(h.replicas, &chaosReplica{name: name,
			cfg: clusterChaosConfig(t, name, db.URI, h.targets.srv.URL, h.slack.GetAPIURL(), dsn, hook.URL+"/"+name)})
	}
	return h
}

// clusterChaosConfig writes replica name's config: ccProbes probes, each
// paging its own receiver (Slack channel, Sentry and webhook) through a
// ProbeDown of for: 0s. A probe is down after two failed runs in a row:
// on a loaded machine one run of a race-enabled replica now and then
// misses its 150 ms timeout, which would be a real page the test did not
// cause (and a probe that moves takes its failure window along).
func clusterChaosConfig(t *testing.T, name, uri, target, slackURL, dsn, hook string) string {
	t.Helper()
	dir := t.TempDir()
	var probes, routes, receivers strings.Builder
	for i := range ccProbes {
		p := fmt.Sprintf("p%02d", i)
		fmt.Fprintf(&probes, "  - {name: %s, interval: %s, timeout: 150ms, failure_threshold: {failures: 2, of: 2}, http: {url: %q}}\n", p, ccInterval, target+"/"+p)
		fmt.Fprintf(&routes, "      - {matchers: ['probe=\"%s\"'], receiver: r%02d}\n", p, i)
		fmt.Fprintf(&receivers, "    - name: r%02d\n      slack: {token: xoxb-test, channel: \"#c%02d\", api_url: %q}\n      sentry: {dsn: %q}\n      webhook: {url: %q}\n",
			i, i, slackURL, dsn, hook)
	}
	writeConfig(t, filepath.Join(dir, "rules.yml"), `groups:
  - name: chaos
    rules:
      - alert: ProbeDown
        expr: lookout_probe_state == 2
        labels: {severity: page}
        annotations: {summary: "Probe {{ $labels.probe }} is down"}
`)
	path := filepath.Join(dir, "lookout.yml")
	writeConfig(t, path, fmt.Sprintf(`server: {listen: "127.0.0.1:0"}
storage: {path: %q}
cluster:
  replica: %s
  mongodb: {uri: %q, database: lookout_chaos}
  lease: %s
  fail_open_after: %s
alerting:
  evaluation_interval: 200ms
  builtin_rules: false
  rule_files: [rules.yml]
  route:
    receiver: r00
    group_by: [alertname, probe]
    group_wait: 0s
    group_interval: 500ms
    repeat_interval: 1h
    routes:
%s  receivers:
%sprobes:
%s`, filepath.Join(dir, "data"), name, uri, ccLease, ccFailOpenAfter, routes.String(), receivers.String(), probes.String()))
	return path
}

// start runs the replica as a child process of the test binary (as
// startChild does), its output in a log file of its own, and learns its
// admin address from its "lookout started" line.
func (h *clusterChaos) start(r *chaosReplica) {
	t := h.t
	t.Helper()
	logPath := filepath.Join(h.logDir, fmt.Sprintf("%s.%d.log", r.name, len(r.logs)+1))
	f, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cmd := exec.Command(os.Args[0], "-test.run=^TestDaemonChild$", "-test.v")
	cmd.Env = append(os.Environ(), childConfigEnv+"="+r.cfg)
	cmd.Stdout, cmd.Stderr = f, f
	// The child dies with the test binary, even when a timeout ends it
	// before its cleanups run.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	r.cmd, r.up, r.logs = cmd, true, append(r.logs, logPath)
	listen := regexp.MustCompile(`msg="lookout started".* listen=(\S+)`)
	deadline := time.Now().Add(60 * time.Second)
	for {
		b, _ := os.ReadFile(logPath)
		if m := listen.FindSubmatch(b); m != nil {
			r.base = "http://" + string(m[1])
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not start within 60 s; its log:\n%s", r.name, b)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (h *clusterChaos) replica(name string) *chaosReplica {
	for _, r := range h.replicas {
		if r.name == name {
			return r
		}
	}
	h.t.Fatalf("no replica %q", name)
	return nil
}

// agreed waits until the running replicas see n replicas and one leader
// (cluster_test.go's agreed).
func (h *clusterChaos) agreed(n int) []clusterView {
	h.t.Helper()
	var rs []*running
	for _, r := range h.replicas {
		if r.up {
			rs = append(rs, &running{base: r.base})
		}
	}
	return agreed(h.t, rs, n)
}

// newLeader waits until the two replicas left agree on a leader with an
// epoch after epoch: the replicas count a dead member out when its lease
// would expire, and show its lease until one of them takes it over.
func (h *clusterChaos) newLeader(epoch int64) []clusterView {
	h.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		views := h.agreed(2)
		if views[0].Epoch > epoch {
			return views
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("no replica took the lease of epoch %d over within 20 s: %+v", epoch, views)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// ownerOf is the replica that runs probe p in view v.
func ownerOf(v clusterView, p string) string {
	for _, r := range v.Replicas {
		if slices.Contains(r.Probes, p) {
			return r.Replica
		}
	}
	return ""
}

func (h *clusterChaos) allow(n int64) { h.allowance.Store(n) }

// waitLaunched waits, for 30 s at most, until n incidents started (they
// stall when Lookout stops paging: the phases go on all the same).
func (h *clusterChaos) waitLaunched(n int) {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		h.mu.Lock()
		l := h.launched
		h.mu.Unlock()
		if l >= n {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (h *clusterChaos) window(name string, from, to time.Time) {
	h.windows = append(h.windows, ccWindow{name, from, to})
}

// drive starts an incident every 1.2 s while fewer than ccInFlight run
// and the allowance the phases set permits, until ccIncidents started.
func (h *clusterChaos) drive() {
	for {
		h.mu.Lock()
		done := h.launched >= ccIncidents
		room := h.launched < int(h.allowance.Load()) && h.inFlight < ccInFlight
		h.mu.Unlock()
		if done {
			return
		}
		if room {
			h.launchOn(func(string) bool { return true })
		}
		time.Sleep(1200 * time.Millisecond)
	}
}

// launchOn starts an incident on the free probe, among those pick
// accepts, with the fewest incidents so far; nil when there is none or
// all ccIncidents started.
func (h *clusterChaos) launchOn(pick func(p string) bool) *incident {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.launched >= ccIncidents {
		return nil
	}
	best := ""
	for i := range h.probes {
		p := h.probes[(i+h.launched)%len(h.probes)]
		if !h.busy[p] && pick(p) && (best == "" || h.used[p] < h.used[best]) {
			best = p
		}
	}
	if best == "" {
		return nil
	}
	inc := &incident{probe: best, start: time.Now()}
	h.busy[best] = true
	h.used[best]++
	h.launched++
	h.inFlight++
	h.incidents = append(h.incidents, inc)
	h.wg.Add(1)
	go h.run(inc)
	return inc
}

// run is one incident: the probe's target down until each integration
// has its firing notification, then up until each has its resolved one.
func (h *clusterChaos) run(inc *incident) {
	defer h.wg.Done()
	h.targets.set(inc.probe, true)
	inc.fired = h.sinks.waitFor(inc.probe, inc.start, ccWait, "slack/post", "sentry/firing", "webhook/firing")
	h.targets.set(inc.probe, false)
	inc.up = time.Now()
	inc.resolved = h.sinks.waitFor(inc.probe, inc.start, ccWait, "sentry/resolved", "webhook/resolved")
	if !inc.resolved.IsZero() {
		// Slack's resolve edit and reply are a second apart at least
		// (its pace per channel), and may be retried after a 429.
		inc.resolved = h.sinks.waitFor(inc.probe, inc.start, 15*time.Second, "slack/update", "slack/reply")
	}
	inc.ended = time.Now()
	time.Sleep(ccCooldown)
	h.mu.Lock()
	h.busy[inc.probe] = false
	h.inFlight--
	h.mu.Unlock()
}

func sleepUntil(at time.Time) { time.Sleep(time.Until(at)) }

// failOpenCounters scrapes lookout_cluster_fail_open_notifications_total
// from each replica's /metrics.
func (h *clusterChaos) failOpenCounters() map[string]float64 {
	series := regexp.MustCompile(`(?m)^lookout_cluster_fail_open_notifications_total(?:\{[^}]*\})? (\S+)$`)
	out := map[string]float64{}
	for _, r := range h.replicas {
		_, body := (&running{base: r.base}).get(h.t, "/metrics")
		m := series.FindStringSubmatch(body)
		if m == nil {
			h.t.Fatalf("%s's /metrics has no lookout_cluster_fail_open_notifications_total", r.name)
		}
		v, err := strconv.ParseFloat(m[1], 64)
		if err != nil {
			h.t.Fatal(err)
		}
		out[r.name] = v
	}
	return out
}

// probeTargets is one HTTP target per probe, at /NAME: it answers 503
// while the probe is down, and notes when each run asked.
type probeTargets struct {
	srv  *httptest.Server
	mu   sync.Mutex
	down map[string]bool
	hits map[string][]time.Time
}

func newProbeTargets(t *testing.T) *probeTargets {
	pt := &probeTargets{down: map[string]bool{}, hits: map[string][]time.Time{}}
	pt.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := strings.TrimPrefix(r.URL.Path, "/")
		pt.mu.Lock()
		pt.hits[p] = append(pt.hits[p], time.Now())
		down := pt.down[p]
		pt.mu.Unlock()
		if down {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, "ok")
	}))
	t.Cleanup(pt.srv.Close)
	return pt
}

func (pt *probeTargets) set(p string, down bool) {
	pt.mu.Lock()
	pt.down[p] = down
	pt.mu.Unlock()
}

// delivery is one alert of one notification that an integration accepted.
type delivery struct {
	at          time.Time
	probe       string
	integration string // slack, sentry or webhook
	// kind is firing or resolved; for Slack post (the group's message),
	// update (its resolve edit) or reply (in its thread).
	kind string
	id   string // the webhook's Idempotency-Key, the Sentry event's ID; "" for Slack
	from string // the replica that sent it; "" for Slack
}

func (d delivery) key() string { return d.integration + "/" + d.kind }

// chaosSinks records what Slack, Sentry and the webhook accepted, with
// when. hold makes new requests wait; refuseHeld answers them 503. The
// test holds the sinks for two seconds before it kills or pauses the
// leader, the only replica that sends, and refuses what it had in flight:
// so the one duplicate the outbox documents (a send accepted an instant
// before its sender dies, before it records it) is left out, as TestChaos
// leaves it out, and a paused leader's request cannot be accepted while
// it sleeps.
type chaosSinks struct {
	probeRef *regexp.Regexp

	mu      sync.Mutex
	log     []delivery
	gate    chan struct{}
	refused int
}

func (s *chaosSinks) hold() {
	s.mu.Lock()
	s.gate = make(chan struct{})
	s.mu.Unlock()
}

func (s *chaosSinks) refuseHeld() {
	s.mu.Lock()
	gate := s.gate
	s.gate = nil
	s.mu.Unlock()
	close(gate)
}

// pass waits while the sinks are held; false: the request was held, and
// is refused.
func (s *chaosSinks) pass(w http.ResponseWriter) bool {
	s.mu.Lock()
	gate := s.gate
	s.mu.Unlock()
	if gate == nil {
		return true
	}
	<-gate
	s.mu.Lock()
	s.refused++
	s.mu.Unlock()
	http.Error(w, "held while its sender was killed or paused", http.StatusServiceUnavailable)
	return false
}

func (s *chaosSinks) add(d delivery) {
	s.mu.Lock()
	s.log = append(s.log, d)
	s.mu.Unlock()
}

func (s *chaosSinks) deliveries() []delivery {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.log)
}

// statusWriter remembers the status a handler answered.
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	w.code = code
	w.ResponseWriter.WriteHeader(code)
}

// slackHandler records what chaosSlack's handler accepted (200).
func (s *chaosSinks) slackHandler(next http.HandlerFunc, update bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil { // reads the body, so a caller that dies cancels r's context
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if !s.pass(w) {
			return
		}
		sw := &statusWriter{ResponseWriter: w, code: http.StatusOK}
		next(sw, r)
		if sw.code != http.StatusOK || r.Context().Err() != nil {
			return
		}
		kind := "post"
		switch {
		case update:
			kind = "update"
		case r.PostForm.Get("thread_ts") != "":
			kind = "reply"
		}
		probe := s.probeRef.FindString(r.PostForm.Get("text") + r.PostForm.Get("blocks"))
		s.add(delivery{at: time.Now(), probe: probe, integration: "slack", kind: kind})
	}
}

// sentryProject is the project ID in the path sentry-go posts to.
var sentryProject = regexp.MustCompile(`^/api/(\d+)/`)

// sentryHandler is sentryServer's DSN, recording each event with the
// replica whose project it came to.
func (s *chaosSinks) sentryHandler(sentry *sentryServer) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if !s.pass(w) {
			return
		}
		sentry.record(body)
		from := ""
		if m := sentryProject.FindStringSubmatch(r.URL.Path); m != nil {
			if i, _ := strconv.Atoi(m[1]); i >= 1 && i <= len(ccReplicas) {
				from = ccReplicas[i-1]
			}
		}
		_, events, err := sentrytest.DecodeEvents[struct {
			EventID string            `json:"event_id"`
			Tags    map[string]string `json:"tags"`
		}](bytes.NewReader(body))
		if err == nil {
			for _, ev := range events {
				s.add(delivery{at: time.Now(), probe: ev.Tags["probe"], integration: "sentry", kind: ev.Tags["status"], id: ev.EventID, from: from})
			}
		}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{}`)
	}
}

// webhookHandler is a webhook receiver, at /REPLICA for each replica,
// recording each alert of each notification with the notification's
// Idempotency-Key.
func (s *chaosSinks) webhookHandler() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if !s.pass(w) {
			return
		}
		var m webhookMessage
		if err := json.Unmarshal(body, &m); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		for _, a := range m.Alerts {
			s.add(delivery{at: time.Now(), probe: a.Labels["probe"], integration: "webhook", kind: a.Status, id: r.Header.Get("Idempotency-Key"),
				from: strings.TrimPrefix(r.URL.Path, "/")})
		}
	}
}

// waitFor waits until every key has a delivery for probe at or after
// from, and returns when; zero after within.
func (s *chaosSinks) waitFor(probe string, from time.Time, within time.Duration, keys ...string) time.Time {
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		seen := map[string]bool{}
		s.mu.Lock()
		for _, d := range s.log {
			if d.probe == probe && !d.at.Before(from) {
				seen[d.key()] = true
			}
		}
		s.mu.Unlock()
		all := true
		for _, k := range keys {
			all = all && seen[k]
		}
		if all {
			return time.Now()
		}
		time.Sleep(50 * time.Millisecond)
	}
	return time.Time{}
}

// tally is what one incident got: for Slack every accepted call, for
// Sentry and the webhook distinct IDs (what a receiver that deduplicates
// shows; raw counts every delivery).
type tally struct {
	inc    *incident
	got    map[string]int
	raw    map[string]int
	ids    map[string]map[string]bool
	extras []delivery // deliveries beyond the first of their key
	hooks  []delivery // its webhook deliveries, which name their sender
}

// attribute gives each delivery to the incident of its probe that had
// started last when it arrived; strays are those of a probe before its
// first incident.
func attribute(incidents []*incident, ds []delivery) (tallies []*tally, strays []delivery) {
	byProbe := map[string][]*tally{}
	for _, inc := range incidents {
		tl := &tally{inc: inc, got: map[string]int{}, raw: map[string]int{}, ids: map[string]map[string]bool{}}
		tallies = append(tallies, tl)
		byProbe[inc.probe] = append(byProbe[inc.probe], tl)
	}
	for _, d := range ds {
		var tl *tally
		for _, c := range byProbe[d.probe] { // in start order
			if !c.inc.start.After(d.at) {
				tl = c
			}
		}
		if tl == nil {
			strays = append(strays, d)
			continue
		}
		k := d.key()
		tl.raw[k]++
		if d.integration == "webhook" {
			tl.hooks = append(tl.hooks, d)
		}
		if d.id == "" {
			tl.got[k]++
		} else {
			if tl.ids[k] == nil {
				tl.ids[k] = map[string]bool{}
			}
			if !tl.ids[k][d.id] {
				tl.ids[k][d.id] = true
				tl.got[k]++
			}
		}
		if tl.got[k] > 1 || tl.raw[k] > 1 {
			tl.extras = append(tl.extras, d)
		}
	}
	return tallies, strays
}

// overlaps reports whether the incident, with its rest, overlaps [from, to].
func (inc *incident) overlaps(from, to time.Time) bool {
	end := inc.ended.Add(ccCooldown)
	return !inc.start.After(to) && !end.Before(from)
}

// firstAfter is the first delivery at or after from, with a probe among
// probes (any probe when none given); zero when none.
func firstAfter(ds []delivery, from time.Time, probes ...string) time.Time {
	var first time.Time
	for _, d := range ds {
		if d.at.Before(from) || len(probes) > 0 && !slices.Contains(probes, d.probe) {
			continue
		}
		if first.IsZero() || d.at.Before(first) {
			first = d.at
		}
	}
	return first
}

// since is at-from rounded, or "never" when at is zero.
func since(from, at time.Time) string {
	if at.IsZero() {
		return "never"
	}
	return at.Sub(from).Round(10 * time.Millisecond).String()
}

// incidentCounts is what the incidents got, summed.
type incidentCounts struct {
	wrong    []string       // counts not exactly one outside the fail-open window, or none within it
	failOpen int            // incidents overlapping the fail-open window
	got, raw map[string]int // outside it: distinct (see tally), and every delivery
	dups     map[string]int // within it: deliveries beyond one per incident, and of probes in no incident
	// Time to the first webhook page of incidents outside the fail-open
	// window, undisturbed or overlapping a phase.
	steady, disturbed []time.Duration
}

// count tallies each incident: exactly one of each ccKeys outside the
// fail-open window, at least one within it.
func (h *clusterChaos) count(ds []delivery) incidentCounts {
	c := incidentCounts{got: map[string]int{}, raw: map[string]int{}, dups: map[string]int{}}
	tallies, strays := attribute(h.incidents, ds)
	pages := filterKey(ds, "webhook/firing")
	for _, tl := range tallies {
		inc := tl.inc
		if inc.overlaps(h.db2Stop, h.failOpenEnd) {
			c.failOpen++
			for _, k := range ccKeys {
				c.dups[k] += max(tl.got[k]-1, 0)
				if tl.got[k] == 0 {
					c.wrong = append(c.wrong, fmt.Sprintf("%s (fail-open window): no %s at all; webhook got %s", h.describe(inc), k, h.trail(tl)))
				}
			}
			continue
		}
		switch first := firstAfter(pages, inc.start, inc.probe); {
		case first.IsZero(): // counted below as missing
		case h.disturbed(inc):
			c.disturbed = append(c.disturbed, first.Sub(inc.start))
		default:
			c.steady = append(c.steady, first.Sub(inc.start))
		}
		for _, k := range ccKeys {
			c.got[k] += tl.got[k]
			c.raw[k] += tl.raw[k]
			if tl.got[k] != 1 {
				c.wrong = append(c.wrong, fmt.Sprintf("%s: %d %s, want 1%s; webhook got %s", h.describe(inc), tl.got[k], k, h.extrasOf(tl, k), h.trail(tl)))
			}
		}
	}
	for _, d := range strays {
		if d.at.Before(h.db2Stop) || d.at.After(h.failOpenEnd) {
			c.wrong = append(c.wrong, fmt.Sprintf("%s %s for %s at +%s, before any incident of the probe", d.integration, d.kind, d.probe, since(h.t0, d.at)))
		} else {
			c.dups[d.key()]++
		}
	}
	return c
}

// report logs the figures, asserts the fail-open sends counted and an
// alert paged while the database is down, and returns what is wrong with
// the incidents' counts.
func (h *clusterChaos) report(counters map[string]float64) (wrong []string) {
	t := h.t
	ds := h.sinks.deliveries()
	c := h.count(ds)
	h.sinks.mu.Lock()
	refused := h.sinks.refused
	h.sinks.mu.Unlock()
	t.Logf("incidents: %d on %d probes, %d of them overlapping the fail-open window (database down %s..%s); %d deliveries recorded, %d requests refused while held",
		len(h.incidents), ccProbes, c.failOpen, since(h.t0, h.db2Stop), since(h.t0, h.failOpenEnd), len(ds), refused)
	t.Logf("times below count from the replicas' first agreement, at %s (the replicas' logs are in UTC)", h.t0.UTC().Format("15:04:05.000"))
	t.Logf("outside the fail-open window, %d incidents got (distinct IDs for Sentry and the webhook): %v; every delivery: %v", len(h.incidents)-c.failOpen, c.got, c.raw)
	t.Logf("time to the first webhook page: undisturbed incidents %s, incidents overlapping a phase %s", spread(c.steady), spread(c.disturbed))
	bySender := map[string]map[string]bool{}
	for _, d := range filterKey(ds, "webhook/firing") {
		if bySender[d.from] == nil {
			bySender[d.from] = map[string]bool{}
		}
		bySender[d.from][d.id] = true
	}
	senders := map[string]int{}
	for name, ids := range bySender {
		senders[name] = len(ids)
	}
	t.Logf("firing webhook notifications by the replica that sent them: %v", senders)
	h.checkFailover(ds)
	h.checkFailOpen(ds, counters, c.dups)
	h.reportRuns()
	h.slack.mu.Lock()
	faults, limited := h.slack.faults, h.slack.limited
	h.slack.mu.Unlock()
	_, posts := h.slack.count(h.slack.posts)
	_, updates := h.slack.count(h.slack.updates)
	_, replies := h.slack.count(h.slack.replies)
	t.Logf("slack in all: %d messages, %d resolve edits, %d thread replies; %d answered 429 and %d answered 500 at random", posts, updates, replies, limited, faults)
	return c.wrong
}

// checkFailover logs how long paging stopped after the SIGKILL and the
// SIGSTOP of the leader, and asserts that the paused leader sent nothing
// once it woke, until the others had it back among them.
func (h *clusterChaos) checkFailover(ds []delivery) {
	if inc := h.killIncident; inc != nil {
		h.t.Logf("SIGKILL of the leader: survivors agreed on a new leader after %s; first notification delivered after %s; an alert that began at the kill (%s) paged after %s",
			since(h.killAt, h.killLed), since(h.killAt, firstAfter(ds, h.killAt)), inc.probe, since(h.killAt, firstAfter(ds, inc.start, inc.probe)))
	}
	if inc := h.stopIncident; inc != nil {
		h.t.Logf("SIGSTOP of the leader: the others agreed on a new leader after %s; first notification delivered after %s; an alert that began at the pause (%s) paged after %s",
			since(h.stopAt, h.stopLed), since(h.stopAt, firstAfter(ds, h.stopAt)), inc.probe, since(h.stopAt, firstAfter(ds, inc.start, inc.probe)))
	}
	var woke []string
	for _, d := range ds {
		if d.from == h.paused && !d.at.Before(h.contAt) && !d.at.After(h.rejoined) {
			woke = append(woke, fmt.Sprintf("%s %s for %s at +%s", d.integration, d.kind, d.probe, since(h.contAt, d.at)))
		}
	}
	if len(woke) > 0 {
		h.t.Errorf("%s, paused past its lease, sent after its SIGCONT (times from the SIGCONT): %s", h.paused, strings.Join(woke, "; "))
	}
}

// checkFailOpen logs the fail-open window's figures and asserts that an
// alert that began while the database was down paged before it came back,
// and that every notification sent while no replica could lead is counted
// in lookout_cluster_fail_open_notifications_total.
func (h *clusterChaos) checkFailOpen(ds []delivery, counters map[string]float64, dups map[string]int) {
	t := h.t
	var sum float64
	for _, v := range counters {
		sum += v
	}
	// From a second before fail_open_after on, no replica has led for
	// seconds (nobody can renew the lease): only replicas failing open
	// send. The webhook gets each notification once, under its ID.
	alone := map[string]map[string]bool{} // by sender, notification IDs
	for _, d := range ds {
		if d.integration == "webhook" && d.at.After(h.db2Stop.Add(ccFailOpenAfter-time.Second)) && d.at.Before(h.db2Back) {
			if alone[d.from] == nil {
				alone[d.from] = map[string]bool{}
			}
			alone[d.from][d.id] = true
		}
	}
	sent := map[string]int{}
	for _, name := range ccReplicas {
		sent[name] = len(alone[name])
		if float64(sent[name]) > counters[name] {
			t.Errorf("%s sent %d webhook notifications while no replica could lead (database down for more than fail_open_after), but its lookout_cluster_fail_open_notifications_total is %g",
				name, sent[name], counters[name])
		}
	}
	t.Logf("fail-open window: lookout_cluster_fail_open_notifications_total %v (sum %g); webhook notifications each replica sent while the database was down past fail_open_after: %v; duplicates beyond one per incident: %v",
		counters, sum, sent, dups)
	if inc := h.failOpenIncident; inc != nil {
		paged := firstAfter(filterKey(ds, "webhook/firing"), inc.start, inc.probe)
		t.Logf("fail open: an alert that began 1 s into the outage (%s) paged after %s (the database came back after %s)",
			inc.probe, since(inc.start, paged), since(inc.start, h.db2Back))
		if paged.IsZero() || paged.After(h.db2Back) {
			t.Errorf("an alert that began while the database was down (%s) was not paged before the database came back %s later: no fail-open page",
				inc.probe, h.db2Back.Sub(inc.start).Round(time.Second))
		}
	}
}

// disturbed reports whether the incident overlaps a phase's window.
func (h *clusterChaos) disturbed(inc *incident) bool {
	for _, w := range h.windows {
		if inc.overlaps(w.from, w.to) {
			return true
		}
	}
	return false
}

// describe names an incident with its times from t0 and the phases it
// overlaps.
func (h *clusterChaos) describe(inc *incident) string {
	var phases []string
	for _, w := range h.windows {
		if inc.overlaps(w.from, w.to) {
			phases = append(phases, w.name)
		}
	}
	return fmt.Sprintf("%s incident at +%s (fired +%s, up +%s, resolved +%s; during %v)", inc.probe, since(h.t0, inc.start),
		since(h.t0, inc.fired), since(h.t0, inc.up), since(h.t0, inc.resolved), phases)
}

// extrasOf lists when the deliveries of key beyond the first arrived.
func (h *clusterChaos) extrasOf(tl *tally, key string) string {
	var at []string
	for _, d := range tl.extras {
		if d.key() == key {
			at = append(at, "+"+since(h.t0, d.at)+" "+h.phaseAt(d.at))
		}
	}
	if len(at) == 0 {
		return ""
	}
	return "; extra at " + strings.Join(at, ", ")
}

// trail is what the webhook got for an incident, when and from which
// replica.
func (h *clusterChaos) trail(tl *tally) string {
	var out []string
	for _, d := range tl.hooks {
		out = append(out, fmt.Sprintf("%s from %s at +%s", d.kind, d.from, since(h.t0, d.at)))
	}
	if len(out) == 0 {
		return "nothing"
	}
	return strings.Join(out, ", ")
}

func (h *clusterChaos) phaseAt(at time.Time) string {
	for _, w := range h.windows {
		if !at.Before(w.from) && !at.After(w.to) {
			return "(" + w.name + ")"
		}
	}
	return "(steady)"
}

func filterKey(ds []delivery, key string) []delivery {
	var out []delivery
	for _, d := range ds {
		if d.key() == key {
			out = append(out, d)
		}
	}
	return out
}

// spread is the median and the largest of ds.
func spread(ds []time.Duration) string {
	if len(ds) == 0 {
		return "none"
	}
	slices.Sort(ds)
	return fmt.Sprintf("median %s, max %s over %d", ds[len(ds)/2].Round(10*time.Millisecond), ds[len(ds)-1].Round(10*time.Millisecond), len(ds))
}

// reportRuns logs the probe runs lost or doubled, by phase. Probes keep
// their schedule's phase on every replica (scheduler.Every: an offset past
// each multiple of the interval since the epoch), so each run falls into
// a slot of the interval: the target notes when each run asked, each
// probe's phase is the circular mean of those times modulo the interval,
// and each run belongs to the nearest slot. A slot with no run is a lost
// run; runs beyond one in a slot are doubled (two replicas ran the probe,
// or one caught up after a pause). Timing noise of race-enabled children
// on a small machine moves a run by half an interval now and then, which
// reads as one lost and one doubled: the steady figures show that floor.
func (h *clusterChaos) reportRuns() {
	type counts struct{ slots, runs, lost, doubled int }
	by := map[string]*counts{}
	names := []string{"steady"}
	for _, w := range h.windows {
		names = append(names, w.name)
	}
	for _, n := range names {
		by[n] = &counts{}
	}
	h.targets.mu.Lock()
	defer h.targets.mu.Unlock()
	iv := float64(ccInterval)
	from, to := h.t0.Add(time.Second), h.end.Add(-time.Second)
	for _, p := range h.probes {
		var hits []float64
		var sin, cos float64
		for _, at := range h.targets.hits[p] {
			if at.Before(from) || at.After(to) {
				continue
			}
			ns := float64(at.UnixNano() % int64(ccInterval))
			sin += math.Sin(2 * math.Pi * ns / iv)
			cos += math.Cos(2 * math.Pi * ns / iv)
			hits = append(hits, float64(at.UnixNano()))
		}
		if len(hits) == 0 {
			continue
		}
		phase := math.Atan2(sin, cos) / (2 * math.Pi) * iv
		slot := func(ns float64) int64 { return int64(math.Round((ns - phase) / iv)) }
		perSlot := map[int64]int{}
		for _, ns := range hits {
			perSlot[slot(ns)]++
		}
		for k := slot(float64(from.UnixNano())) + 1; k < slot(float64(to.UnixNano())); k++ {
			c := by[strings.Trim(h.phaseAt(time.Unix(0, int64(float64(k)*iv+phase))), "()")]
			c.slots++
			c.runs += perSlot[k]
			switch n := perSlot[k]; {
			case n == 0:
				c.lost++
			case n > 1:
				c.doubled += n - 1
			}
		}
	}
	var lines []string
	for _, n := range names {
		c := by[n]
		lines = append(lines, fmt.Sprintf("%s: %d runs in %d slots, %d lost, %d doubled", n, c.runs, c.slots, c.lost, c.doubled))
	}
	h.t.Logf("probe runs (%d probes, one slot per %s each): %s", ccProbes, ccInterval, strings.Join(lines, "; "))
}

// checkChildLogs fails on a data race or a panic in a replica, and when
// the test fails shows the last cluster, outbox and error lines of each
// replica's log.
func (h *clusterChaos) checkChildLogs(failing bool) {
	for _, r := range h.replicas {
		for _, path := range r.logs {
			b, err := os.ReadFile(path)
			if err != nil {
				h.t.Error(err)
				continue
			}
			if n := bytes.Count(b, []byte(`to=down reason="timeout`)); n > 0 {
				h.t.Logf("%s (%s): %d probes went down on timeouts (this machine's load, not the targets): their pages are real, and not the test's", r.name, filepath.Base(path), n)
			}
			for _, bad := range []string{"WARNING: DATA RACE", "panic:"} {
				if i := bytes.Index(b, []byte(bad)); i >= 0 {
					h.t.Errorf("%s (%s): %s\n%s", r.name, filepath.Base(path), bad, b[i:min(len(b), i+3000)])
				}
			}
			if !failing && !h.t.Failed() {
				continue
			}
			var lines []string
			for line := range strings.SplitSeq(string(b), "\n") {
				if strings.Contains(line, "keeps probing") || strings.Contains(line, "keeping those read before") {
					continue // one a refresh while the database is down
				}
				if strings.Contains(line, "cluster:") || strings.Contains(line, "level=ERROR") || strings.Contains(line, "outbox:") {
					lines = append(lines, line[:min(len(line), 300)])
				}
			}
			if len(lines) > 0 {
				h.t.Logf("%s (%s, kept with go test -artifacts), last of %d cluster, outbox and error lines (without the database's absence, logged at every refresh):\n%s",
					r.name, path, len(lines), strings.Join(lines[max(0, len(lines)-12):], "\n"))
			}
		}
	}
}
