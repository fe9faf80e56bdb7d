package daemon

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lookout-dev/lookout/alerting/silences"
	"github.com/lookout-dev/lookout/collectors/mongodb/ferretdbtest"
)

// clusterAlertingConfig writes replica name's config: a probe on one
// replica and one on all, both watching target, whose ProbeDown (for: 0s)
// pages hook.
func clusterAlertingConfig(t *testing.T, name, uri, target, hook, slack string) string {
	t.Helper()
	dir := t.TempDir()
	writeConfig(t, filepath.Join(dir, "rules.yml"), `groups:
  - name: test
    rules:
      - alert: ProbeDown
        expr: lookout_probe_state == 2
        labels: {severity: page}
`)
	path := filepath.Join(dir, "lookout.yml")
	writeConfig(t, path, fmt.Sprintf(`server: {listen: "127.0.0.1:0"}
storage: {path: %q}
cluster:
  replica: %s
  mongodb: {uri: %q, database: lookout_test}
  lease: 2s
  fail_open_after: 1m
alerting:
  evaluation_interval: 200ms
  rule_files: [rules.yml]
  route: {receiver: hook, group_by: [alertname, probe], group_wait: 0s, group_interval: 500ms, repeat_interval: 1h}
  receivers:
    - name: hook
      webhook: {url: %q}
      slack: {token: xoxb-test, channel: "#oncall", api_url: "%s/slack/"}
status_pages:
  - {name: public, path: /status, title: Example, groups: [{name: API, probes: [api]}]}
probes:
  - {name: api, interval: 1s, timeout: 500ms, failure_threshold: {failures: 3, of: 3}, http: {url: %q}}
  - {name: home, interval: 200ms, timeout: 150ms, replicas: all, http: {url: %q}}
`, filepath.Join(dir, "data"), name, uri, hook, slack, target, target))
	return path
}

// counts tallies the notifications a hook server got, by status and probe.
func (h *hookServer) counts(within time.Duration) map[string]int {
	got := map[string]int{}
	deadline := time.After(within)
	for {
		select {
		case m := <-h.got:
			for _, a := range m.Alerts {
				if a.Status == m.Status {
					got[m.Status+" "+a.Labels["probe"]]++
				}
			}
		case <-deadline:
			return got
		}
	}
}

