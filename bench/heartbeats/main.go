// Command heartbeats measures the whole Lookout daemon taking heartbeat
// check-ins: the real `lookout run` with 10,000 heartbeat probes, and
// check-ins at 5,000 a second for a minute from a load generator in this
// process, over keep-alive connections to 127.0.0.1. It reports the rate
// achieved, errors, latency, the daemon's CPU and its peak resident set
// (VmHWM), against the same daemon idle without heartbeats.
//
//	go build -o /tmp/lookout ./cmd/lookout
//	go build -o /tmp/heartbeats ./bench/heartbeats
//	/tmp/heartbeats -lookout /tmp/lookout
//
// Goal (issue 12): 10,000 heartbeats, check-ins at 5,000/s sustained on 2
// cores, RSS < 100 MB.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/lookout-dev/lookout/bench/internal/lookoutproc"
	"github.com/lookout-dev/lookout/bench/internal/stats"
	"github.com/lookout-dev/lookout/bench/internal/usage"
)

// goalRSS is the bound on the daemon's resident set.
const goalRSS = 100 << 20

type options struct {
	lookout  string
	beats    int
	rate     int
	duration time.Duration
	conns    int
	settle   time.Duration
	keep     bool
	heap     string
	every    time.Duration
	gogc     int
}

func main() {
	var o options
	flag.StringVar(&o.lookout, "lookout", "", "the lookout binary to run (required; go build -o /tmp/lookout ./cmd/lookout)")
	flag.IntVar(&o.beats, "beats", 10000, "number of heartbeat probes")
	flag.IntVar(&o.rate, "rate", 5000, "check-ins per second")
	flag.DurationVar(&o.duration, "duration", time.Minute, "how long to send check-ins")
	flag.IntVar(&o.conns, "conns", 256, "keep-alive connections (and senders) of the load generator")
	flag.DurationVar(&o.settle, "settle", 10*time.Second, "how long each daemon runs idle before its memory is read")
	flag.BoolVar(&o.keep, "keep", false, "keep the directories with the daemons' config, data and log")
	flag.IntVar(&o.gogc, "gogc", 0, "the daemon's runtime.gogc (0: Lookout's default)")
	flag.DurationVar(&o.every, "memory-every", 0, "during the load, print the daemon's memory this often (0: never)")
	flag.StringVar(&o.heap, "heapprofile", "", "at the end of the load, write the daemon's heap profile (/debug/pprof/heap) to this file")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, o, os.Stdout)
	stop()
	if err != nil {
		fmt.Fprintf(os.Stderr, "heartbeats: %v\n", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, o options, out io.Writer) error {
	if o.lookout == "" {
		return errors.New("-lookout is required: build it with go build -o /tmp/lookout ./cmd/lookout")
	}
	if o.beats < 1 || o.rate < 1 || o.duration <= 0 || o.conns < 1 {
		return errors.New("-beats, -rate, -duration and -conns must be positive")
	}

	idle, err := idleBaseline(ctx, o)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "idle, no heartbeats: VmRSS %s, VmHWM %s after %s\n", mb(idle.RSS), mb(idle.HWM), o.settle)

	dir, drop, err := tempDir(o, "beats", out)
	if err != nil {
		return err
	}
	defer drop()
	start := time.Now()
	proc, err := lookoutproc.Start(ctx, o.lookout, dir, runtimeConfig(o)+beatsConfig(o.beats))
	if err != nil {
		return err
	}
	stopped := false
	defer func() {
		if !stopped {
			proc.Stop()
		}
	}()
	fmt.Fprintf(out, "lookout run (process %d) with %d heartbeats ready in %s\n", proc.Pid(), o.beats, time.Since(start).Round(time.Millisecond))
	if err := sleep(ctx, proc, o.settle); err != nil {
		return err
	}
	before := usage.ReadMemory(proc.Pid())
	fmt.Fprintf(out, "idle, %d heartbeats: VmRSS %s, VmHWM %s after %s\n", o.beats, mb(before.RSS), mb(before.HWM), o.settle)

	cpu0 := usage.ProcessCPU(proc.Pid())
	self0 := usage.CPU()
	stopWatch := watchMemory(ctx, out, proc, o.every)
	res := load(ctx, o, proc.Base)
	stopWatch()
	cpu := usage.ProcessCPU(proc.Pid()) - cpu0
	self := usage.CPU() - self0
	after := usage.ReadMemory(proc.Pid())
	split := rssSplit(proc.Pid())
	if o.heap != "" {
		if err := saveHeap(ctx, proc.Base, o.heap); err != nil {
			return err
		}
		fmt.Fprintf(out, "daemon's heap profile in %s: go tool pprof -top %s %s\n", o.heap, o.lookout, o.heap)
	}
	select {
	case err := <-proc.Exited:
		return fmt.Errorf("lookout exited under load: %v (log: %s)", err, proc.LogTail())
	default:
	}
	counted, failures, err := scrape(ctx, proc.Base)
	if err != nil {
		return err
	}

	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "\ncheck-ins sent\t%d in %s (%d a second planned, %d connections)\n", res.sent, res.elapsed.Round(time.Millisecond), o.rate, o.conns)
	fmt.Fprintf(tw, "achieved rate\t%.0f/s answered 200\n", float64(res.ok)/res.elapsed.Seconds())
	fmt.Fprintf(tw, "errors\t%d (%s)\n", res.sent-res.ok, res.errorSummary())
	fmt.Fprintf(tw, "behind schedule\t%d sends started over 100 ms late\n", res.late)
	if len(res.latencies) > 0 {
		fmt.Fprintf(tw, "latency\tp50 %s, p99 %s, max %s\n", ms(stats.Quantile(res.latencies, 0.5)), ms(stats.Quantile(res.latencies, 0.99)), ms(stats.Quantile(res.latencies, 1)))
	}
	fmt.Fprintf(tw, "daemon CPU\t%.1f s in %s (%.2f cores); load generator %.1f s\n", cpu.Seconds(), res.elapsed.Round(time.Second), cpu.Seconds()/res.elapsed.Seconds(), self.Seconds())
	fmt.Fprintf(tw, "daemon counted\t%s ok check-ins; storage write failures: %s\n", counted, failures)
	fmt.Fprintf(tw, "daemon memory\tVmRSS %s after the load (%s), VmHWM %s (idle without heartbeats: VmHWM %s)\n", mb(after.RSS), split, mb(after.HWM), mb(idle.HWM))
	tw.Flush()
	verdict := func(ok bool) string {
		if ok {
			return "met"
		}
		return "NOT met"
	}
	achieved := float64(res.ok) / res.elapsed.Seconds()
	fmt.Fprintf(out, "\nrate %.0f/s (goal %d/s sustained, no errors): %s\n", achieved, o.rate, verdict(achieved >= 0.99*float64(o.rate) && res.ok == res.sent))
	fmt.Fprintf(out, "peak RSS %s (goal < %s): %s\n", mb(after.HWM), mb(goalRSS), verdict(after.HWM < goalRSS))
	stopped = true
	_, err = proc.Stop()
	return err
}

