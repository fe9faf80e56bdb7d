package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/lookout-dev/lookout/bench/internal/lookoutproc"
	"github.com/lookout-dev/lookout/bench/internal/usage"
	"github.com/lookout-dev/lookout/bench/internal/workload"
)

// daemon is one `lookout run` of a phase.
type daemon struct {
	name  string
	dir   string
	proc  *lookoutproc.Proc
	proxy *counter // nil without a cluster section
	// assigned is how many probes it runs, as /api/v1/cluster says (all of
	// them for a single replica).
	assigned int
}

// phaseSpec is one cluster run.
type phaseSpec struct {
	probes         int
	database       string
	warmup, window time.Duration
}

// phase is what one run of daemons measured.
type phase struct {
	probes  int
	daemons []*daemon
	// startup is how long starting the daemons took, until /readyz;
	// settled how long after that every replica saw all the others.
	startup, settled time.Duration
	// leader and epoch before and after the window.
	leader, leaderAfter string
	epoch, epochAfter   int64
	win                 window
	// logs are each daemon's log lines (warnings and errors) at the end.
	logs map[string][]string
}

// runCluster runs spec.probes probes on o.replicas replicas sharing db,
// each through its own counting proxy, and measures them.
func runCluster(ctx context.Context, o options, db *ferret, tgt *runTarget, root string, spec phaseSpec) (*phase, error) {
	ph := &phase{probes: spec.probes}
	defer ph.stop()
	for i := range o.replicas {
		name := fmt.Sprintf("replica-%d", i+1)
		dir, err := mkdir(root, fmt.Sprintf("%s-%d", name, spec.probes))
		if err != nil {
			return nil, err
		}
		proxy, err := startCounter(db.Addr)
		if err != nil {
			return nil, err
		}
		ph.daemons = append(ph.daemons, &daemon{name: name, dir: dir, proxy: proxy})
	}
	configs := make([]string, len(ph.daemons))
	for i, d := range ph.daemons {
		configs[i] = fmt.Sprintf("cluster:\n  replica: %s\n  mongodb: {uri: %q, database: %s}\n  lease: %s\nprobes:\n%s",
			d.name, "mongodb://"+d.proxy.Addr()+"/", spec.database, o.lease, workload.ProbesYAML(tgt.URLFor(d.name), spec.probes, o.interval))
	}
	if err := ph.start(ctx, o.lookout, configs); err != nil {
		return nil, err
	}
	settleStart := time.Now()
	view, err := waitSettled(ctx, ph.daemons)
	if err != nil {
		return nil, err
	}
	ph.settled = time.Since(settleStart)
	ph.leader, ph.epoch = view.Leader, view.Epoch
	if err := sleep(ctx, spec.warmup); err != nil {
		return nil, err
	}
	if ph.win, err = measure(ctx, ph.daemons, db, tgt, spec.window); err != nil {
		return nil, err
	}
	if after, err := clusterState(ctx, ph.daemons[0]); err == nil {
		ph.leaderAfter, ph.epochAfter = after.Leader, after.Epoch
	}
	return ph, nil
}

// runSingle runs probes probes on one daemon without a cluster section
// and measures it.
func runSingle(ctx context.Context, o options, tgt *runTarget, root string, probes int) (*phase, error) {
	ph := &phase{probes: probes}
	defer ph.stop()
	dir, err := mkdir(root, fmt.Sprintf("single-%d", probes))
	if err != nil {
		return nil, err
	}
	d := &daemon{name: "single", dir: dir, assigned: probes}
	ph.daemons = []*daemon{d}
	if err := ph.start(ctx, o.lookout, []string{"probes:\n" + workload.ProbesYAML(tgt.URLFor(d.name), probes, o.interval)}); err != nil {
		return nil, err
	}
	if err := sleep(ctx, o.warmup); err != nil {
		return nil, err
	}
	if ph.win, err = measure(ctx, ph.daemons, nil, tgt, o.window); err != nil {
		return nil, err
	}
	return ph, nil
}

