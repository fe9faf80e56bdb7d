// Package retained measures the heap that loading and building probes
// keeps alive, per probe, for the bench workload's 10,000 probes.
//
//	go test -run - -bench . -benchtime 3x ./bench/retained
package retained

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/lookout-dev/lookout/bench/internal/workload"
	"github.com/lookout-dev/lookout/config"
	"github.com/lookout-dev/lookout/probes/httpprobe"
)

const n = 10_000

// BenchmarkParse10kProbes parses 10,000 probes alike but for their names
// and reports, besides a parse's allocations, the heap the parsed config
// keeps alive (retained-B/probe).
func BenchmarkParse10kProbes(b *testing.B) {
	var retained uint64
	b.ReportAllocs()
	for b.Loop() {
		cfg := measure(b, &retained, func() any {
			cfg, err := workload.Config("http://127.0.0.1:8080/health", n, time.Minute)
			if err != nil {
				b.Fatal(err)
			}
			return cfg
		})
		runtime.KeepAlive(cfg)
	}
	b.ReportMetric(float64(retained)/n, "retained-B/probe")
}

// BenchmarkNew10kProbes builds probers for 10,000 plain probes on shared
// transports and reports the heap they keep alive (retained-B/probe).
func BenchmarkNew10kProbes(b *testing.B) {
	var y strings.Builder
	y.WriteString("probes:\n")
	for i := range n {
		fmt.Fprintf(&y, "  - name: %s\n    http:\n      url: http://127.0.0.1:8080/health\n", workload.Name(i))
	}
	cfg, err := config.Parse("bench.yml", []byte(y.String()), func(string) (string, bool) { return "", false })
	if err != nil {
		b.Fatal(err)
	}
	transports := httpprobe.NewTransports()
	var retained uint64
	b.ReportAllocs()
	for b.Loop() {
		ps := measure(b, &retained, func() any {
			ps := make([]*httpprobe.Prober, n)
			for i := range cfg.Probes {
				if ps[i], err = httpprobe.New(cfg.Probes[i].HTTP, transports); err != nil {
					b.Fatal(err)
				}
			}
			return ps
		})
		runtime.KeepAlive(ps)
	}
	b.ReportMetric(float64(retained)/n, "retained-B/probe")
}

// measure times build and records in *retained the live heap it added.
func measure(b *testing.B, retained *uint64, build func() any) any {
	b.StopTimer()
	before := heapInUse()
	b.StartTimer()
	v := build()
	b.StopTimer()
	*retained = heapInUse() - before
	b.StartTimer()
	return v
}

// heapInUse is the live heap after a full collection.
func heapInUse() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}