// TestClusterPagesOnce: three replicas on one state database (a real
// FerretDB) page once per incident, not once per replica: the leader
// alone notifies, with every replica's alerts merged, and a silence made
// or expired, or an incident opened or updated, on any replica holds for
// all. When the leader
// stops, another takes the lease and carries on from the stored groups
// without paging again, and each alert resolves once.
func TestClusterPagesOnce(t *testing.T) {
	db := ferretdbtest.StartWith(t, ferretdbtest.Options{OnDisk: true})
	target, hook, slack := newFlappingTarget(t), newHookServer(t), newNotificationSink(t)
	names := []string{"lookout-a", "lookout-b", "lookout-c"}
	rs := make([]*running, len(names))
	for i, n := range names {
		rs[i] = startDaemon(t, clusterAlertingConfig(t, n, db.URI, target.srv.URL, hook.srv.URL, slack.srv.URL))
	}
	defer func() {
		for _, r := range rs {
			if r != nil {
				r.stop(t)
			}
		}
	}()
	views := agreed(t, rs, 3)
	var followers []*running
	for i, n := range names {
		if n != views[0].Leader {
			followers = append(followers, rs[i])
		}
	}

	// A silence made on one follower mutes the leader's page; expired on
	// the other follower, it lets the page through.
	resp, body := followers[0].post(t, "/api/v1/silences", `{"matchers":["probe=\"api\""],"duration":"1h","createdBy":"alice","comment":"deploy"}`)
	var sil silences.JSON
	if resp.StatusCode != http.StatusCreated || json.Unmarshal([]byte(body), &sil) != nil {
		t.Fatalf("create a silence on a follower: %d %s", resp.StatusCode, body)
	}
	// An incident opened on one follower is updated on the other.
	resp, body = followers[0].post(t, "/api/v1/incidents", `{"probe":"home","title":"Slow pages","message":"Looking into it","status":"investigating","by":"alice"}`)
	var inc struct{ ID string }
	if resp.StatusCode != http.StatusCreated || json.Unmarshal([]byte(body), &inc) != nil {
		t.Fatalf("open an incident on a follower: %d %s", resp.StatusCode, body)
	}
	waitFor(t, 5*time.Second, "the incident on the other follower", func() bool {
		_, body := followers[1].get(t, "/api/v1/incidents")
		return strings.Contains(body, "Slow pages")
	})
	if resp, body := followers[1].post(t, "/api/v1/incidents", `{"id":"`+inc.ID+`","message":"Fixed","status":"resolved","by":"bob"}`); resp.StatusCode != http.StatusOK {
		t.Errorf("update the incident on the other follower: %d %s", resp.StatusCode, body)
	}

	target.down.Store(true)
	if got := hook.counts(8 * time.Second); got["firing home"] != 1 || len(got) != 1 {
		t.Fatalf("after the target went down, api silenced: %v; want one firing page for home only", got)
	}
	if resp, body := followers[1].del(t, "/api/v1/silences/"+sil.ID); resp.StatusCode != http.StatusOK {
		t.Fatalf("expire the silence on the other follower: %d %s", resp.StatusCode, body)
	}
	if got := hook.counts(5 * time.Second); got["firing api"] != 1 || len(got) != 1 {
		t.Fatalf("after the silence expired: %v; want one firing page for api", got)
	}
	// Every replica's status page shows api down, though one runs it.
	for i, r := range rs {
		waitFor(t, 10*time.Second, names[i]+"'s status page showing api down", func() bool {
			_, body := r.get(t, "/status.json")
			return strings.Contains(body, `"name":"api","state":"down"`)
		})
	}

	// The leader stops; so does api's replica if another. Their probes
	// and the dispatching move, and nobody is paged again.
	stopped := map[string]bool{views[0].Leader: true}
	for _, rep := range views[0].Replicas {
		for _, p := range rep.Probes {
			if p == "api" && len(stopped) == 1 && rep.Replica != views[0].Leader {
				stopped[rep.Replica] = true
			}
		}
	}
	apiRuns := map[string]int{} // on each replica before the stop: those that ran it before they saw the others
	for i, n := range names {
		if !stopped[n] {
			apiRuns[n] = ranHere(t, rs[i], "api")
		}
	}
	for i, n := range names {
		if stopped[n] {
			rs[i].stop(t)
			rs[i] = nil
		}
	}
	left := agreed(t, rs, 3-len(stopped))
	// api's new replica continues its failure window: down from its
	// first run there, where starting over would take three.
	for i, n := range names {
		if rs[i] == nil || !slices.ContainsFunc(left[0].Replicas, func(r viewReplica) bool { return r.Replica == n && slices.Contains(r.Probes, "api") }) {
			continue
		}
		waitFor(t, 10*time.Second, "api's first run on its new replica", func() bool { return ranHere(t, rs[i], "api") > apiRuns[n] })
		for _, p := range rs[i].probes(t).Probes {
			if p.Name == "api" && len(p.Results)-apiRuns[n] < 3 && p.State != "down" {
				t.Errorf("api on %s after %d runs there is %s; want down (its failure window moved along)", n, len(p.Results), p.State)
			}
		}
	}
	if got := hook.counts(3 * time.Second); len(got) != 0 {
		t.Errorf("after %v stopped and %s took over: %v; want no page", stopped, left[0].Leader, got)
	}

	target.down.Store(false)
	if got := hook.counts(8 * time.Second); got["resolved api"] != 1 || got["resolved home"] != 1 || len(got) != 2 {
		t.Errorf("after the target came back: %v; want one resolved notification for api and one for home", got)
	}
	// Slack: the new leader resolved the threads the old one started: one
	// message per alert, each edited once, nothing posted anew.
	waitFor(t, 5*time.Second, "two Slack edits", func() bool { _, msgs := slack.got(); return slackKinds(msgs)["edit"] >= 2 })
	if _, msgs := slack.got(); slackKinds(msgs)["post"] != 2 || slackKinds(msgs)["edit"] != 2 {
		t.Errorf("Slack got %v; want 2 messages, each edited once on resolve", slackKinds(msgs))
	}
}

