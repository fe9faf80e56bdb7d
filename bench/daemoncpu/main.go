// Command daemoncpu measures the CPU the whole Lookout daemon spends per
// 1,000 HTTP probes, from outside, against a bare Go program that makes
// the same fresh-connection requests at the same rate on a timer.
//
// Both run side by side in child processes for the whole measurement,
// against one local target (a third child), so the machine's noise falls
// on both alike. Their CPU time is read from /proc/PID/stat at the start
// and end of each window; the ratio of a window is lookout/bare.
//
//	go build -o /tmp/lookout ./cmd/lookout
//	go build -o /tmp/daemoncpu ./bench/daemoncpu
//	/tmp/daemoncpu -lookout /tmp/lookout
//
// Goal (issue 12): lookout run with its defaults (alerting on) costs at
// most 1.5 times the bare program.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/lookout-dev/lookout/bench/internal/bare"
	"github.com/lookout-dev/lookout/bench/internal/lookoutproc"
	"github.com/lookout-dev/lookout/bench/internal/stats"
	"github.com/lookout-dev/lookout/bench/internal/target"
	"github.com/lookout-dev/lookout/bench/internal/usage"
	"github.com/lookout-dev/lookout/bench/internal/workload"
)

// goalRatio is the goal: the daemon at most 1.5 times the bare loop.
const goalRatio = 1.5

// bareFlag makes the binary the bare child: it probes -url, -probes
// times per -interval, until its stdin closes.
const bareFlag = "serve-bare"

type options struct {
	lookout          string
	url              string // of the bare child
	probes, windows  int
	interval, window time.Duration
	warmup           time.Duration
	scrape           time.Duration
	cpuProfile       string
	profileFor       time.Duration
	keep             bool
	tracing          bool
}

func main() {
	serve := flag.Bool(target.Flag, false, "internal: serve as the target child process")
	serveBare := flag.Bool(bareFlag, false, "internal: run as the bare child process, probing -url")
	var o options
	flag.StringVar(&o.lookout, "lookout", "", "the lookout binary to run (required; go build -o /tmp/lookout ./cmd/lookout)")
	flag.StringVar(&o.url, "url", "", "internal: the bare child's URL")
	flag.IntVar(&o.probes, "probes", 1000, "number of probes")
	flag.DurationVar(&o.interval, "interval", 10*time.Second, "interval of every probe")
	flag.DurationVar(&o.window, "window", time.Minute, "length of one measured window")
	flag.IntVar(&o.windows, "windows", 3, "number of windows")
	flag.DurationVar(&o.warmup, "warmup", 0, "run this long before the first window (0: two intervals plus 10s)")
	flag.DurationVar(&o.scrape, "scrape", 0, "scrape the daemon's /metrics this often, as Prometheus would (0: never; the issue's figure is without)")
	flag.StringVar(&o.cpuProfile, "cpuprofile", "", "after the windows, write the daemon's CPU profile (/debug/pprof/profile) to this file")
	flag.DurationVar(&o.profileFor, "profile-for", 30*time.Second, "how long -cpuprofile profiles")
	flag.BoolVar(&o.tracing, "tracing", false, "compare two daemons, without and with telemetry.tracing (sample ratio 1, OTLP/HTTP to the target's receiver), instead of lookout and the bare program")
	flag.BoolVar(&o.keep, "keep", false, "keep the directory with the daemon's config, data and log")
	flag.Parse()
	if o.warmup == 0 {
		o.warmup = 2*o.interval + 10*time.Second
	}
	if *serveBare {
		target.Main("daemoncpu bare", false, func(ctx context.Context) error { return runBare(ctx, o, os.Stdin, os.Stdout) })
		return
	}
	target.Main("daemoncpu", *serve, func(ctx context.Context) error { return run(ctx, o, os.Stdout) })
}