// idleBaseline runs the daemon without probes for o.settle and reads its
// memory.
func idleBaseline(ctx context.Context, o options) (usage.Memory, error) {
	dir, drop, err := tempDir(o, "idle", io.Discard)
	if err != nil {
		return usage.Memory{}, err
	}
	defer drop()
	proc, err := lookoutproc.Start(ctx, o.lookout, dir, runtimeConfig(o)+"probes: []\n")
	if err != nil {
		return usage.Memory{}, err
	}
	if err := sleep(ctx, proc, o.settle); err != nil {
		proc.Stop()
		return usage.Memory{}, err
	}
	m := usage.ReadMemory(proc.Pid())
	_, err = proc.Stop()
	return m, err
}

// tempDir makes a directory for a daemon's config, data and log; drop
// removes it unless -keep.
func tempDir(o options, what string, out io.Writer) (dir string, drop func(), err error) {
	dir, err = os.MkdirTemp("", "lookout-heartbeats-"+what+"-")
	if err != nil {
		return "", nil, err
	}
	if o.keep {
		fmt.Fprintf(out, "daemon's files kept in %s\n", dir)
		return dir, func() {}, nil
	}
	return dir, func() { os.RemoveAll(dir) }, nil
}

func sleep(ctx context.Context, proc *lookoutproc.Proc, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case err := <-proc.Exited:
		return fmt.Errorf("lookout exited: %v (log: %s)", err, proc.LogTail())
	case <-time.After(d):
		return nil
	}
}

