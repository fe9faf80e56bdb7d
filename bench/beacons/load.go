package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lookout-dev/lookout/bench/internal/stats"
)

// loadOpts is one batch of the load generator child.
type loadOpts struct {
	addr     string
	workers  int
	warmup   time.Duration // not measured
	duration time.Duration // measured; with count, the time limit
	count    int64         // stop after this many beacons (0: run for duration)
	random   bool          // random page paths, for the memory run
}

// loadResult is what the child prints, as one JSON line.
type loadResult struct {
	Requests int64          // completed in the measured window
	Seconds  float64        // the measured window
	Status   map[string]int // by status code, or "error"
	P50, P99 time.Duration
	Max      time.Duration
}

// realPages are the pages of the throughput run: a small site's mix, IDs
// included (collapsed to :id) and templates (/blog/*, /users/:id).
var realPages = []string{
	"/", "/pricing", "/features/alerting", "/blog/2026/11/shipping-web-vitals",
	"/blog/why-we-wrote-our-own-scheduler", "/docs/getting-started/install",
	"/docs/config/probes", "/users/48213", "/orders/8f3a9c2e-4b1d-4e7a-9a0c-5d2f1e3b7c6a",
	"/products/64b7f3c2a9e1d4b5c6a7f8e9/reviews", "/search", "/account/settings",
}

var userAgents = []string{
	"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
	"Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
	"Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36",
	"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15",
}

// vitalShapes: name and typical value.
var vitalShapes = []struct {
	name  string
	value float64
}{
	{"LCP", 1234.5}, {"INP", 184}, {"CLS", 0.0421}, {"FCP", 912.3}, {"TTFB", 310.7},
}

// load runs one batch and prints its loadResult to stdout.
func load(ctx context.Context, o loadOpts) error {
	tr := &http.Transport{MaxIdleConnsPerHost: o.workers, MaxConnsPerHost: o.workers, DisableCompression: true}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	ctx, cancel := context.WithTimeout(ctx, o.warmup+o.duration)
	defer cancel()
	start := time.Now()
	measureFrom := start.Add(o.warmup)
	var sent atomic.Int64
	ws := make([]*worker, o.workers)
	var wg sync.WaitGroup
	for i := range ws {
		ws[i] = &worker{id: i, client: client, url: "http://" + o.addr + "/v1/vitals", opts: o,
			rnd: rand.New(rand.NewPCG(uint64(os.Getpid()), uint64(i))), status: map[string]int{}}
		wg.Go(func() { ws[i].run(ctx, measureFrom, &sent) })
	}
	wg.Wait()
	end := time.Now()
	return json.NewEncoder(os.Stdout).Encode(merge(ws, end.Sub(measureFrom)))
}

type worker struct {
	id     int
	client *http.Client
	url    string
	opts   loadOpts
	rnd    *rand.Rand
	buf    []byte
	n      int64
	lat    []time.Duration
	status map[string]int
}

func (w *worker) run(ctx context.Context, measureFrom time.Time, sent *atomic.Int64) {
	prefix := fmt.Sprintf("v6-%d-%d%03d", time.Now().UnixMilli(), os.Getpid(), w.id)
	for ctx.Err() == nil {
		if w.opts.count > 0 && sent.Add(1) > w.opts.count {
			return
		}
		page := w.page()
		w.n++
		w.buf = w.beacon(w.buf[:0], prefix, page)
		t0 := time.Now()
		code := w.post(ctx, page)
		if t0.Before(measureFrom) || code == "cancelled" {
			continue
		}
		w.status[code]++
		w.lat = append(w.lat, time.Since(t0))
	}
}

func (w *worker) post(ctx context.Context, page string) string {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.url, bytes.NewReader(w.buf))
	if err != nil {
		return "error"
	}
	req.Header["Content-Type"] = []string{"text/plain;charset=UTF-8"}
	req.Header["Origin"] = []string{benchOrigin}
	req.Header["Referer"] = []string{benchOrigin + page}
	req.Header["User-Agent"] = []string{userAgents[w.n%int64(len(userAgents))]}
	resp, err := w.client.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return "cancelled"
		}
		return "error"
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	return strconv.Itoa(resp.StatusCode)
}

// beacon appends one web-vitals v6 metric as the README's Next.js
// snippet sends it (name, value, id, navigationType, navigationURL), with
// an id never sent before; one in four is a soft navigation.
func (w *worker) beacon(b []byte, prefix, page string) []byte {
	v := vitalShapes[w.n%int64(len(vitalShapes))]
	x := v.value * (0.5 + w.rnd.Float64()*2)
	nav := "navigate"
	if w.n%4 == 3 {
		nav = "soft-navigation"
	}
	b = append(b, `{"name":"`...)
	b = append(b, v.name...)
	b = append(b, `","value":`...)
	b = strconv.AppendFloat(b, x, 'f', -1, 64)
	b = append(b, `,"id":"`...)
	b = append(b, prefix...)
	b = strconv.AppendInt(b, w.n, 10)
	b = append(b, `","navigationType":"`...)
	b = append(b, nav...)
	b = append(b, `","navigationURL":`...)
	b = strconv.AppendQuote(b, benchOrigin+page)
	return append(b, '}')
}

const letters = "abcdefghijklmnopqrstuvwxyz"

// page is a realistic path, or for the memory run one to four random
// lowercase segments (words, not IDs, so each path is a new route), some
// with a numeric ID segment and a query.
func (w *worker) page() string {
	if !w.opts.random {
		return realPages[w.rnd.IntN(len(realPages))]
	}
	b := make([]byte, 0, 64)
	for range 1 + w.rnd.IntN(4) {
		b = append(b, '/')
		for range 3 + w.rnd.IntN(8) {
			b = append(b, letters[w.rnd.IntN(len(letters))])
		}
	}
	if w.rnd.IntN(3) == 0 {
		b = strconv.AppendUint(append(b, '/'), w.rnd.Uint64()>>20, 10)
	}
	if w.rnd.IntN(4) == 0 {
		b = append(b, "?utm_source=news&ref="...)
		b = strconv.AppendUint(b, w.rnd.Uint64(), 36)
	}
	return string(b)
}

func merge(ws []*worker, window time.Duration) loadResult {
	r := loadResult{Seconds: window.Seconds(), Status: map[string]int{}}
	var lat []time.Duration
	for _, w := range ws {
		lat = append(lat, w.lat...)
		for k, v := range w.status {
			r.Status[k] += v
		}
	}
	r.Requests = int64(len(lat))
	if len(lat) > 0 {
		slices.Sort(lat)
		r.P50, r.P99, r.Max = stats.Quantile(lat, 0.50), stats.Quantile(lat, 0.99), stats.Quantile(lat, 1)
	}
	return r
}

// runLoad runs a load generator child and reads its result.
func runLoad(ctx context.Context, o loadOpts) (loadResult, error) {
	var r loadResult
	cmd, err := child(ctx, "-load", o.addr, "-workers", strconv.Itoa(o.workers),
		"-warmup", o.warmup.String(), "-duration", o.duration.String(),
		"-count", strconv.FormatInt(o.count, 10), "-random="+strconv.FormatBool(o.random))
	if err != nil {
		return r, err
	}
	out, err := cmd.Output()
	if err != nil {
		return r, fmt.Errorf("load generator: %w", err)
	}
	if err := json.Unmarshal(out, &r); err != nil {
		return r, fmt.Errorf("load generator: result: %w", err)
	}
	return r, nil
}
