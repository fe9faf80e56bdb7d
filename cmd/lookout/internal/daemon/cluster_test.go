package daemon

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/common/model"

	"github.com/lookout-dev/lookout/alerting/promtest"
	"github.com/lookout-dev/lookout/collectors/mongodb/ferretdbtest"
)

// clusterView is GET /api/v1/cluster as the test reads it.
type clusterView struct {
	Replica  string        `json:"replica"`
	Leader   string        `json:"leader"`
	Epoch    int64         `json:"epoch"`
	Replicas []viewReplica `json:"replicas"`
}

// viewReplica is a replica in GET /api/v1/cluster.
type viewReplica struct {
	Replica string   `json:"replica"`
	Probes  []string `json:"probes"`
}

func viewOf(t *testing.T, r *running) clusterView {
	t.Helper()
	resp, body := r.get(t, "/api/v1/cluster")
	var v clusterView
	if resp.StatusCode != http.StatusOK || json.Unmarshal([]byte(body), &v) != nil {
		t.Fatalf("cluster: %d %s", resp.StatusCode, body)
	}
	return v
}

// ranHere is how many runs of probe the replica made.
func ranHere(t *testing.T, r *running, probe string) int {
	t.Helper()
	resp, body := r.get(t, "/api/v1/probes/"+probe)
	var st struct {
		Results []json.RawMessage `json:"results"`
	}
	if resp.StatusCode != http.StatusOK || json.Unmarshal([]byte(body), &st) != nil {
		t.Fatalf("probe %s: %d %s", probe, resp.StatusCode, body)
	}
	return len(st.Results)
}

// TestClusterSpreadsProbes: three `lookout run` on one state database
// (a real FerretDB) see one another and one leader; each probe of
// replicas 1 runs on exactly the replica GET /api/v1/cluster names, a
// probe of replicas all on each; when a replica stops, the others take
// its probes over without skipping or doubling a run.
func TestClusterSpreadsProbes(t *testing.T) {
	db := ferretdbtest.StartWith(t, ferretdbtest.Options{OnDisk: true})
	var mu sync.Mutex
	runs := map[string][]time.Time{} // by path: when the target was probed
	target := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		mu.Lock()
		runs[r.URL.Path] = append(runs[r.URL.Path], time.Now())
		mu.Unlock()
	}))
	defer target.Close()
	probeNames := []string{"p1", "p2", "p3", "p4", "p5", "p6", "p7", "p8", "p9"}
	var probesYAML string
	for _, p := range probeNames {
		probesYAML += fmt.Sprintf("  - {name: %s, interval: 1s, http: {url: %q}}\n", p, target.URL+"/"+p)
	}
	probesYAML += fmt.Sprintf("  - {name: everywhere, interval: 1s, replicas: all, http: {url: %q}}\n", target.URL+"/all")
	var rs []*running
	for _, name := range []string{"lookout-a", "lookout-b", "lookout-c"} {
		dir := t.TempDir()
		cfg := filepath.Join(dir, "lookout.yml")
		writeConfig(t, cfg, fmt.Sprintf(`server: {listen: "127.0.0.1:0"}
storage: {path: %q}
cluster:
  replica: %s
  location: loc-%s
  mongodb: {uri: %q, database: lookout_test}
  lease: 2s
probes:
%s`, filepath.Join(dir, "data"), name, name, db.URI, probesYAML))
		rs = append(rs, startDaemon(t, cfg))
	}
	defer func() {
		for _, r := range rs {
			if r != nil {
				r.stop(t)
			}
		}
	}()

	// All three see one another and agree on the leader.
	views := agreed(t, rs, 3)
	prom := scrapeCluster(t, rs)
	for i, r := range rs {
		name := []string{"lookout-a", "lookout-b", "lookout-c"}[i]
		_, body := r.get(t, "/metrics")
		for _, want := range []string{`lookout_cluster_replicas{replica="` + name + `"} 3`, `lookout_cluster_leader_changes_total{replica="` + name + `"} 0`} {
			if !strings.Contains(body, want) {
				t.Errorf("%s's /metrics lacks %s", name, want)
			}
		}
	}
	time.Sleep(3 * time.Second) // a few runs
	owner := map[string]string{}
	for _, rep := range views[0].Replicas {
		for _, p := range rep.Probes {
			if p != "everywhere" {
				owner[p] = rep.Replica
			}
		}
	}
	for i, r := range rs {
		name := []string{"lookout-a", "lookout-b", "lookout-c"}[i]
		for _, p := range probeNames {
			n := ranHere(t, r, p)
			switch {
			case owner[p] == name && n == 0:
				t.Errorf("%s owns %s but never ran it", name, p)
			case owner[p] != name && n > 1:
				t.Errorf("%s ran %s %d times; %s owns it", name, p, n, owner[p])
			}
		}
		if ranHere(t, r, "everywhere") == 0 {
			t.Errorf("%s never ran the probe of replicas all", name)
		}
	}

	// lookout-a stops: its probes move to b and c within two leases.
	var moved []string
	for p, o := range owner {
		if o == "lookout-a" {
			moved = append(moved, p)
		}
	}
	slices.Sort(moved)
	stopped := time.Now()
	rs[0].stop(t)
	rs[0] = nil
	before := map[string]int{}
	for _, p := range moved {
		before[p] = ranHere(t, rs[1], p) + ranHere(t, rs[2], p)
	}
	time.Sleep(2*2*time.Second + 2*time.Second)
	for _, p := range moved {
		if after := ranHere(t, rs[1], p) + ranHere(t, rs[2], p); after <= before[p] {
			t.Errorf("%s (lookout-a's) did not run on b or c after a stopped: %d runs before, %d after", p, before[p], after)
		}
	}
	// A stop hands the probes over at one instant: no run of theirs is
	// skipped (interval 1s) or doubled around it.
	mu.Lock()
	for _, p := range moved {
		var around []time.Time
		for _, at := range runs["/"+p] {
			if at.After(stopped.Add(-2*time.Second)) && at.Before(stopped.Add(4*time.Second)) {
				around = append(around, at)
			}
		}
		for i := 1; i < len(around); i++ {
			if gap := around[i].Sub(around[i-1]); gap > 1500*time.Millisecond || gap < 500*time.Millisecond {
				t.Errorf("%s: runs %s apart around the stop (every 1s); a run was skipped or doubled", p, gap.Round(time.Millisecond))
			}
		}
	}
	mu.Unlock()
	if v := viewOf(t, rs[1]); len(v.Replicas) != 2 || v.Leader == "lookout-a" || v.Leader == "" {
		t.Errorf("after a stopped, b sees %+v; want 2 replicas and a leader among them", v)
	}
	t.Logf("lookout-a ran %v; they moved to b and c", moved)
	if prom != nil {
		// The alerting dashboard's cluster panels, through a Prometheus
		// that scraped the three replicas all along.
		ran, withData := 0, 0
		for _, q := range dashboardQueries(t) {
			if strings.Contains(q.expr, "lookout_cluster_") {
				ran++
				if checkQuery(t, prom, q, nil) {
					withData++
				}
			}
		}
		if ran == 0 {
			t.Error("no dashboard query reads lookout_cluster_*")
		}
		t.Logf("the dashboards' %d cluster queries: %d returned data", ran, withData)
	}
}