// slackKinds counts Slack API calls: messages posted, edits (chat.update
// of a message: a ts) and thread replies (a thread_ts).
func slackKinds(msgs []string) map[string]int {
	out := map[string]int{}
	for _, m := range msgs {
		switch {
		case strings.Contains("\n"+m, "\nthread_ts="):
			out["reply"]++
		case strings.Contains("\n"+m, "\nts="):
			out["edit"]++
		default:
			out["post"]++
		}
	}
	return out
}

// TestClusterQuorum: a probe of replicas all and quorum 2 pages once, and
// only when two replicas see it down; it resolves once when it falls
// below the quorum. Each replica's probe watches its own path of the
// target, so the test makes it down for one replica at a time.
func TestClusterQuorum(t *testing.T) {
	db := ferretdbtest.StartWith(t, ferretdbtest.Options{OnDisk: true})
	var mu sync.Mutex
	down := map[string]bool{}
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		if down[r.URL.Path] {
			http.Error(w, "down", http.StatusServiceUnavailable)
		}
	}))
	defer target.Close()
	setDown := func(replica string, v bool) {
		mu.Lock()
		down["/"+replica] = v
		mu.Unlock()
	}
	hook := newHookServer(t)
	names := []string{"lookout-a", "lookout-b", "lookout-c"}
	rs := make([]*running, len(names))
	for i, n := range names {
		dir := t.TempDir()
		writeConfig(t, filepath.Join(dir, "rules.yml"), "groups:\n  - name: test\n    rules:\n      - {alert: ProbeDown, expr: lookout_probe_state == 2}\n")
		path := filepath.Join(dir, "lookout.yml")
		writeConfig(t, path, fmt.Sprintf(`server: {listen: "127.0.0.1:0"}
storage: {path: %q}
cluster:
  replica: %s
  location: loc-%s
  mongodb: {uri: %q, database: lookout_test}
  lease: 2s
alerting:
  evaluation_interval: 200ms
  builtin_rules: false
  rule_files: [rules.yml]
  route: {receiver: hook, group_by: [alertname, probe], group_wait: 0s, group_interval: 500ms, repeat_interval: 1h}
  receivers:
    - name: hook
      webhook: {url: %q}
probes:
  - {name: home, interval: 200ms, timeout: 150ms, replicas: all, quorum: 2, http: {url: %q}}
`, filepath.Join(dir, "data"), n, n, db.URI, hook.srv.URL, target.URL+"/"+n))
		rs[i] = startDaemon(t, path)
	}
	defer func() {
		for _, r := range rs {
			r.stop(t)
		}
	}()
	agreed(t, rs, 3)

	setDown("lookout-a", true)
	if got := hook.counts(4 * time.Second); len(got) != 0 {
		t.Fatalf("down from one replica of three, quorum 2: %v; want no page", got)
	}
	setDown("lookout-b", true)
	m := hook.next(t, "firing", 8*time.Second)
	if len(m.Alerts) != 1 || m.Alerts[0].Labels["probe"] != "home" || m.Alerts[0].Labels["location"] != "" {
		t.Errorf("firing: %+v; want one alert for home, without a location", m)
	}
	if got := hook.counts(3 * time.Second); len(got) != 0 {
		t.Errorf("after the page: %v; want nothing more (one page, not one per replica)", got)
	}
	setDown("lookout-a", false)
	hook.next(t, "resolved", 8*time.Second)
	if got := hook.counts(3 * time.Second); len(got) != 0 {
		t.Errorf("after the resolve: %v; want nothing more", got)
	}
}
