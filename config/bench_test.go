package config

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
)

// benchProbeYAML is the probe the benchmarks in bench/ run; %05d numbers it.
const benchProbeYAML = `  - name: probe-%05d
    interval: 60s
    http:
      url: http://127.0.0.1:8080/health
      expect:
        status: [200]
        body_regex: '"status":\s*"UP"'
      assert:
        - 'body.status == "UP"'
`

func benchConfig(n int) []byte {
	var b strings.Builder
	b.WriteString("probes:\n")
	for i := range n {
		fmt.Fprintf(&b, benchProbeYAML, i)
	}
	return []byte(b.String())
}

// BenchmarkParse10kProbes parses 10,000 probes alike but for their names.
// Besides the allocations of a parse it reports the heap the parsed config
// keeps alive, per probe (retained-B/probe).
func BenchmarkParse10kProbes(b *testing.B) {
	const n = 10_000
	data := benchConfig(n)
	noEnv := func(string) (string, bool) { return "", false }
	var retained uint64
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		before := heapInUse()
		b.StartTimer()
		cfg, err := Parse("bench.yml", data, noEnv)
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		retained = heapInUse() - before
		runtime.KeepAlive(cfg)
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
