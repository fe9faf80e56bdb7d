// Command browsercpu measures what a Lookout browser probe costs against
// a bare chromedp program that loads the same page and reads the same
// PerformanceObserver entries (LCP, FCP, navigation TTFB, layout shifts,
// long tasks), both in headless Chromium started with Lookout's flags,
// on a page this program serves on 127.0.0.1.
//
// Each round runs a batch of sequential runs of each side, in alternating
// order. CPU counts this process and its Chromium: getrusage
// (RUSAGE_SELF and RUSAGE_CHILDREN) plus the user and system time, from
// /proc, of every live process descended from this one, read before and
// after each batch. The figures to watch are the medians over rounds of
// lookout/bare, for CPU and for wall time; the goal is at most 1.2.
//
// With -soak, it runs -probes browser probes through Lookout instead, each
// every -interval (their starts spread over it), and prints each minute
// the resident memory of this process and of its Chromium tree and the
// browser contexts open.
package main

import (
	"bytes"
	"context"
	_ "embed"
	"errors"
	"flag"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/lookout-dev/lookout/bench/internal/stats"
	"github.com/lookout-dev/lookout/config"
	"github.com/lookout-dev/lookout/probes"
	"github.com/lookout-dev/lookout/probes/browserprobe"
)

// goalRatio is the most CPU and wall time a Lookout run may take,
// relative to the bare program's.
const goalRatio = 1.2

//go:embed testdata/page.html
var pageHTML []byte

type options struct {
	rounds, runs, warmup int
	soak, interval       time.Duration
	probes               int
	waitUntil            string // the Lookout probes' wait_until
}

func main() {
	var o options
	flag.IntVar(&o.rounds, "rounds", 7, "measured rounds; each runs one batch of each side")
	flag.IntVar(&o.runs, "runs", 20, "sequential runs per batch")
	flag.IntVar(&o.warmup, "warmup", 3, "unmeasured runs of each side before the first round")
	flag.DurationVar(&o.soak, "soak", 0, "instead of comparing, run -probes Lookout browser probes for this long and report memory and open browser contexts each minute")
	flag.IntVar(&o.probes, "probes", 20, "-soak: browser probes")
	flag.DurationVar(&o.interval, "interval", time.Minute, "-soak: each probe's interval")
	flag.StringVar(&o.waitUntil, "wait-until", "load", "the Lookout probes' wait_until: load or networkidle")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, o, os.Stdout)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "browsercpu:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, o options, out io.Writer) error {
	if o.rounds < 1 || o.runs < 1 || o.probes < 1 || o.interval <= 0 {
		return errors.New("-rounds, -runs, -probes and -interval must be positive")
	}
	exe, err := chromium()
	if err != nil {
		return err
	}
	pageURL, stopSite, err := serve()
	if err != nil {
		return err
	}
	defer stopSite()
	dir, err := os.MkdirTemp("", "browsercpu-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if o.soak > 0 {
		return soak(ctx, o, out, exe, pageURL, dir)
	}
	return compare(ctx, o, out, exe, pageURL, dir)
}

// chromium is the first of Lookout's Chromium names found on PATH.
func chromium() (string, error) {
	for _, name := range config.BrowserExecutables {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("none of %v is on PATH (apt-get install chromium)", config.BrowserExecutables)
}

// serve serves the page and its image on 127.0.0.1, and returns the
// page's URL.
func serve() (string, func(), error) {
	img := image.NewRGBA(image.Rect(0, 0, 640, 320))
	for y := range 320 {
		for x := range 640 {
			img.Set(x, y, color.RGBA{uint8(x * 255 / 640), uint8(y * 255 / 320), 160, 255})
		}
	}
	var hero bytes.Buffer
	if err := png.Encode(&hero, img); err != nil {
		return "", nil, err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write(pageHTML)
	})
	mux.HandleFunc("GET /hero.png", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "image/png")
		w.Header().Set("Cache-Control", "no-store")
		w.Write(hero.Bytes())
	})
	mux.HandleFunc("GET /favicon.ico", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	return "http://" + ln.Addr().String() + "/", func() { srv.Close() }, nil
}

// side is one way of measuring the page once.
type side struct {
	name string
	run  func(context.Context) error
}

// batch is what one batch of runs cost.
type batch struct {
	cpu   time.Duration
	walls []time.Duration // each run's
}

func (b batch) cpuPerRun() time.Duration { return b.cpu / time.Duration(len(b.walls)) }

func (b batch) wall() time.Duration { return stats.Median(b.walls) }

// measure runs n runs of s one after another.
func measure(ctx context.Context, s side, n int) (batch, error) {
	runtime.GC()
	b := batch{walls: make([]time.Duration, 0, n)}
	cpu0 := cpuTotal()
	for range n {
		start := time.Now()
		rctx, cancel := context.WithTimeout(ctx, config.DefaultTimeout.Std())
		err := s.run(rctx)
		cancel()
		if err != nil {
			return batch{}, fmt.Errorf("%s: %w", s.name, err)
		}
		b.walls = append(b.walls, time.Since(start))
	}
	runtime.GC()
	b.cpu = cpuTotal() - cpu0
	return b, nil
}

