package daemon

import (
	"fmt"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/lookout-dev/lookout/config"
)

// readmeFile documents every metric Lookout exposes.
const readmeFile = "../../../../README.md"

// ownerLabels are the labels that name a counter's owner: a probe, a rule
// group, a receiver, a MongoDB target or a component writing to storage.
var ownerLabels = []string{"probe", "rule_group", "receiver", "target", "component"}

// notAtStart are the documented counters that cannot be at 0 before
// anything happened, and why.
var notAtStart = map[string]string{
	"mongodb_connections_created_total":      "the server's own count since it started, from serverStatus",
	"mongodb_op_counters_total":              "the server's own count since it started, from serverStatus",
	"mongodb_index_accesses_total":           "the server's own count, per index and member a pass finds",
	"mongodb_slow_queries_total":             "a slow operation's namespace, op and plan make the series",
	"mongodb_slow_query_docs_examined_total": "a slow operation's namespace, op and plan make the series",
	"mongodb_slow_query_docs_returned_total": "a slow operation's namespace, op and plan make the series",
	"mongodb_collscan_queries_total":         "a slow operation's namespace makes the series",
}

// notHere says why a documented counter is not checked here, or "".
func notHere(name string) string {
	if strings.HasPrefix(name, "webvitals_") || strings.HasPrefix(name, "lookout_webvitals_") {
		return "Web Vitals are off here; collectors/webvitals tests its own"
	}
	if strings.HasPrefix(name, "lookout_heartbeat_") {
		return "there are no heartbeat probes here; heartbeat_test.go and probes/heartbeat test theirs"
	}
	if strings.HasPrefix(name, "lookout_remote_write_") {
		return "there is no remote_write here; cmd/lookout/internal/remotewrite tests its own at 0"
	}
	if strings.HasPrefix(name, "lookout_cluster_") {
		return "there is no cluster here; cluster_test.go reads a cluster's metrics"
	}
	return notAtStart[name]
}

// runtimeFamily tells the families of client_golang's Go and process
// collectors, which count from the process's start.
func runtimeFamily(name string) bool {
	return strings.HasPrefix(name, "go_") || strings.HasPrefix(name, "process_")
}

// documentedCounters are the _total names the README puts in backticks.
func documentedCounters(t *testing.T) []string {
	t.Helper()
	readme, err := os.ReadFile(readmeFile)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, m := range regexp.MustCompile("`([a-zA-Z_:][a-zA-Z0-9_:]*_total)(?:\\{[a-zA-Z0-9_,]*\\})?`").FindAllStringSubmatch(string(readme), -1) {
		names = append(names, m[1])
	}
	slices.Sort(names)
	return slices.Compact(names)
}

// alertmanagerAddr is the Alertmanager a counters config forwards to.
const alertmanagerAddr = "127.0.0.1:1"

// forwarded tells the families of the Alertmanager receiver, whose
// receivers forward their alerts rather than notify (the others' families
// have no series for them).
func forwarded(family string) bool {
	return strings.HasPrefix(family, "lookout_alertmanager_")
}

// owners are, by owner label, the owners the config has.
type owners map[string][]string

// zeroCase is a config and the owners it has.
type zeroCase struct {
	probes, targets []string
	group           string // of the rule file, besides the built-in ones
	// receivers are, by receiver, its integrations.
	receivers map[string][]string
}

// countersConfig writes a config for zc whose probes never run during a
// test (once a year), whose rules are evaluated once an hour, and whose
// MongoDB targets wait 50 minutes for an unreachable server in their
// first pass.
func countersConfig(t *testing.T, dir string, zc zeroCase) string {
	t.Helper()
	writeConfig(t, filepath.Join(dir, "rules.yml"), fmt.Sprintf(`groups:
  - name: %s
    rules:
      - alert: Never
        expr: vector(1) == 0
`, zc.group))
	var b strings.Builder
	fmt.Fprintf(&b, `server: {listen: "127.0.0.1:0"}
storage: {path: %q}
alerting:
  evaluation_interval: 1h
  rule_files: [rules.yml]
  route: {receiver: %s}
  receivers:
`, filepath.Join(dir, "data"), slices.Sorted(maps.Keys(zc.receivers))[0])
	integrations := map[string]string{
		"log":     "log: {}",
		"webhook": "webhook: {url: http://127.0.0.1:1/hook}",
		"slack":   "slack: {webhook_url: http://127.0.0.1:1/slack}",
		// alertmanagerAddr answers nothing: the rules never fire here.
		"alertmanager": "alertmanager: {urls: [\"http://" + alertmanagerAddr + "\"]}",
	}
	for _, name := range slices.Sorted(maps.Keys(zc.receivers)) {
		fmt.Fprintf(&b, "    - name: %s\n", name)
		for _, in := range zc.receivers[name] {
			fmt.Fprintf(&b, "      %s\n", integrations[in])
		}
	}
	b.WriteString("probes:\n")
	for _, p := range zc.probes {
		fmt.Fprintf(&b, "  - name: %s\n    schedule: \"0 0 1 1 *\"\n    labels: {team: api}\n    http: {url: http://127.0.0.1:1/}\n", p)
	}
	b.WriteString("mongodb:\n")
	for _, m := range zc.targets {
		fmt.Fprintf(&b, "  - name: %s\n    uri: mongodb://127.0.0.1:1/\n    interval: 1h\n    timeout: 50m\n    slow_queries: {source: log, path: %q}\n",
			m, filepath.Join(dir, m+".log"))
	}
	path := filepath.Join(dir, "lookout.yml")
	writeConfig(t, path, b.String())
	return path
}

