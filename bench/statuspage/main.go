// Command statuspage measures a status page served by the real `lookout
// run` against a static file of the same size served by http.FileServer:
// requests per second under the same keep-alive load, alternating
// rounds. See bench/README.md.
//
//	go build -o /tmp/lookout ./cmd/lookout
//	go build -o /tmp/statuspagebench ./bench/statuspage
//	/tmp/statuspagebench -lookout /tmp/lookout
//
// Goal: the status page at least 0.8× the static file handler.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/lookout-dev/lookout/alerting/incidents"
	"github.com/lookout-dev/lookout/bench/internal/lookoutproc"
	"github.com/lookout-dev/lookout/bench/internal/stats"
	"github.com/lookout-dev/lookout/bench/internal/target"
	"github.com/lookout-dev/lookout/probes"
	"github.com/lookout-dev/lookout/probes/uptime"
)

type options struct {
	lookout    string
	rounds     int
	workers    int
	duration   time.Duration
	warmup     time.Duration
	components int
	keep       bool
}

func main() {
	var o options
	serveStatic := flag.String("serve-static", "", "internal: serve this file's directory with http.FileServer on 127.0.0.1:0")
	serveTarget := flag.Bool(target.Flag, false, "internal: serve as the probes' target")
	flag.StringVar(&o.lookout, "lookout", "", "the lookout binary to run (required; go build -o /tmp/lookout ./cmd/lookout)")
	flag.IntVar(&o.rounds, "rounds", 7, "rounds, each one batch of each side, alternating which goes first")
	flag.IntVar(&o.workers, "workers", 16, "concurrent keep-alive clients")
	flag.DurationVar(&o.duration, "duration", 4*time.Second, "measured time of one batch")
	flag.DurationVar(&o.warmup, "warmup", 500*time.Millisecond, "unmeasured time before each batch")
	flag.IntVar(&o.components, "components", 8, "probes listed on the page, with 90 days of uptime history")
	flag.BoolVar(&o.keep, "keep", false, "keep the temporary directory (config, database, log, page)")
	flag.Parse()
	if *serveStatic != "" {
		target.Main("statuspage", false, func(ctx context.Context) error { return serveFile(ctx, *serveStatic) })
		return
	}
	target.Main("statuspage", *serveTarget, func(ctx context.Context) error { return run(ctx, o) })
}

func run(ctx context.Context, o options) error {
	if o.lookout == "" {
		return errors.New("-lookout is required: build it with go build -o /tmp/lookout ./cmd/lookout")
	}
	dir, err := os.MkdirTemp("", "statuspagebench-")
	if err != nil {
		return err
	}
	if o.keep {
		fmt.Printf("files in %s\n", dir)
	} else {
		defer os.RemoveAll(dir)
	}
	tgt, err := target.Start(ctx)
	if err != nil {
		return err
	}
	defer tgt.Stop()
	names := make([]string, o.components)
	for i := range names {
		names[i] = fmt.Sprintf("component-%02d", i+1)
	}
	if err := seed(filepath.Join(dir, "data"), names, time.Now()); err != nil {
		return fmt.Errorf("seed the database: %w", err)
	}
	lk, err := startLookout(ctx, o.lookout, dir, tgt.Addr, names)
	if err != nil {
		return err
	}
	defer lk.Stop()

	page, err := fetch(lk.Public + "/status")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Join(dir, "static"), 0o700); err != nil {
		return err
	}
	file := filepath.Join(dir, "static", "status.html")
	if err := os.WriteFile(file, page, 0o600); err != nil {
		return err
	}
	static, err := startStatic(ctx, file)
	if err != nil {
		return err
	}
	defer static.Stop()

	urls := [2]string{"http://" + static.Addr + "/status.html", lk.Public + "/status"}
	sizes := [2]int{}
	for i, u := range urls {
		b, err := fetch(u)
		if err != nil {
			return err
		}
		sizes[i] = len(b)
	}
	fmt.Printf("status page: %d components, %d bytes (static file: %d bytes); lookout pid %d, static server pid %d; %d keep-alive workers, %v (+%v warm-up) per batch, identity encoding\n",
		o.components, sizes[1], sizes[0], lk.Pid(), static.Pid(), o.workers, o.duration, o.warmup)
	fmt.Printf("%-5s %14s %14s %7s\n", "round", "static req/s", "status req/s", "ratio")
	var ratios, staticRates, pageRates []float64
	for i := range o.rounds {
		order := []int{0, 1}
		if i%2 == 1 {
			order = []int{1, 0}
		}
		var rate [2]float64
		for _, side := range order {
			res := load(ctx, urls[side], o)
			if bad := res.notOK(); bad != "" {
				return fmt.Errorf("round %d: %s answered %s", i+1, [2]string{"static", "status page"}[side], bad)
			}
			rate[side] = float64(res.ok) / o.duration.Seconds()
		}
		ratios, staticRates, pageRates = append(ratios, rate[1]/rate[0]), append(staticRates, rate[0]), append(pageRates, rate[1])
		fmt.Printf("%-5d %14.0f %14.0f %7.3f\n", i+1, rate[0], rate[1], rate[1]/rate[0])
	}
	r := stats.Median(ratios)
	verdict := "met"
	if r < 0.8 {
		verdict = "NOT met"
	}
	fmt.Printf("median: static %.0f req/s, status page %.0f req/s\n", stats.Median(staticRates), stats.Median(pageRates))
	fmt.Printf("median ratio status/static %.3f (rounds %.3f–%.3f); goal ≥ 0.8: %s\n", r, slices.Min(ratios), slices.Max(ratios), verdict)
	return nil
}

