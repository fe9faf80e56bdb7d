package store

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/prometheus/prometheus/model/value"
)

type sample struct {
	t int64
	v float64
}

func TestChunkRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	stale := math.Float64frombits(value.StaleNaN)
	regular := func(n int, v func(i int) float64) []sample {
		out := make([]sample, n)
		for i := range out {
			out[i] = sample{t: 1_700_000_000_000 + int64(i)*15_000, v: v(i)}
		}
		return out
	}
	edge := []float64{0, math.Copysign(0, -1), 1, -1, math.NaN(), stale, math.Inf(1), math.Inf(-1),
		math.MaxFloat64, math.SmallestNonzeroFloat64, -math.MaxFloat64, 1e-300, 42, 42, stale, 0}
	tests := []struct {
		name    string
		samples []sample
	}{
		{"one sample", regular(1, func(int) float64 { return 3.5 })},
		{"two samples", regular(2, func(i int) float64 { return float64(i) })},
		{"constant", regular(chunkSamples, func(int) float64 { return 1 })},
		{"counter", regular(chunkSamples, func(i int) float64 { return float64(i * i) })},
		{"random floats", regular(chunkSamples, func(int) float64 { return rng.NormFloat64() * 1e6 })},
		{"random bits", regular(chunkSamples, func(int) float64 { return math.Float64frombits(rng.Uint64()) })},
		{"edge values", regular(len(edge), func(i int) float64 { return edge[i] })},
		{"irregular timestamps", func() []sample {
			gaps := []int64{0, 1, 15_000, 15_003, 14_990, 1, 8192, 8193, 65_536, 65_537, 524_288, 524_289,
				3_600_000, 1 << 40, 1, 1 << 62, 1}
			out := []sample{{t: -5_000, v: 1}}
			for i, g := range gaps[1:] {
				out = append(out, sample{t: out[len(out)-1].t + g, v: float64(i)})
			}
			return out
		}()},
		{"random timestamps and values", func() []sample {
			out := make([]sample, chunkSamples)
			tt := int64(0)
			for i := range out {
				tt += 1 + rng.Int64N(1<<uint(rng.IntN(40)))
				out[i] = sample{t: tt, v: edge[rng.IntN(len(edge))] * float64(rng.IntN(3))}
			}
			return out
		}()},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := newXORAppender()
			for _, s := range tc.samples {
				a.append(s.t, s.v)
			}
			if got := chunkLen(a.bytes()); got != len(tc.samples) {
				t.Fatalf("chunk says %d samples, want %d", got, len(tc.samples))
			}
			if got := chunkMinTime(a.bytes()); got != tc.samples[0].t {
				t.Errorf("chunk min time %d, want %d", got, tc.samples[0].t)
			}
			var it xorIterator
			it.reset(a.bytes())
			for i, want := range tc.samples {
				if !it.next() {
					t.Fatalf("sample %d: iterator ended early (err %v)", i, it.err)
				}
				if it.t != want.t || math.Float64bits(it.v) != math.Float64bits(want.v) {
					t.Fatalf("sample %d: got (%d, %x), want (%d, %x)", i, it.t, math.Float64bits(it.v), want.t, math.Float64bits(want.v))
				}
			}
			if it.next() {
				t.Fatal("iterator went past the last sample")
			}
			if it.err != nil {
				t.Fatal(it.err)
			}
		})
	}
}

func TestChunkResetReusesBuffer(t *testing.T) {
	a := newXORAppender()
	for i := range 10 {
		a.append(int64(i)*1000, float64(i)*1.5)
	}
	a.resetChunk(0)
	a.append(20_000, math.Inf(1))
	a.append(21_000, 7)
	var it xorIterator
	it.reset(a.bytes())
	var got []sample
	for it.next() {
		got = append(got, sample{it.t, it.v})
	}
	if len(got) != 2 || got[0].t != 20_000 || !math.IsInf(got[0].v, 1) || got[1] != (sample{21_000, 7}) {
		t.Fatalf("after reset: %v (err %v)", got, it.err)
	}
}

func TestChunkCorrupt(t *testing.T) {
	a := newXORAppender()
	for i := range 50 {
		a.append(int64(i)*15_000, float64(i)*0.1)
	}
	b := a.bytes()
	var it xorIterator
	it.reset(b[:len(b)/2])
	for it.next() {
	}
	if it.err == nil {
		t.Fatal("a truncated chunk read without error")
	}
}
