// Command storemem measures the memory the alerting store holds for
// Lookout's own series: by default 50,000 series gathered every 15 s for
// the 2 h retention, 480 samples each, 24 million in all. It reports bytes
// per sample as the store counts them (Stats().Bytes) and as the Go heap
// grew (after a GC), and the CPU time Ingest spends per sample. The goal
// of the alerting issue is at most 2 bytes per sample.
//
// Values follow the shapes of Lookout's own series, gathered every 15 s
// while probes run every 60 s. -mix probes (the default) is what an HTTPS
// probe exposes: of its 35 float series, 10 gauges that rarely change
// (success, status code, lengths, TLS facts, state), 17 counters that step
// by 1 at most once a run (runs by result, histogram buckets and count) and
// 8 durations that take a new noisy value each run (total, five phases,
// last-run time, histogram sum). -mix harsh has fewer constant series and
// noisier ones:
//
//	45 % gauges that rarely change
//	25 % integer counters stepping by 0 to 5 every sample
//	20 % durations, a new noisy float every 4th sample
//	10 % noisy floats every sample (CPU seconds, memory)
//
// The per-kind table gives bytes per sample for each shape alone.
package main

import (
	"flag"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"runtime"
	"text/tabwriter"
	"time"

	"github.com/lookout-dev/lookout/bench/internal/usage"

	dto "github.com/prometheus/client_model/go"
	"google.golang.org/protobuf/proto"

	"github.com/lookout-dev/lookout/alerting/store"
)

// goalBytes is the most the store may hold per sample.
const goalBytes = 2.0

type options struct {
	series   int
	duration time.Duration
	interval time.Duration
	jitter   time.Duration
	perKind  int
	mix      string
}

func main() {
	var o options
	flag.IntVar(&o.series, "series", 50_000, "series gathered at each interval")
	flag.DurationVar(&o.duration, "duration", 2*time.Hour, "time span ingested (the store's retention)")
	flag.DurationVar(&o.interval, "interval", 15*time.Second, "gather interval")
	flag.DurationVar(&o.jitter, "jitter", 0, "random jitter added to each gather's timestamp, as time.Now() at a ticker would have")
	flag.IntVar(&o.perKind, "per-kind", 2_000, "series in the per-kind runs (0: skip them)")
	flag.StringVar(&o.mix, "mix", "probes", "shares of the kinds of series: probes or harsh")
	flag.Parse()
	if err := run(o, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "storemem:", err)
		os.Exit(1)
	}
}

// kind is one shape of series values.
type kind struct {
	name string
	next func(rng *rand.Rand, i int, v float64) float64 // value at sample i given the previous one
}

const (
	rareGauge = iota
	runCounter
	busyCounter
	duration
	noisy
)

var kinds = []kind{
	rareGauge: {"gauge, rarely changes (new small integer, p=1/200)", func(rng *rand.Rand, _ int, v float64) float64 {
		if rng.IntN(200) == 0 {
			return float64(rng.IntN(5))
		}
		return v
	}},
	runCounter: {"counter, +1 in 2 of 3 runs (every 4th sample)", func(rng *rand.Rand, i int, v float64) float64 {
		if i%4 == 0 && rng.IntN(3) > 0 {
			return v + 1
		}
		return v
	}},
	busyCounter: {"counter, +0..5 every sample", func(rng *rand.Rand, _ int, v float64) float64 {
		return v + float64(rng.IntN(6))
	}},
	duration: {"duration, new noisy float every 4th sample", func(rng *rand.Rand, i int, v float64) float64 {
		if i%4 == 0 {
			return math.Exp(rng.NormFloat64()*0.5 - 2.5) // about 80 ms
		}
		return v
	}},
	noisy: {"noisy float every sample", func(rng *rand.Rand, _ int, v float64) float64 {
		return v + rng.ExpFloat64()*0.37
	}},
}

// mixes are the shares of each kind.
var mixes = map[string][]float64{
	"probes": {rareGauge: 10.0 / 35, runCounter: 17.0 / 35, duration: 8.0 / 35},
	"harsh":  {rareGauge: 0.45, busyCounter: 0.25, duration: 0.20, noisy: 0.10},
}

// workload is the gathered families, built once; each step updates the
// values in place so building them costs nothing during the measurement.
type workload struct {
	mfs    []*dto.MetricFamily
	values []*float64
	kinds  []int // kind of each series
	rng    *rand.Rand
}