// TestCountersAtZero starts the daemon with probes, rule groups (the
// built-in ones and a file's), receivers and a MongoDB target, and scrapes
// /metrics before anything happened: every counter family, those the
// scrape shows and those the README documents, has its series for each
// owner at 0, so that increase() counts the first event. A reload that
// removes a probe, a group and a target takes their series away, and the
// ones it adds are at 0 at once.
func TestCountersAtZero(t *testing.T) {
	dir := t.TempDir()
	before := zeroCase{
		probes: []string{"api", "web"}, group: "custom", targets: []string{"main"},
		receivers: map[string][]string{"pager": {"webhook", "log"}, "chat": {"slack"}, "upstream": {"alertmanager"}},
	}
	cfgFile := countersConfig(t, dir, before)
	d := startDaemon(t, cfgFile)
	defer d.stop(t)
	t.Run("at start", func(t *testing.T) {
		checkCountersAtZero(t, d, cfgFile, before)
	})

	after := zeroCase{
		probes: []string{"api", "added"}, group: "renamed", targets: []string{"second"},
		receivers: before.receivers, // only a restart changes them
	}
	countersConfig(t, dir, after)
	if resp, body := postReload(t, d); resp.StatusCode != http.StatusOK {
		t.Fatalf("reload: %d %s", resp.StatusCode, body)
	}
	t.Run("after a reload", func(t *testing.T) {
		checkCountersAtZero(t, d, cfgFile, after)
		_, text := d.get(t, "/metrics")
		for _, gone := range []string{`probe="web"`, `rule_group="custom"`, `target="main"`} {
			if lines := grepLines(text, gone); lines != "" {
				t.Errorf("series of a removed owner (%s) are still served:\n%s", gone, lines)
			}
		}
	})
}