// start starts every daemon at once, each on its config, and waits until
// all are ready. The daemons live as long as ctx: not an errgroup's
// context, which ends when the group's Wait returns.
func (ph *phase) start(ctx context.Context, binary string, configs []string) error {
	begin := time.Now()
	var g errgroup.Group
	for i, d := range ph.daemons {
		g.Go(func() error {
			p, err := lookoutproc.Start(ctx, binary, d.dir, configs[i])
			if err != nil {
				return fmt.Errorf("%s: %w", d.name, err)
			}
			d.proc = p
			return nil
		})
	}
	err := g.Wait()
	ph.startup = time.Since(begin)
	return err
}

// stop stops the daemons (each gives up the lease if it holds it), keeps
// their logs' last lines, and closes the proxies.
func (ph *phase) stop() {
	var wg sync.WaitGroup
	for _, d := range ph.daemons {
		if d.proc == nil {
			continue
		}
		wg.Go(func() {
			if _, err := d.proc.Stop(); err != nil {
				fmt.Fprintf(os.Stderr, "cluster: %s: %v\n", d.name, err)
			}
		})
	}
	wg.Wait()
	ph.logs = map[string][]string{}
	for _, d := range ph.daemons {
		if d.proxy != nil {
			d.proxy.Close()
		}
		if b, err := os.ReadFile(filepath.Join(d.dir, "lookout.log")); err == nil && len(strings.TrimSpace(string(b))) > 0 {
			ph.logs[d.name] = strings.Split(strings.TrimSpace(string(b)), "\n")
		}
	}
}

// clusterView is what GET /api/v1/cluster answers, as far as read here.
type clusterView struct {
	Leader   string `json:"leader"`
	Epoch    int64  `json:"epoch"`
	Error    string `json:"error"`
	Replicas []struct {
		Replica string   `json:"replica"`
		Probes  []string `json:"probes"`
	} `json:"replicas"`
}

func clusterState(ctx context.Context, d *daemon) (clusterView, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, d.proc.Base+"/api/v1/cluster", nil)
	if err != nil {
		return clusterView{}, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return clusterView{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return clusterView{}, fmt.Errorf("GET /api/v1/cluster: %s", resp.Status)
	}
	var v clusterView
	err = json.NewDecoder(resp.Body).Decode(&v)
	return v, err
}

// waitSettled waits, for up to two minutes, until every replica sees all
// of them and the same leader, and records how many probes each runs.
func waitSettled(ctx context.Context, ds []*daemon) (clusterView, error) {
	deadline := time.Now().Add(2 * time.Minute)
	var last string
	for time.Now().Before(deadline) {
		views := make([]clusterView, len(ds))
		ok := true
		for i, d := range ds {
			v, err := clusterState(ctx, d)
			switch {
			case err != nil:
				ok, last = false, fmt.Sprintf("%s: %v", d.name, err)
			case v.Error != "":
				ok, last = false, fmt.Sprintf("%s: %s", d.name, v.Error)
			case len(v.Replicas) != len(ds) || v.Leader == "" || v.Leader != views[0].Leader && i > 0:
				ok, last = false, fmt.Sprintf("%s sees %d replicas, leader %q", d.name, len(v.Replicas), v.Leader)
			}
			views[i] = v
		}
		if ok {
			for _, r := range views[0].Replicas {
				for _, d := range ds {
					if d.name == r.Replica {
						d.assigned = len(r.Probes)
					}
				}
			}
			return views[0], nil
		}
		if err := sleep(ctx, time.Second); err != nil {
			return clusterView{}, err
		}
	}
	return clusterView{}, errors.New("the replicas did not all see each other within 2 minutes: " + last)
}

func sleep(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}

// window is what one measurement window saw.
type window struct {
	elapsed time.Duration
	procs   map[string]*procUse // by daemon name, and "ferretdb"
	// ops are the messages each replica sent to the database, by command;
	// failed the answers that were errors, by command and error; opened
	// the connections it opened.
	ops, failed map[string]map[string]uint64
	opened      map[string]uint64
	// runs are the probe runs each daemon made (requests to the target).
	runs map[string]uint64
	// dbRequests is FerretDB's own count of the requests over the window;
	// dbFailed its responses other than ok, by command and result.
	dbRequests float64
	dbFailed   map[string]float64
}