// newWorkload builds n series in families of 100, each series with a
// probe label, their kinds in the shares of the mix.
func newWorkload(n int, shares []float64) *workload {
	w := &workload{rng: rand.New(rand.NewPCG(1, 2))}
	const perFamily = 100
	for f := 0; f*perFamily < n; f++ {
		mf := &dto.MetricFamily{Name: proto.String(fmt.Sprintf("lookout_bench_metric_%03d", f)), Type: dto.MetricType_GAUGE.Enum()}
		for m := 0; m < perFamily && f*perFamily+m < n; m++ {
			i := f*perFamily + m
			v := new(float64)
			mf.Metric = append(mf.Metric, &dto.Metric{
				Label: []*dto.LabelPair{
					{Name: proto.String("probe"), Value: proto.String(fmt.Sprintf("probe-%05d", i))},
					{Name: proto.String("region"), Value: proto.String([]string{"eu", "us", "ap"}[i%3])},
				},
				Gauge: &dto.Gauge{Value: v},
			})
			w.values = append(w.values, v)
			w.kinds = append(w.kinds, kindOf(i, n, shares))
		}
		w.mfs = append(w.mfs, mf)
	}
	return w
}

// kindOf spreads kinds over the series by their shares.
func kindOf(i, n int, shares []float64) int {
	x := float64(i) / float64(n)
	last := 0
	for k, share := range shares {
		if share == 0 {
			continue
		}
		if x < share {
			return k
		}
		x -= share
		last = k
	}
	return last
}

func (w *workload) step(i int) {
	for j, v := range w.values {
		*v = kinds[w.kinds[j]].next(w.rng, i, *v)
	}
}

type result struct {
	samples             int
	stats               store.Stats
	heapInuse, heapLive uint64
	ingestCPU           time.Duration
}

// measure ingests the workload for the whole duration into a new store.
func measure(o options, w *workload) result {
	start := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	steps := int(o.duration / o.interval)
	before := heap()
	s := store.New(store.Options{Retention: o.duration + time.Hour, MaxSeries: len(w.values) + 1})
	rng := rand.New(rand.NewPCG(3, 4))
	var r result
	for i := range steps {
		w.step(i)
		ts := start.Add(time.Duration(i) * o.interval)
		if o.jitter > 0 {
			ts = ts.Add(time.Duration(rng.Int64N(int64(o.jitter))))
		}
		c0 := usage.CPU()
		s.Ingest(ts, w.mfs)
		r.ingestCPU += usage.CPU() - c0
	}
	after := heap()
	r.stats = s.Stats()
	r.samples = r.stats.Samples
	r.heapInuse = after.HeapInuse - before.HeapInuse
	r.heapLive = after.HeapAlloc - before.HeapAlloc
	runtime.KeepAlive(s)
	return r
}

func heap() runtime.MemStats {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m
}

func run(o options, out io.Writer) error {
	if o.series < 1 || o.interval <= 0 || o.duration < o.interval {
		return fmt.Errorf("need -series ≥ 1 and -duration ≥ -interval > 0")
	}
	shares, ok := mixes[o.mix]
	if !ok {
		return fmt.Errorf("-mix %q: want probes or harsh", o.mix)
	}
	steps := int(o.duration / o.interval)
	fmt.Fprintf(out, "%d series × %d samples (%s at %s), mix %s, timestamp jitter %s\n", o.series, steps, o.duration, o.interval, o.mix, o.jitter)
	for k, share := range shares {
		if share > 0 {
			fmt.Fprintf(out, "  %4.1f %%  %s\n", share*100, kinds[k].name)
		}
	}
	r := measure(o, newWorkload(o.series, shares))
	per := func(b uint64) float64 { return float64(b) / float64(r.samples) }
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "samples held\t%d\t\n", r.samples)
	fmt.Fprintf(tw, "store bytes (Stats().Bytes)\t%.1f MiB\t%.3f B/sample\n", float64(r.stats.Bytes)/(1<<20), per(uint64(r.stats.Bytes)))
	fmt.Fprintf(tw, "heap in use, delta after GC\t%.1f MiB\t%.3f B/sample (series labels, index and allocator slack included)\n", float64(r.heapInuse)/(1<<20), per(r.heapInuse))
	fmt.Fprintf(tw, "live heap, delta after GC\t%.1f MiB\t%.3f B/sample\n", float64(r.heapLive)/(1<<20), per(r.heapLive))
	fmt.Fprintf(tw, "ingest CPU\t%s\t%.0f ns/sample, %.1f ms per gather of %d series\n", r.ingestCPU.Round(time.Millisecond),
		float64(r.ingestCPU.Nanoseconds())/float64(r.samples), float64(r.ingestCPU.Milliseconds())/float64(steps), o.series)
	tw.Flush()
	verdict := "met"
	if per(uint64(r.stats.Bytes)) > goalBytes {
		verdict = "NOT met"
	}
	fmt.Fprintf(out, "goal ≤ %.0f B/sample (store bytes): %s\n", goalBytes, verdict)
	if o.perKind <= 0 {
		return nil
	}
	fmt.Fprintf(out, "\nper kind, %d series each:\n", o.perKind)
	tw = tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	for k, kd := range kinds {
		only := make([]float64, len(kinds))
		only[k] = 1
		kr := measure(o, newWorkload(o.perKind, only))
		fmt.Fprintf(tw, "%s\t%.3f B/sample\t\n", kd.name, float64(kr.stats.Bytes)/float64(kr.samples))
	}
	return tw.Flush()
}