func run(ctx context.Context, o options, out io.Writer) error {
	if o.lookout == "" {
		return errors.New("-lookout is required: build it with go build -o /tmp/lookout ./cmd/lookout")
	}
	if o.probes < 1 || o.interval <= 0 || o.window <= 0 || o.windows < 1 {
		return errors.New("-probes, -interval, -window and -windows must be positive")
	}
	if o.tracing {
		return runTracing(ctx, o, out)
	}
	tgt, err := target.Start(ctx)
	if err != nil {
		return err
	}
	defer tgt.Stop()
	url := "http://" + tgt.Addr + "/health"
	fmt.Fprintf(out, "target %s (child process %d)\n", url, tgt.Pid())

	proc, stop, err := startLookout(ctx, o, "probes:\n"+workload.ProbesYAML(url, o.probes, o.interval), out)
	if err != nil {
		return err
	}
	defer stop()
	bc, err := startBare(ctx, o, url)
	if err != nil {
		return err
	}
	defer bc.stop()
	fmt.Fprintf(out, "lookout run (process %d) and the bare loop (process %d): %d probes every %s each; warming up %s\n",
		proc.Pid(), bc.cmd.Process.Pid, o.probes, o.interval, o.warmup)

	stopScrape := scrapeEvery(ctx, proc.Base, o.scrape)
	defer stopScrape()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case err := <-proc.Exited:
		return fmt.Errorf("lookout exited: %v (log: %s)", err, proc.LogTail())
	case <-time.After(o.warmup):
	}

	lookRuns0, err := probeRuns(ctx, proc.Base)
	if err != nil {
		return err
	}
	planned := float64(o.probes) * o.window.Seconds() / o.interval.Seconds()
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "window\tbare CPU s/1000\tlookout CPU s/1000\tratio\t\n")
	var bares, looks, ratios []float64
	for w := range o.windows {
		b0, l0 := usage.ProcessCPU(bc.cmd.Process.Pid), usage.ProcessCPU(proc.Pid())
		select {
		case <-ctx.Done():
			return ctx.Err()
		case err := <-proc.Exited:
			return fmt.Errorf("lookout exited: %v (log: %s)", err, proc.LogTail())
		case <-time.After(o.window):
		}
		b := (usage.ProcessCPU(bc.cmd.Process.Pid) - b0).Seconds() / planned * 1000
		l := (usage.ProcessCPU(proc.Pid()) - l0).Seconds() / planned * 1000
		bares, looks, ratios = append(bares, b), append(looks, l), append(ratios, l/b)
		fmt.Fprintf(tw, "%d\t%.3f\t%.3f\t%.2f\t\n", w+1, b, l, l/b)
	}
	fmt.Fprintf(tw, "median\t%.3f\t%.3f\t%.2f\t\n", stats.Median(bares), stats.Median(looks), stats.Median(ratios))
	tw.Flush()

	lookRuns, err := probeRuns(ctx, proc.Base)
	if err != nil {
		return err
	}
	want := planned * float64(o.windows)
	fmt.Fprintf(out, "\nruns in the windows: lookout %.0f (planned %.0f)\n", lookRuns-lookRuns0, want)
	if o.cpuProfile != "" {
		if err := saveProfile(ctx, proc.Base, o.cpuProfile, o.profileFor); err != nil {
			return err
		}
		fmt.Fprintf(out, "daemon's CPU profile (%s) in %s: go tool pprof -top -cum %s %s\n", o.profileFor, o.cpuProfile, o.lookout, o.cpuProfile)
	}
	runs, failed, err := bc.stop()
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "bare loop: %d requests in all, %d failed\n", runs, failed)
	verdict := "met"
	if stats.Median(ratios) > goalRatio {
		verdict = "NOT met"
	}
	fmt.Fprintf(out, "median ratio lookout/bare: %.2f (goal <= %.1f): %s\n", stats.Median(ratios), goalRatio, verdict)
	return nil
}

// startLookout starts lookout run with cfg in a temporary folder of its
// own (kept with -keep); stop stops it and removes the folder.
func startLookout(ctx context.Context, o options, cfg string, out io.Writer) (proc *lookoutproc.Proc, stop func(), err error) {
	dir, err := os.MkdirTemp("", "lookout-daemoncpu-")
	if err != nil {
		return nil, nil, err
	}
	remove := func() {
		if !o.keep {
			os.RemoveAll(dir)
		}
	}
	if o.keep {
		fmt.Fprintf(out, "daemon's files kept in %s\n", dir)
	}
	if proc, err = lookoutproc.Start(ctx, o.lookout, dir, cfg); err != nil {
		remove()
		return nil, nil, err
	}
	return proc, func() { proc.Stop(); remove() }, nil
}