// procUse is one process's CPU time and resident memory over a window.
type procUse struct {
	pid         int
	cpu0, cpu   time.Duration // cpu: over the window
	rssSum      float64
	rssN        int
	rssMax, hwm int64
	rssEnd      int64
}

func (u *procUse) sample() {
	m := usage.ReadMemory(u.pid)
	if m.RSS < 0 {
		return
	}
	u.rssSum += float64(m.RSS)
	u.rssN++
	u.rssMax = max(u.rssMax, m.RSS)
	u.rssEnd, u.hwm = m.RSS, m.HWM
}

// RSSMean is the mean of the RSS samples.
func (u *procUse) RSSMean() float64 { return u.rssSum / float64(max(u.rssN, 1)) }

// rssEvery is how often a window samples every process's RSS (from /proc:
// it costs the daemons nothing).
const rssEvery = 5 * time.Second

// measure measures the daemons (and db, when not nil) over length.
func measure(ctx context.Context, ds []*daemon, db *ferret, tgt *runTarget, length time.Duration) (window, error) {
	w := window{procs: map[string]*procUse{}, ops: map[string]map[string]uint64{}, failed: map[string]map[string]uint64{},
		opened: map[string]uint64{}, runs: map[string]uint64{}, dbFailed: map[string]float64{}}
	for _, d := range ds {
		w.procs[d.name] = &procUse{pid: d.proc.Pid()}
	}
	if db != nil {
		w.procs["ferretdb"] = &procUse{pid: db.Pid()}
	}
	var db0 ferretCounts
	if db != nil {
		var err error
		if db0, err = db.Counts(ctx); err != nil {
			return w, err
		}
	}
	ops0, failed0, opened0 := map[string]map[string]uint64{}, map[string]map[string]uint64{}, map[string]uint64{}
	for _, d := range ds {
		if d.proxy != nil {
			ops0[d.name], failed0[d.name], opened0[d.name] = d.proxy.Counts(), d.proxy.Failed(), d.proxy.Opened()
		}
	}
	runs0 := tgt.Runs()
	for _, u := range w.procs {
		u.cpu0 = usage.ProcessCPU(u.pid)
		u.sample()
	}
	start := time.Now()
	tick := time.NewTicker(rssEvery)
	defer tick.Stop()
	end := time.After(length)
loop:
	for {
		select {
		case <-ctx.Done():
			return w, ctx.Err()
		case <-end:
			break loop
		case <-tick.C:
			for _, u := range w.procs {
				u.sample()
			}
		}
	}
	for _, u := range w.procs {
		u.cpu = usage.ProcessCPU(u.pid) - u.cpu0
		u.sample()
	}
	w.elapsed = time.Since(start)
	runs1 := tgt.Runs()
	for _, d := range ds {
		w.runs[d.name] = runs1[d.name] - runs0[d.name]
		if d.proxy == nil {
			continue
		}
		w.ops[d.name] = since(ops0[d.name], d.proxy.Counts())
		w.failed[d.name] = since(failed0[d.name], d.proxy.Failed())
		w.opened[d.name] = d.proxy.Opened() - opened0[d.name]
	}
	if db != nil {
		db1, err := db.Counts(ctx)
		if err != nil {
			return w, err
		}
		w.dbRequests = db1.Requests - db0.Requests
		for k, v := range db1.Failed {
			if v > db0.Failed[k] {
				w.dbFailed[k] = v - db0.Failed[k]
			}
		}
	}
	return w, nil
}

// since is what grew from before to after, by key.
func since(before, after map[string]uint64) map[string]uint64 {
	delta := map[string]uint64{}
	for k, n := range after {
		if n > before[k] {
			delta[k] = n - before[k]
		}
	}
	return delta
}