// checkCountersAtZero scrapes d and checks every counter family against
// the owners of zc.
func checkCountersAtZero(t *testing.T, d *running, cfgFile string, zc zeroCase) {
	t.Helper()
	cfg, err := config.Load(cfgFile)
	if err != nil {
		t.Fatal(err)
	}
	groups, err := LoadRules(cfgFile, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := owners{"probe": slices.Clone(zc.probes), "target": slices.Clone(zc.targets), "receiver": slices.Collect(maps.Keys(zc.receivers)),
		"component": {storageAlertState, storageOutbox, storageSilences, storageSlack, storageHeartbeats, storageUptime, storageIncidents, storageRemoteWrite}}
	for _, g := range groups {
		want["rule_group"] = append(want["rule_group"], g.Name)
	}
	for label := range want {
		slices.Sort(want[label])
		want[label] = slices.Compact(want[label])
	}
	if !slices.Contains(want["rule_group"], zc.group) || len(want["rule_group"]) < 2 {
		t.Fatalf("rule groups %v lack the built-in ones or the file's %s", want["rule_group"], zc.group)
	}

	_, text := d.get(t, "/metrics")
	parser := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := parser.TextToMetricFamilies(strings.NewReader(text))
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	counters := map[string]*dto.MetricFamily{}
	for name, mf := range mfs {
		if mf.GetType() == dto.MetricType_COUNTER && !runtimeFamily(name) {
			counters[name] = mf
		}
	}
	for _, name := range documentedCounters(t) {
		if _, ok := counters[name]; !ok && notHere(name) == "" {
			t.Errorf("%s: documented in the README, but /metrics has no series of it before anything happened", name)
		}
	}
	for name, mf := range counters {
		if why := notHere(name); why != "" {
			t.Errorf("%s is served before anything happened, although %s", name, why)
			continue
		}
		t.Run(name, func(t *testing.T) { checkFamilyAtZero(t, mf, familyOwners(name, want, zc), zc) })
	}
}

// familyOwners narrows the receivers of want to those family counts for:
// the Alertmanager receiver's families count the forwarding receivers, the
// notifiers' families count the others.
func familyOwners(family string, want owners, zc zeroCase) owners {
	narrowed := maps.Clone(want)
	narrowed["receiver"] = slices.DeleteFunc(slices.Clone(want["receiver"]), func(r string) bool {
		return slices.Contains(zc.receivers[r], "alertmanager") != forwarded(family)
	})
	return narrowed
}

// perOwner are, for some families and labels, the values every owner has
// a series for, given the owner.
var perOwner = map[string]map[string]func(owner string, zc zeroCase) []string{
	"lookout_probe_runs_total": {
		"result": func(string, zeroCase) []string { return []string{"degraded", "down", "up"} },
	},
	"lookout_notifications_total": {
		"integration": func(receiver string, zc zeroCase) []string { return zc.receivers[receiver] },
		"result":      func(string, zeroCase) []string { return []string{"expired", "failed_permanent", "retried", "sent"} },
	},
	"lookout_alertmanager_alerts_sent_total": {
		"alertmanager": func(string, zeroCase) []string { return []string{alertmanagerAddr} },
	},
	"lookout_alertmanager_errors_total": {
		"alertmanager": func(string, zeroCase) []string { return []string{alertmanagerAddr} },
	},
	"lookout_storage_write_failures_total": {
		"reason": func(string, zeroCase) []string {
			return []string{"io_error", "no_space", "other", "permission_denied", "read_only"}
		},
	},
	"lookout_collector_errors_total": {
		"collector": func(string, zeroCase) []string {
			return []string{"mongodb_indexes", "mongodb_pools", "mongodb_replset", "mongodb_server", "mongodb_slow_queries"}
		},
	},
}

// checkFamilyAtZero checks that every series of mf is 0, that the family
// has one owner label with a series for each owner in want (or no labels at
// all), and the values of perOwner.
func checkFamilyAtZero(t *testing.T, mf *dto.MetricFamily, want owners, zc zeroCase) {
	owner := ""
	got := map[string]map[string][]string{} // owner → label → values
	series := map[string]int{}              // owner → series
	for _, m := range mf.GetMetric() {
		labels := map[string]string{}
		for _, lp := range m.GetLabel() {
			labels[lp.GetName()] = lp.GetValue()
		}
		if v := m.GetCounter().GetValue(); v != 0 {
			t.Errorf("%v = %v before anything happened, want 0", labels, v)
		}
		kind := ""
		for _, l := range ownerLabels {
			if _, ok := labels[l]; ok {
				kind = l
				break
			}
		}
		switch {
		case kind == "" && len(labels) > 0:
			t.Errorf("series %v has labels but none of %v: whose counter is it?", labels, ownerLabels)
			continue
		case owner != "" && kind != owner:
			t.Errorf("series %v is owned by its %s, other series by their %s", labels, kind, owner)
			continue
		}
		owner = kind
		if owner == "" {
			continue
		}
		o := labels[owner]
		if got[o] == nil {
			got[o] = map[string][]string{}
		}
		for l, v := range labels {
			got[o][l] = append(got[o][l], v)
		}
		series[o]++
	}
	if owner == "" {
		if n := len(mf.GetMetric()); n != 1 {
			t.Errorf("%d series without labels, want 1", n)
		}
		return
	}
	if names := slices.Sorted(maps.Keys(got)); !slices.Equal(names, want[owner]) {
		t.Errorf("series for the %ss %v, want one for each of %v", owner, names, want[owner])
	}
	for o, labels := range got {
		combinations := 1 // of the perOwner values: each needs its series
		for label, values := range perOwner[mf.GetName()] {
			have := slices.Compact(slices.Sorted(slices.Values(labels[label])))
			w := slices.Sorted(slices.Values(values(o, zc)))
			if !slices.Equal(have, w) {
				t.Errorf("%s %q: series for %s %v, want %v", owner, o, label, have, w)
			}
			combinations *= len(w)
		}
		if series[o] != combinations {
			t.Errorf("%s %q: %d series, want %d, one for each combination of %v", owner, o, series[o], combinations, slices.Sorted(maps.Keys(perOwner[mf.GetName()])))
		}
	}
}
