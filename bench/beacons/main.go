// Command beacons measures Lookout's Web Vitals endpoint (collectors/webvitals)
// against a bare net/http handler that only reads the body and answers 204:
// requests per second and latency under keep-alive load, alternating rounds,
// then RSS before and after a million beacons with random URLs. See
// bench/README.md.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"slices"
	"syscall"
	"time"

	"github.com/lookout-dev/lookout/bench/internal/stats"
	"github.com/lookout-dev/lookout/config"
)

func main() {
	var (
		serveFlag = flag.Bool("serve", false, "internal: run as the server child")
		loadAddr  = flag.String("load", "", "internal: run as the load generator child against this address")
		random    = flag.Bool("random", false, "internal: random page paths")
		count     = flag.Int64("count", 0, "internal: beacons to send (0: for -duration)")

		rounds    = flag.Int("rounds", 7, "rounds, each one batch of each side, alternating which goes first")
		workers   = flag.Int("workers", 16, "concurrent keep-alive clients")
		duration  = flag.Duration("duration", 4*time.Second, "measured time of one batch")
		warmup    = flag.Duration("warmup", 500*time.Millisecond, "unmeasured time before each batch")
		beacons   = flag.Int64("mem-beacons", 1_000_000, "beacons with random URLs of the memory run (0: skip it)")
		memLimit  = flag.Duration("mem-timeout", 100*time.Second, "time limit of the memory run")
		maxRoutes = flag.Int("max-routes", config.DefaultMaxRoutes, "the collector's max_routes")
	)
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	var err error
	switch {
	case *serveFlag:
		err = serve(ctx, *maxRoutes)
	case *loadAddr != "":
		err = load(ctx, loadOpts{addr: *loadAddr, workers: *workers, warmup: *warmup, duration: *duration, count: *count, random: *random})
	default:
		o := loadOpts{workers: *workers, warmup: *warmup, duration: *duration}
		err = speed(ctx, o, *rounds, *maxRoutes)
		if err == nil && *beacons > 0 {
			err = memory(ctx, loadOpts{workers: *workers, duration: *memLimit, count: *beacons, random: true}, *maxRoutes)
		}
	}
	stop()
	if err != nil {
		fmt.Fprintf(os.Stderr, "beacons: %v\n", err)
		os.Exit(1)
	}
}

// speed runs the alternating rounds against one server child.
func speed(ctx context.Context, o loadOpts, rounds, maxRoutes int) error {
	srv, err := startServer(ctx, maxRoutes)
	if err != nil {
		return err
	}
	defer srv.stop()
	fmt.Printf("speed: %d rounds of %v (+%v warm-up) per side, %d keep-alive workers; server pid %d, load generator in a child\n",
		rounds, o.duration, o.warmup, o.workers, srv.cmd.Process.Pid)
	fmt.Printf("%-5s %12s %12s %7s %10s %10s %10s %10s\n", "round", "bare req/s", "lookout/s", "ratio", "bare p50", "bare p99", "look p50", "look p99")
	var ratios, bareRates, lookRates []float64
	var bareP99s, lookP99s []time.Duration
	for i := range rounds {
		var res [2]loadResult // 0 bare, 1 lookout
		order := []int{0, 1}
		if i%2 == 1 {
			order = []int{1, 0}
		}
		for _, side := range order {
			o.addr = srv.bare
			if side == 1 {
				o.addr = srv.lookout
			}
			if res[side], err = runLoad(ctx, o); err != nil {
				return err
			}
			if bad := notOK(res[side]); bad != "" {
				return fmt.Errorf("round %d: %s answered %s", i+1, [2]string{"bare", "lookout"}[side], bad)
			}
		}
		b, l := rate(res[0]), rate(res[1])
		ratios, bareRates, lookRates = append(ratios, l/b), append(bareRates, b), append(lookRates, l)
		bareP99s, lookP99s = append(bareP99s, res[0].P99), append(lookP99s, res[1].P99)
		fmt.Printf("%-5d %12.0f %12.0f %7.3f %10v %10v %10v %10v\n", i+1, b, l, l/b,
			ms(res[0].P50), ms(res[0].P99), ms(res[1].P50), ms(res[1].P99))
	}
	st, err := srv.stats()
	if err != nil {
		return err
	}
	r := stats.Median(ratios)
	verdict := "met"
	if r < 0.8 {
		verdict = "NOT met"
	}
	fmt.Printf("median: bare %.0f req/s, lookout %.0f req/s; p99 bare %v, lookout %v\n",
		stats.Median(bareRates), stats.Median(lookRates), ms(stats.Median(bareP99s)), ms(stats.Median(lookP99s)))
	fmt.Printf("median ratio lookout/bare %.3f (rounds %.3f–%.3f); goal ≥ 0.8: %s\n",
		r, slices.Min(ratios), slices.Max(ratios), verdict)
	fmt.Printf("lookout counted %.0f reports, %d routes; rejected %v\n\n", st.Accepted, st.Routes, st.Rejected)
	return nil
}

// memory sends o.count beacons with random URLs to a fresh server child.
func memory(ctx context.Context, o loadOpts, maxRoutes int) error {
	srv, err := startServer(ctx, maxRoutes)
	if err != nil {
		return err
	}
	defer srv.stop()
	before, err := srv.stats()
	if err != nil {
		return err
	}
	o.addr = srv.lookout
	start := time.Now()
	res, err := runLoad(ctx, o)
	if err != nil {
		return err
	}
	took := time.Since(start)
	after, err := srv.stats()
	if err != nil {
		return err
	}
	fmt.Printf("memory: %d beacons with random URLs in %.1fs (%.0f/s, p99 %v), answers %v; fresh server child\n",
		res.Requests, took.Seconds(), float64(res.Requests)/took.Seconds(), ms(res.P99), res.Status)
	fmt.Printf("  before: VmRSS %s, VmHWM %s, heap in use %s\n", mb(before.VmRSS), mb(before.VmHWM), mb(int64(before.HeapInuse)))
	fmt.Printf("  after:  VmRSS %s, VmHWM %s, heap in use %s\n", mb(after.VmRSS), mb(after.VmHWM), mb(int64(after.HeapInuse)))
	verdict := "ok"
	if after.Routes > maxRoutes+1 {
		verdict = "MORE than max_routes + 1"
	}
	fmt.Printf("  routes: %d (max_routes %d; %s); reports counted %.0f; rejected %v\n",
		after.Routes, maxRoutes, verdict, after.Accepted, after.Rejected)
	if res.Requests < o.count {
		return fmt.Errorf("memory run: only %d of %d beacons within %v", res.Requests, o.count, o.duration)
	}
	return nil
}

func notOK(r loadResult) string {
	for k, v := range r.Status {
		if k != "204" && v > 0 {
			return fmt.Sprint(r.Status)
		}
	}
	if r.Requests == 0 {
		return "nothing"
	}
	return ""
}

func rate(r loadResult) float64 { return float64(r.Requests) / r.Seconds }

func ms(d time.Duration) string { return fmt.Sprintf("%.2fms", float64(d)/1e6) }

func mb(b int64) string { return fmt.Sprintf("%.1f MB", float64(b)/1e6) }