// runtimeConfig sets runtime.gogc when -gogc asks.
func runtimeConfig(o options) string {
	if o.gogc == 0 {
		return ""
	}
	return fmt.Sprintf("runtime:\n  gogc: %d\n", o.gogc)
}

// beatName and beatToken are heartbeat i's.
func beatName(i int) string  { return fmt.Sprintf("job-%05d", i) }
func beatToken(i int) string { return fmt.Sprintf("token-%05d-0123456789abcdef", i) }

// beatsConfig is n heartbeat probes, each a job every 24h with the
// default grace and evaluation interval (60s).
func beatsConfig(n int) string {
	var b strings.Builder
	b.WriteString("probes:\n")
	for i := range n {
		fmt.Fprintf(&b, "  - name: %s\n    heartbeat: {every: 24h, token: %s}\n", beatName(i), beatToken(i))
	}
	return b.String()
}

// result is what the load generator saw.
type result struct {
	sent, ok, late int64
	elapsed        time.Duration
	latencies      []time.Duration
	mu             sync.Mutex
	errs           map[string]int64 // by status or error
}

func (r *result) fail(what string) {
	r.mu.Lock()
	r.errs[what]++
	r.mu.Unlock()
}

func (r *result) errorSummary() string {
	if len(r.errs) == 0 {
		return "none"
	}
	var parts []string
	for what, n := range r.errs {
		parts = append(parts, fmt.Sprintf("%s: %d", what, n))
	}
	return strings.Join(parts, ", ")
}

// load sends o.rate check-ins a second for o.duration, open loop: a
// ticker plans each send at its time and o.conns senders take them, so a
// slow answer delays no plan (a send that starts over 100 ms after its
// planned time counts as late). Check-in k goes to heartbeat k mod
// o.beats, a start on even rounds and a success on odd ones, so every
// success ends a run.
func load(ctx context.Context, o options, base string) *result {
	tr := &http.Transport{MaxIdleConns: o.conns, MaxIdleConnsPerHost: o.conns, MaxConnsPerHost: o.conns, IdleConnTimeout: time.Minute}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	res := &result{errs: map[string]int64{}}
	plans := make(chan time.Time, o.rate) // a second of backlog
	lat := make([][]time.Duration, o.conns)
	var next atomic.Int64
	var wg sync.WaitGroup
	for c := range o.conns {
		wg.Go(func() {
			for planned := range plans {
				if time.Since(planned) > 100*time.Millisecond {
					atomic.AddInt64(&res.late, 1)
				}
				k := int(next.Add(1) - 1)
				i := k % o.beats
				path := "/v1/heartbeat/" + beatName(i)
				if (k/o.beats)%2 == 0 {
					path += "/start"
				}
				t0 := time.Now()
				status, err := checkin(ctx, client, base+path, beatToken(i))
				d := time.Since(t0)
				atomic.AddInt64(&res.sent, 1)
				switch {
				case err != nil:
					res.fail(errKind(err))
				case status != http.StatusOK:
					res.fail("HTTP " + strconv.Itoa(status))
				default:
					atomic.AddInt64(&res.ok, 1)
					lat[c] = append(lat[c], d)
				}
			}
		})
	}
	const tick = time.Millisecond
	perTick := float64(o.rate) * tick.Seconds()
	start := time.Now()
	ticker := time.NewTicker(tick)
	planned, total := 0, int(float64(o.rate)*o.duration.Seconds())
loop:
	for planned < total {
		select {
		case <-ctx.Done():
			break loop
		case now := <-ticker.C:
			due := min(total, int(perTick*float64(now.Sub(start))/float64(tick)))
			for ; planned < due; planned++ {
				plans <- start.Add(time.Duration(float64(planned) / float64(o.rate) * float64(time.Second)))
			}
		}
	}
	ticker.Stop()
	close(plans)
	wg.Wait()
	res.elapsed = time.Since(start)
	for _, l := range lat {
		res.latencies = append(res.latencies, l...)
	}
	return res
}

