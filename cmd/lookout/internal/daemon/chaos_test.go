package daemon

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lookout-dev/lookout/alerting/notify/sentry/sentrytest"

	"github.com/slack-go/slack/slacktest"
)

const (
	chaosGroups    = 50 // probes, one alert group each
	chaosReceivers = 10 // Slack channels, so Slack's pacing of one message a second per channel runs in parallel
)

// chaosSlack is slacktest's server whose chat.postMessage and chat.update
// fail at random with 429 (Retry-After) and 500, and count what they
// accepted.
type chaosSlack struct {
	*slacktest.Server
	rng *rand.Rand

	mu       sync.Mutex
	seq      int
	posts    map[string]int // top-level messages by probe
	replies  map[string]int // thread replies by probe
	updates  map[string]int // resolve edits by probe
	faults   int
	limited  int
	probeRef *regexp.Regexp
	gate     chan struct{} // while set, requests wait for it to close
}

// pause holds every new request until the returned func is called. The
// test kills Lookout while requests are held, so the kill falls outside
// the instant between Slack accepting a message and Lookout recording it
// (the one duplicate the outbox documents).
func (c *chaosSlack) pause() (resume func()) {
	gate := make(chan struct{})
	c.mu.Lock()
	c.gate = gate
	c.mu.Unlock()
	return func() {
		c.mu.Lock()
		c.gate = nil
		c.mu.Unlock()
		close(gate)
	}
}

func newChaosSlack(t *testing.T) *chaosSlack {
	c := &chaosSlack{rng: rand.New(rand.NewPCG(7, 11)), posts: map[string]int{}, replies: map[string]int{}, updates: map[string]int{},
		probeRef: regexp.MustCompile(`\bp\d\d\b`)}
	c.Server = slacktest.NewTestServer(func(cz slacktest.Customize) {
		cz.Handle("/chat.postMessage", c.handle("chat.postMessage"))
		cz.Handle("/chat.update", c.handle("chat.update"))
	})
	c.Start()
	t.Cleanup(c.Stop)
	return c
}

func (c *chaosSlack) handle(method string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		c.mu.Lock()
		gate := c.gate
		c.mu.Unlock()
		if gate != nil {
			<-gate
			if r.Context().Err() != nil {
				return // the caller died while held: Slack never accepted it
			}
		}
		c.mu.Lock()
		defer c.mu.Unlock()
		switch roll := c.rng.IntN(10); {
		case roll == 0:
			c.limited++
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusTooManyRequests)
			return
		case roll == 1:
			c.faults++
			http.Error(w, "slack is having a bad day", http.StatusInternalServerError)
			return
		}
		probe := c.probeRef.FindString(r.PostForm.Get("text") + r.PostForm.Get("blocks"))
		c.seq++
		ts := r.PostForm.Get("ts")
		switch {
		case method == "chat.update":
			c.updates[probe]++
		case r.PostForm.Get("thread_ts") != "":
			c.replies[probe]++
			ts = fmt.Sprintf("1700000001.%06d", c.seq)
		default:
			c.posts[probe]++
			ts = fmt.Sprintf("1700000000.%06d", c.seq)
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"ok":true,"channel":%q,"ts":%q}`, r.PostForm.Get("channel"), ts)
	}
}

func (c *chaosSlack) count(m map[string]int) (groups, total int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, n := range m {
		groups++
		total += n
	}
	return groups, total
}

// sentryServer is a DSN that decodes the envelopes sentry-go sends.
type sentryServer struct {
	srv *httptest.Server

	mu     sync.Mutex
	raw    int                       // events received
	unique map[string]map[string]int // probe+status -> event_id -> times
}

func newSentryServer(t *testing.T) *sentryServer {
	s := &sentryServer{unique: map[string]map[string]int{}}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		s.record(body)
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{}`)
	}))
	t.Cleanup(s.srv.Close)
	return s
}