// seed writes 90 days of uptime history for each probe, sampled every 5
// minutes (up, but for an outage of 20 minutes to 2 hours on a few days
// each, and degraded spells), and a resolved and an open incident, as a
// page that has been running a while shows them.
func seed(data string, names []string, now time.Time) error {
	if err := os.MkdirAll(data, 0o700); err != nil {
		return err
	}
	db, err := bolt.Open(filepath.Join(data, "lookout.db"), 0o600, nil)
	if err != nil {
		return err
	}
	defer db.Close()
	ledger, err := uptime.Open(db, uptime.Options{MaxGap: 10 * time.Minute})
	if err != nil {
		return err
	}
	const step = 5 * time.Minute
	start := now.Add(-90 * 24 * time.Hour).Truncate(step)
	obs := make([]uptime.Observation, len(names))
	for at := start; at.Before(now); at = at.Add(step) {
		day, minute := int(at.Sub(start)/(24*time.Hour)), at.Hour()*60+at.Minute()
		for i, name := range names {
			st := probes.Up
			switch {
			case (day+3*i)%17 == 0 && minute >= 600 && minute < 600+20*(1+i%6):
				st = probes.Down
			case (day+i)%11 == 0 && minute >= 900 && minute < 960:
				st = probes.Degraded
			}
			obs[i] = uptime.Observation{Probe: name, State: st, Judged: true}
		}
		ledger.Record(at, obs)
	}
	if err := ledger.Flush(now); err != nil {
		return err
	}
	store, err := incidents.Open(db, incidents.Limits{}, nil, now)
	if err != nil {
		return err
	}
	inc, err := store.Open(names[1%len(names)], "Elevated error rates", "Some requests fail with 502; we are looking into it.", "bench", incidents.Investigating)
	if err != nil {
		return err
	}
	if _, err := store.Update(inc.ID, "A faulty load balancer node; traffic moved off it.", "bench", incidents.Identified); err != nil {
		return err
	}
	if _, err := store.Resolve(inc.ID, "Error rates are back to normal.", "bench"); err != nil {
		return err
	}
	_, err = store.Open(names[0], "Slow dashboard loads", "Dashboards take up to 10 s to load.", "bench", incidents.Monitoring)
	return err
}

// startLookout runs `lookout run` with the page and its probes. The
// public listener trusts 127.0.0.1's X-Forwarded-For, so that each
// request of the load counts as another client's for the rate limit,
// which then still runs but does not refuse. It is ready once every
// probe has run: the page shows no "no data" state (the page is built
// again every 5 s).
func startLookout(ctx context.Context, binary, dir, targetAddr string, names []string) (*lookoutproc.Proc, error) {
	var cfg strings.Builder
	cfg.WriteString("probes:\n")
	for _, name := range names {
		fmt.Fprintf(&cfg, "  - {name: %s, interval: 5s, http: {url: \"http://%s/health\"}}\n", name, targetAddr)
	}
	half := (len(names) + 1) / 2
	fmt.Fprintf(&cfg, "status_pages:\n  - name: public\n    path: /status\n    title: Example status\n    description: The services of example.com.\n    groups:\n")
	fmt.Fprintf(&cfg, "      - {name: Website, probes: [%s]}\n", strings.Join(names[:half], ", "))
	if half < len(names) {
		fmt.Fprintf(&cfg, "      - {name: API, probes: [%s]}\n", strings.Join(names[half:], ", "))
	}
	l, err := lookoutproc.StartWith(ctx, binary, dir, cfg.String(), lookoutproc.Options{Public: "trusted_proxies: [127.0.0.1]"})
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(time.Minute)
	for {
		if b, err := fetch(l.Public + "/status.json"); err == nil && !strings.Contains(string(b), `"state":"no_data"`) {
			return l, nil
		}
		select {
		case err := <-l.Exited:
			return nil, fmt.Errorf("lookout exited: %v (log: %s)", err, l.LogTail())
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			_, _ = l.Stop()
			return nil, fmt.Errorf("lookout's status page did not show every probe's state within a minute (log: %s)", l.LogTail())
		}
	}
}

