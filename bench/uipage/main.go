// Command uipage measures the admin UI's overview with many probes: the
// server's CPU time, the latency and the bytes of one page view of a
// daemon with -probes probes, against a daemon with -small probes in the
// same run, so the ratio says how the page grows with the probe count
// (the overview pages and filters on the server: it should not).
//
//	go build -o /tmp/lookout ./cmd/lookout
//	go build -o /tmp/uipage ./bench/uipage
//	/tmp/uipage -lookout /tmp/lookout [-probes 10000] [-small 100] [-rounds 5] [-views 40]
//
// Both daemons run `lookout run` in child processes with HTTP probes of a
// local target every 5 minutes (a fifth of them down, answering 503), and
// are given -settle to run some of them first. Each round views, on each
// daemon in turn, the first page, the 100th page (or the last) and the
// down probes (?state=down), -views times each, one at a time.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/lookout-dev/lookout/bench/internal/lookoutproc"
	"github.com/lookout-dev/lookout/bench/internal/stats"
	"github.com/lookout-dev/lookout/bench/internal/usage"
)

type options struct {
	lookout       string
	probes, small int
	rounds, views int
	settle        time.Duration
}

func main() {
	var o options
	flag.StringVar(&o.lookout, "lookout", "/tmp/lookout", "the lookout binary")
	flag.IntVar(&o.probes, "probes", 10000, "probes of the big daemon")
	flag.IntVar(&o.small, "small", 100, "probes of the baseline daemon")
	flag.IntVar(&o.rounds, "rounds", 5, "rounds; each views every page on both daemons")
	flag.IntVar(&o.views, "views", 40, "sequential views of each page per round")
	flag.DurationVar(&o.settle, "settle", 30*time.Second, "time the daemons run their probes before the first round")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, o, os.Stdout)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "uipage:", err)
		os.Exit(1)
	}
}

// daemon is one `lookout run` and its probe count.
type daemon struct {
	name   string
	probes int
	proc   *lookoutproc.Proc
}

// view is what one page of one daemon measured over a round.
type view struct {
	cpu     time.Duration // the daemon's CPU per view
	latency time.Duration // median
	bytes   int
}

func run(ctx context.Context, o options, out io.Writer) error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	target := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/down") {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}), ReadHeaderTimeout: 5 * time.Second}
	go target.Serve(ln)
	defer target.Close()
	base := "http://" + ln.Addr().String()

	var daemons []*daemon
	for _, d := range []*daemon{{name: "small", probes: o.small}, {name: "big", probes: o.probes}} {
		dir, err := os.MkdirTemp("", "uipage-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		var cfg strings.Builder
		cfg.WriteString("probes:\n")
		for i := range d.probes {
			path := "/up"
			if i%5 == 0 {
				path = "/down"
			}
			fmt.Fprintf(&cfg, "  - {name: probe-%05d, interval: 5m, labels: {team: t%d}, http: {url: %q}}\n", i, i%20, base+path+fmt.Sprint(i))
		}
		if d.proc, err = lookoutproc.Start(ctx, o.lookout, dir, cfg.String()); err != nil {
			return err
		}
		defer d.proc.Stop()
		daemons = append(daemons, d)
	}
	fmt.Fprintf(out, "uipage: overview of %d probes against %d, %d rounds of %d views per page; settling %s\n", o.probes, o.small, o.rounds, o.views, o.settle)
	select {
	case <-time.After(o.settle):
	case <-ctx.Done():
		return ctx.Err()
	}
	pages := []struct{ name, path string }{
		{"first page", "/"},
		{"page 100", "/?page=100"},
		{"down only", "/?state=down"},
	}
	results := map[string][]view{} // daemon/page → rounds
	client := &http.Client{Timeout: 30 * time.Second}
	for round := range o.rounds {
		order := daemons
		if round%2 == 1 {
			order = []*daemon{daemons[1], daemons[0]}
		}
		for _, d := range order {
			for _, p := range pages {
				v, err := measure(ctx, client, d, p.path, o.views)
				if err != nil {
					return fmt.Errorf("%s %s: %w", d.name, p.path, err)
				}
				results[d.name+"/"+p.name] = append(results[d.name+"/"+p.name], v)
			}
		}
	}
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "page\t%d probes: CPU ms/view\tlatency ms\tKB\t%d probes: CPU ms/view\tlatency ms\tKB\tCPU ratio\t\n", o.small, o.probes)
	for _, p := range pages {
		s, b := medianView(results["small/"+p.name]), medianView(results["big/"+p.name])
		fmt.Fprintf(tw, "%s\t%.2f\t%.2f\t%.1f\t%.2f\t%.2f\t%.1f\t%.2f\t\n", p.name,
			ms(s.cpu), ms(s.latency), float64(s.bytes)/1024, ms(b.cpu), ms(b.latency), float64(b.bytes)/1024, float64(b.cpu)/float64(s.cpu))
	}
	return tw.Flush()
}

// measure views path n times, one at a time, and reads the daemon's CPU
// around them.
func measure(ctx context.Context, c *http.Client, d *daemon, path string, n int) (view, error) {
	var lat []time.Duration
	var size int
	before := usage.ProcessCPU(d.proc.Pid())
	for range n {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, d.proc.Base+path, nil)
		if err != nil {
			return view{}, err
		}
		start := time.Now()
		resp, err := c.Do(req)
		if err != nil {
			return view{}, err
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			return view{}, fmt.Errorf("%d %v", resp.StatusCode, err)
		}
		lat = append(lat, time.Since(start))
		size = len(b)
	}
	cpu := usage.ProcessCPU(d.proc.Pid()) - before
	return view{cpu: cpu / time.Duration(n), latency: stats.Median(lat), bytes: size}, nil
}

// medianView is each measure's median over the rounds.
func medianView(vs []view) view {
	var cpu, lat []time.Duration
	var size []int
	for _, v := range vs {
		cpu, lat, size = append(cpu, v.cpu), append(lat, v.latency), append(size, v.bytes)
	}
	slices.Sort(size)
	return view{cpu: stats.Median(cpu), latency: stats.Median(lat), bytes: size[len(size)/2]}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