// record counts the events of one envelope by alert and event id.
func (s *sentryServer) record(body []byte) {
	_, events, err := sentrytest.DecodeEvents[struct {
		EventID string            `json:"event_id"`
		Tags    map[string]string `json:"tags"`
	}](bytes.NewReader(body))
	if err != nil {
		return // not an envelope sentry-go sent: counted nowhere
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, ev := range events {
		key := ev.Tags["probe"] + "/" + ev.Tags["status"]
		s.raw++
		if s.unique[key] == nil {
			s.unique[key] = map[string]int{}
		}
		s.unique[key][ev.EventID]++
	}
}

func (s *sentryServer) dsn() string {
	return strings.Replace(s.srv.URL, "http://", "http://publickey@", 1) + "/1"
}

// events returns how many alerts have an event of status, and how many
// distinct events that is.
func (s *sentryServer) events(status string) (alerts, distinct int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for key, ids := range s.unique {
		if strings.HasSuffix(key, "/"+status) {
			alerts++
			distinct += len(ids)
		}
	}
	return alerts, distinct
}

func chaosConfig(t *testing.T, dir, target, slackURL, dsn string) string {
	var probes, routes, receivers strings.Builder
	for i := range chaosGroups {
		fmt.Fprintf(&probes, "  - {name: p%02d, interval: 200ms, timeout: 150ms, http: {url: %q}}\n", i, target)
	}
	for r := range chaosReceivers {
		fmt.Fprintf(&routes, "      - {matchers: ['probe=~\"p%d.\"'], receiver: r%d}\n", r%5, r)
		fmt.Fprintf(&receivers, "    - name: r%d\n      slack: {token: xoxb-test, channel: \"#c%d\", api_url: %q}\n      sentry: {dsn: %q}\n", r, r, slackURL, dsn)
	}
	_ = routes
	// Ten receivers, five probes each: p0x to r0, p1x to r1, ...
	routes.Reset()
	for r := range 5 {
		fmt.Fprintf(&routes, "      - {matchers: ['probe=~\"p%d[0-4]\"'], receiver: r%d}\n", r, 2*r)
		fmt.Fprintf(&routes, "      - {matchers: ['probe=~\"p%d[5-9]\"'], receiver: r%d}\n", r, 2*r+1)
	}
	writeConfig(t, filepath.Join(dir, "rules.yml"), `groups:
  - name: chaos
    rules:
      - alert: ProbeDown
        expr: lookout_probe_state == 2
        labels: {severity: page}
        annotations: {summary: "Probe {{ $labels.probe }} is down"}
`)
	cfg := fmt.Sprintf(`server: {listen: "127.0.0.1:0"}
storage: {path: %q}
alerting:
  evaluation_interval: 200ms
  builtin_rules: false
  rule_files: [rules.yml]
  route:
    receiver: r0
    group_by: [alertname, probe]
    group_wait: 0s
    group_interval: 500ms
    repeat_interval: 1h
    routes:
%s  receivers:
%sprobes:
%s`, filepath.Join(dir, "data"), routes.String(), receivers.String(), probes.String())
	path := filepath.Join(dir, "lookout.yml")
	writeConfig(t, path, cfg)
	return path
}

// waitFor polls cond until it holds or the time is up.
func waitFor(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", within, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// killHeld SIGKILLs child while Slack holds its requests, after the
// answers already given have had time to be recorded.
func killHeld(t *testing.T, slack *chaosSlack, child *exec.Cmd) {
	t.Helper()
	resume := slack.pause()
	time.Sleep(2 * time.Second) // answers already given get recorded, even on a loaded machine
	kill(t, child)
	time.Sleep(time.Second) // the server notices the held requests' connections closed
	resume()
}

// TestChaos: 50 alert groups fire and resolve while Slack answers 429 and
// 500 at random and Lookout is killed twice with SIGKILL. Slack must see
// exactly one message and one resolve edit per group, Sentry one firing
// and one resolved event per alert.
func TestChaos(t *testing.T) {
	if testing.Short() {
		t.Skip("chaos test takes about a minute")
	}
	if os.Getenv(childConfigEnv) != "" {
		t.Skip("in the child")
	}
	target, slack, sentry := newFlappingTarget(t), newChaosSlack(t), newSentryServer(t)
	cfg := chaosConfig(t, t.TempDir(), target.srv.URL, slack.GetAPIURL(), sentry.dsn())

	target.down.Store(true)
	child := startChild(t, cfg)
	waitFor(t, 60*time.Second, "a first Slack message", func() bool { g, _ := slack.count(slack.posts); return g >= 5 })
	killHeld(t, slack, child) // first SIGKILL, while groups are being posted
	child = startChild(t, cfg)
	waitFor(t, 120*time.Second, "a Slack message for every group", func() bool { g, _ := slack.count(slack.posts); return g == chaosGroups })
	waitFor(t, 60*time.Second, "a firing Sentry event for every alert", func() bool { a, _ := sentry.events("firing"); return a == chaosGroups })

	target.down.Store(false)
	waitFor(t, 60*time.Second, "first resolve edits", func() bool { g, _ := slack.count(slack.updates); return g >= 5 })
	killHeld(t, slack, child) // second SIGKILL, while groups are being resolved
	startChild(t, cfg)
	waitFor(t, 120*time.Second, "a resolve edit for every group", func() bool { g, _ := slack.count(slack.updates); return g == chaosGroups })
	waitFor(t, 60*time.Second, "a resolve reply in every thread", func() bool { g, _ := slack.count(slack.replies); return g == chaosGroups })
	waitFor(t, 60*time.Second, "a resolved Sentry event for every alert", func() bool { a, _ := sentry.events("resolved"); return a == chaosGroups })
	time.Sleep(2 * time.Second) // anything sent twice would arrive by now

	postGroups, posts := slack.count(slack.posts)
	updGroups, updates := slack.count(slack.updates)
	_, replies := slack.count(slack.replies)
	firingAlerts, firingEvents := sentry.events("firing")
	resolvedAlerts, resolvedEvents := sentry.events("resolved")
	slack.mu.Lock()
	faults, limited := slack.faults, slack.limited
	slack.mu.Unlock()
	sentry.mu.Lock()
	raw := sentry.raw
	sentry.mu.Unlock()
	t.Logf("slack: %d messages for %d groups, %d resolve edits for %d groups, %d thread replies; %d answered 429, %d answered 500",
		posts, postGroups, updates, updGroups, replies, limited, faults)
	t.Logf("sentry: %d firing events for %d alerts, %d resolved events for %d alerts, %d envelopes' events received in all",
		firingEvents, firingAlerts, resolvedEvents, resolvedAlerts, raw)
	slack.mu.Lock()
	for i := range chaosGroups {
		p := fmt.Sprintf("p%02d", i)
		if slack.posts[p] != 1 || slack.updates[p] != 1 || slack.replies[p] != 1 {
			t.Logf("%s: %d messages, %d resolve edits, %d thread replies", p, slack.posts[p], slack.updates[p], slack.replies[p])
		}
	}
	slack.mu.Unlock()
	if posts != chaosGroups || updates != chaosGroups {
		t.Errorf("slack saw %d messages and %d resolve edits; want exactly %d of each", posts, updates, chaosGroups)
	}
	if firingEvents != chaosGroups || resolvedEvents != chaosGroups {
		t.Errorf("sentry saw %d firing and %d resolved distinct events; want exactly %d of each", firingEvents, resolvedEvents, chaosGroups)
	}
}
