package httpprobe_test

import (
	"fmt"
	"runtime"
	"strings"
	"testing"

	"github.com/lookout-dev/lookout/config"
	"github.com/lookout-dev/lookout/probes/httpprobe"
)

// BenchmarkNew10kProbes builds probers for 10,000 probes alike but for
// their names, and reports the heap they keep alive per probe.
func BenchmarkNew10kProbes(b *testing.B) {
	const n = 10_000
	var y strings.Builder
	y.WriteString("probes:\n")
	for i := range n {
		fmt.Fprintf(&y, "  - name: probe-%05d\n    http:\n      url: http://127.0.0.1:8080/health\n", i)
	}
	cfg, err := config.Parse("bench.yml", []byte(y.String()), func(string) (string, bool) { return "", false })
	if err != nil {
		b.Fatal(err)
	}
	transports := httpprobe.NewTransports()
	var retained uint64
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		before := heapInUse()
		b.StartTimer()
		ps := make([]*httpprobe.Prober, n)
		for i := range cfg.Probes {
			if ps[i], err = httpprobe.New(cfg.Probes[i].HTTP, transports); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		retained = heapInUse() - before
		runtime.KeepAlive(ps)
		b.StartTimer()
	}
	b.ReportMetric(float64(retained)/n, "retained-B/probe")
}

// heapInUse is the live heap after a full collection.
func heapInUse() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}