// staticChild is this binary re-executed with -serve-static: the static
// file server, in a process of its own as the daemon is.
type staticChild struct {
	Addr  string
	cmd   *exec.Cmd
	stdin io.WriteCloser
}

func (c *staticChild) Pid() int { return c.cmd.Process.Pid }

// Stop closes the child's stdin, which ends it, and waits for it.
func (c *staticChild) Stop() {
	_ = c.stdin.Close()
	done := make(chan struct{})
	go func() {
		_ = c.cmd.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = c.cmd.Process.Kill()
		<-done
	}
}

func startStatic(ctx context.Context, file string) (*staticChild, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, exe, "-serve-static", file)
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	c := &staticChild{cmd: cmd, stdin: stdin}
	addr := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(stdout).ReadString('\n')
		addr <- strings.TrimSpace(line)
	}()
	select {
	case c.Addr = <-addr:
	case <-time.After(10 * time.Second):
	}
	if c.Addr == "" {
		c.Stop()
		return nil, errors.New("the static server printed no address within 10s")
	}
	return c, nil
}

// serveFile serves file's directory with http.FileServer until stdin
// closes, printing its address first.
func serveFile(ctx context.Context, file string) error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: http.FileServer(http.Dir(filepath.Dir(file))), ReadHeaderTimeout: 10 * time.Second}
	fmt.Println(ln.Addr().String())
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		_ = srv.Close()
	}()
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

func fetch(url string) ([]byte, error) {
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableCompression: true}}
	resp, err := c.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return b, err
}

// result is one batch: answers by status in the measured window.
type result struct {
	ok     int64
	status map[int]int64
	errs   int64
}

func (r result) notOK() string {
	for code, n := range r.status {
		if code != http.StatusOK && n > 0 {
			return fmt.Sprint(r.status)
		}
	}
	if r.errs > 0 {
		return fmt.Sprintf("%d transport errors", r.errs)
	}
	if r.ok == 0 {
		return "nothing"
	}
	return ""
}

// load sends GETs to url from o.workers keep-alive clients for o.warmup
// and then o.duration, counting the answers of the latter. Each request
// says it comes from another address (X-Forwarded-For), which only the
// status page's rate limit reads.
func load(ctx context.Context, url string, o options) result {
	tr := &http.Transport{MaxIdleConnsPerHost: o.workers, MaxConnsPerHost: o.workers, DisableCompression: true}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	start := time.Now()
	from, until := start.Add(o.warmup), start.Add(o.warmup+o.duration)
	var (
		next atomic.Uint32
		ok   atomic.Int64
		errs atomic.Int64
		mu   sync.Mutex
		res  = result{status: map[int]int64{}}
		wg   sync.WaitGroup
	)
	for range o.workers {
		wg.Go(func() {
			for ctx.Err() == nil {
				n := next.Add(1)
				req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
				req.Header.Set("X-Forwarded-For", fmt.Sprintf("10.%d.%d.%d", byte(n>>16), byte(n>>8), byte(n)))
				resp, err := client.Do(req)
				now := time.Now()
				if now.After(until) {
					cancel()
				}
				if err != nil {
					if ctx.Err() == nil {
						errs.Add(1)
					}
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if now.Before(from) || now.After(until) {
					continue
				}
				if resp.StatusCode == http.StatusOK {
					ok.Add(1)
					continue
				}
				mu.Lock()
				res.status[resp.StatusCode]++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	res.ok, res.errs = ok.Load(), errs.Load()
	res.status[http.StatusOK] = res.ok
	return res
}