func compare(ctx context.Context, o options, out io.Writer, exe, pageURL, dir string) error {
	bare, err := newBare(exe, filepath.Join(dir, "bare-profile"))
	if err != nil {
		return err
	}
	defer bare.close()
	b := browserprobe.NewBrowser(quietLog())
	defer b.Close()
	runners, err := lookoutRunners(b, exe, pageURL, dir, 1, time.Minute, "", o.waitUntil)
	if err != nil {
		return err
	}
	sides := [2]side{
		{name: "bare", run: bare.run(pageURL)},
		{name: "lookout", run: func(ctx context.Context) error {
			res := runners[0].Probe(ctx)
			if res.State != probes.Up {
				return fmt.Errorf("probe %s: %s", res.State, res.Reason)
			}
			if f, ok := res.Facts.(*browserprobe.Facts); !ok || f.Vitals == nil || f.Vitals.LCP <= 0 {
				return errors.New("the run measured no LCP")
			}
			return nil
		}},
	}
	fmt.Fprintf(out, "browsercpu: %d rounds of %d sequential runs per side of %s in %s (lookout: wait_until %s)\n", o.rounds, o.runs, pageURL, exe, o.waitUntil)
	fmt.Fprintf(out, "%s, GOMAXPROCS %d, %d CPUs\n\n", runtime.Version(), runtime.GOMAXPROCS(0), runtime.NumCPU())
	for _, s := range sides {
		if _, err := measure(ctx, s, o.warmup); err != nil {
			return fmt.Errorf("warm-up: %w", err)
		}
	}
	rounds := make([][2]batch, o.rounds)
	for i := range rounds {
		order := []int{0, 1}
		if i%2 == 1 {
			order = []int{1, 0}
		}
		for _, k := range order {
			bt, err := measure(ctx, sides[k], o.runs)
			if err != nil {
				return fmt.Errorf("round %d: %w", i+1, err)
			}
			rounds[i][k] = bt
		}
	}
	t := descendants()
	report(out, rounds, o.runs)
	fmt.Fprintf(out, "Chromium processes at the end: %d (both sides' browsers and their helpers)\n", t.procs)
	return nil
}

// report prints each round, the medians, and whether the median ratios
// meet the goal.
func report(out io.Writer, rounds [][2]batch, n int) {
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "round\tbare CPU ms/run\tlookout CPU ms/run\tratio\tbare wall ms/run\tlookout wall ms/run\tratio\t\n")
	var cpuRatios, wallRatios []float64
	var cpus, walls [2][]float64
	for i, r := range rounds {
		cr := ms(r[1].cpuPerRun()) / ms(r[0].cpuPerRun())
		wr := ms(r[1].wall()) / ms(r[0].wall())
		cpuRatios, wallRatios = append(cpuRatios, cr), append(wallRatios, wr)
		for k := range 2 {
			cpus[k] = append(cpus[k], ms(r[k].cpuPerRun()))
			walls[k] = append(walls[k], ms(r[k].wall()))
		}
		fmt.Fprintf(tw, "%d\t%.1f\t%.1f\t%.2f\t%.0f\t%.0f\t%.2f\t\n", i+1, ms(r[0].cpuPerRun()), ms(r[1].cpuPerRun()), cr, ms(r[0].wall()), ms(r[1].wall()), wr)
	}
	fmt.Fprintf(tw, "median\t%.1f\t%.1f\t%.2f\t%.0f\t%.0f\t%.2f\t\n",
		stats.Median(cpus[0]), stats.Median(cpus[1]), stats.Median(cpuRatios), stats.Median(walls[0]), stats.Median(walls[1]), stats.Median(wallRatios))
	tw.Flush()
	verdict := func(r float64) string {
		if r > goalRatio {
			return "NOT MET"
		}
		return "MET"
	}
	fmt.Fprintf(out, "\nmedian ratio lookout/bare over %d rounds of %d runs (goal <= %g):\n", len(rounds), n, goalRatio)
	fmt.Fprintf(out, "  CPU  %.2f (rounds %.2f–%.2f): %s\n", stats.Median(cpuRatios), slices.Min(cpuRatios), slices.Max(cpuRatios), verdict(stats.Median(cpuRatios)))
	fmt.Fprintf(out, "  wall %.2f (rounds %.2f–%.2f): %s\n", stats.Median(wallRatios), slices.Min(wallRatios), slices.Max(wallRatios), verdict(stats.Median(wallRatios)))
}

// quietLog is the Browser's and runners' logger: warnings and errors.
func quietLog() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// lookoutRunners configures b and builds n browser probes of pageURL
// (each every interval, with wait_until), as the daemon does:
// config.Parse, the browser kind, probes.Runner. The browser is the Chromium at exe, or the one at
// remote when set.
func lookoutRunners(b *browserprobe.Browser, exe, pageURL, dir string, n int, interval time.Duration, remote, waitUntil string) ([]*probes.Runner, error) {
	browser := fmt.Sprintf("executable: %q", exe)
	if remote != "" {
		browser = fmt.Sprintf("remote_url: %q", remote)
	}
	yml := fmt.Sprintf("storage: {path: %q}\nbrowser:\n  %s\nprobes:\n", filepath.Join(dir, "data"), browser)
	for i := range n {
		yml += fmt.Sprintf("  - name: page-%02d\n    interval: %s\n    browser:\n      url: %q\n      wait_until: %s\n", i, interval, pageURL, waitUntil)
	}
	cfg, err := config.Parse("browsercpu.yml", []byte(yml), func(string) (string, bool) { return "", false })
	if err != nil {
		return nil, fmt.Errorf("parse config: %w", err)
	}
	b.Configure(cfg.Browser)
	kinds := probes.Kinds{browserprobe.Kind(b)}
	runners := make([]*probes.Runner, 0, n)
	for _, pc := range cfg.Probes {
		r, err := kinds.NewRunner(pc, quietLog())
		if err != nil {
			return nil, err
		}
		runners = append(runners, r)
	}
	return runners, nil
}