func checkin(ctx context.Context, client *http.Client, url, token string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}

func errKind(err error) string {
	switch {
	case errors.Is(err, context.DeadlineExceeded), strings.Contains(err.Error(), "Timeout"):
		return "timeout"
	case errors.Is(err, context.Canceled):
		return "cancelled"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.ECONNRESET):
		return "connection reset"
	}
	return "other error"
}

var (
	okRE       = regexp.MustCompile(`(?m)^lookout_heartbeat_checkins_total\{result="ok"\} (\S+)$`)
	failuresRE = regexp.MustCompile(`(?m)^lookout_storage_write_failures_total\{component="heartbeats",reason="(\w+)"\} (\S+)$`)
)

// scrape reads from /metrics the ok check-ins the daemon counted and its
// heartbeats' storage write failures.
func scrape(ctx context.Context, base string) (ok, failures string, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/metrics", nil)
	if err != nil {
		return "", "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", "", fmt.Errorf("scrape: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", "", fmt.Errorf("scrape: %w", err)
	}
	ok = "?"
	if m := okRE.FindSubmatch(body); m != nil {
		ok = string(m[1])
	}
	var fs []string
	for _, m := range failuresRE.FindAllSubmatch(body, -1) {
		if string(m[2]) != "0" {
			fs = append(fs, string(m[1])+" "+string(m[2]))
		}
	}
	failures = "none"
	if len(fs) > 0 {
		failures = strings.Join(fs, ", ")
	}
	return ok, failures, nil
}

// watchMemory prints the daemon's memory every d until stop is called,
// from /proc only: a scrape of /metrics would cost the daemon memory.
func watchMemory(ctx context.Context, out io.Writer, proc *lookoutproc.Proc, d time.Duration) (stop func()) {
	if d <= 0 {
		return func() {}
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		t0 := time.Now()
		for {
			select {
			case <-ctx.Done():
				return
			case <-time.After(d):
				m := usage.ReadMemory(proc.Pid())
				fmt.Fprintf(out, "  %3.0fs: VmRSS %s (%s), VmHWM %s\n", time.Since(t0).Seconds(), mb(m.RSS), rssSplit(proc.Pid()), mb(m.HWM))
			}
		}
	}()
	return func() { cancel(); <-done }
}

// rssSplit tells a process's resident set by kind: anonymous (the heap,
// stacks) and file-backed (the binary, and lookout.db, which bbolt maps).
func rssSplit(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return err.Error()
	}
	var parts []string
	for line := range strings.Lines(string(b)) {
		key, val, _ := strings.Cut(line, ":")
		if key == "RssAnon" || key == "RssFile" {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(val), " kB"), 10, 64)
			parts = append(parts, strings.TrimPrefix(key, "Rss")+" "+mb(kb<<10))
		}
	}
	return strings.Join(parts, ", ")
}

func saveHeap(ctx context.Context, base, file string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/debug/pprof/heap?gc=1", nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("heap profile: %w", err)
	}
	defer resp.Body.Close()
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func mb(b int64) string { return fmt.Sprintf("%.1f MB", float64(b)/(1<<20)) }

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond)) }