// bareChild is the bare loop's process.
type bareChild struct {
	cmd    *exec.Cmd
	stdin  io.Closer
	stdout *bufio.Reader
	once   sync.Once
	runs   int64
	failed int64
	err    error
}

func startBare(ctx context.Context, o options, url string) (*bareChild, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, exe, "-"+bareFlag, "-url", url, "-probes", strconv.Itoa(o.probes), "-interval", o.interval.String())
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
		return nil, fmt.Errorf("start the bare loop: %w", err)
	}
	return &bareChild{cmd: cmd, stdin: stdin, stdout: bufio.NewReader(stdout)}, nil
}

// stop closes the child's stdin, reads its counts and waits for it.
func (c *bareChild) stop() (runs, failed int64, err error) {
	c.once.Do(func() {
		c.stdin.Close()
		line, rerr := c.stdout.ReadString('\n')
		if _, serr := fmt.Sscanf(line, "runs %d failed %d", &c.runs, &c.failed); serr != nil {
			c.err = fmt.Errorf("bare loop's counts %q: %v %v", line, rerr, serr)
		}
		if werr := c.cmd.Wait(); werr != nil && c.err == nil {
			c.err = fmt.Errorf("bare loop: %w", werr)
		}
	})
	return c.runs, c.failed, c.err
}

// runBare is the baseline: each probe a goroutine with its own ticker,
// started at its share of the interval as Lookout spreads probes, making
// a fresh-connection request with phase timing, the body read and the
// status checked. It stops when in closes and writes its counts to out.
func runBare(ctx context.Context, o options, in io.Reader, out io.Writer) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	p := bare.New(o.url)
	var runs, failed atomic.Int64
	var wg sync.WaitGroup
	for i := range o.probes {
		offset := time.Duration(int64(o.interval) * int64(i) / int64(o.probes))
		wg.Go(func() {
			select {
			case <-ctx.Done():
				return
			case <-time.After(offset):
			}
			t := time.NewTicker(o.interval)
			defer t.Stop()
			for {
				rctx, rcancel := context.WithTimeout(ctx, 10*time.Second)
				_, err := p.Probe(rctx)
				rcancel()
				if ctx.Err() != nil {
					return
				}
				runs.Add(1)
				if err != nil {
					failed.Add(1)
				}
				select {
				case <-ctx.Done():
					return
				case <-t.C:
				}
			}
		})
	}
	_, _ = io.Copy(io.Discard, in)
	cancel()
	wg.Wait()
	_, err := fmt.Fprintf(out, "runs %d failed %d\n", runs.Load(), failed.Load())
	return err
}

// probeRuns sums lookout_probe_runs_total on the daemon's /metrics.
func probeRuns(ctx context.Context, base string) (float64, error) {
	body, err := get(ctx, base+"/metrics")
	if err != nil {
		return 0, err
	}
	var sum float64
	for line := range strings.Lines(string(body)) {
		if !strings.HasPrefix(line, "lookout_probe_runs_total{") {
			continue
		}
		if i := strings.LastIndexByte(line, ' '); i > 0 {
			v, err := strconv.ParseFloat(strings.TrimSpace(line[i+1:]), 64)
			if err == nil {
				sum += v
			}
		}
	}
	return sum, nil
}

// scrapeEvery scrapes /metrics every d until the returned func is called;
// d 0 does nothing.
func scrapeEvery(ctx context.Context, base string, d time.Duration) func() {
	if d <= 0 {
		return func() {}
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(d)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				_, _ = get(ctx, base+"/metrics")
			}
		}
	}()
	return func() { cancel(); <-done }
}

func saveProfile(ctx context.Context, base, file string, d time.Duration) error {
	body, err := get(ctx, fmt.Sprintf("%s/debug/pprof/profile?seconds=%d", base, int(d.Seconds())))
	if err != nil {
		return err
	}
	return os.WriteFile(file, body, 0o644)
}

func get(ctx context.Context, url string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return body, nil
}