// scrapeCluster starts a Prometheus scraping every replica of rs each
// second, when the test setup built one (nil otherwise), and waits for its
// first scrape of each.
func scrapeCluster(t *testing.T, rs []*running) *promtest.Server {
	t.Helper()
	if os.Getenv(promtest.DirEnv) == "" {
		return nil
	}
	var targets []string
	for _, r := range rs {
		targets = append(targets, fmt.Sprintf("%q", strings.TrimPrefix(r.base, "http://")))
	}
	prom := promtest.Prometheus(t, fmt.Sprintf(`global: {scrape_interval: 1s, scrape_timeout: 900ms}
scrape_configs:
  - job_name: lookout
    static_configs: [{targets: [%s]}]
`, strings.Join(targets, ", ")))
	promtest.Eventually(t, 30*time.Second, func(ctx context.Context) string {
		v, err := prom.Query(ctx, `count(up{job="lookout"} == 1)`)
		if err != nil {
			return err.Error()
		}
		if vec, _ := v.(model.Vector); len(vec) != 1 || int(vec[0].Value) != len(rs) {
			return fmt.Sprintf("Prometheus scrapes %v of the %d replicas", v, len(rs))
		}
		return ""
	})
	return prom
}

// agreed waits until every running replica sees n replicas and the same
// leader and epoch, and returns their views.
func agreed(t *testing.T, rs []*running, n int) []clusterView {
	t.Helper()
	var views []clusterView
	deadline := time.Now().Add(20 * time.Second)
	for {
		views = views[:0]
		for _, r := range rs {
			if r != nil {
				views = append(views, viewOf(t, r))
			}
		}
		ok := true
		for _, v := range views {
			ok = ok && len(v.Replicas) == n && v.Leader != "" && v.Leader == views[0].Leader && v.Epoch == views[0].Epoch
		}
		if ok {
			return views
		}
		if time.Now().After(deadline) {
			t.Fatalf("the replicas do not agree within 20 s: %+v", views)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
