package rules_test

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/util/convertnhcb"
	"google.golang.org/protobuf/proto"

	"github.com/lookout-dev/lookout/alerting/rules"
	"github.com/lookout-dev/lookout/alerting/store"
	"github.com/lookout-dev/lookout/collectors/webvitals"
	"github.com/lookout-dev/lookout/config"
)

// scrapeMode is how a Prometheus stores the histograms it scrapes from
// Lookout.
type scrapeMode struct {
	name string
	// classic keeps the _bucket, _count and _sum series; native the native
	// histogram with exponential buckets; nhcb turns the classic buckets
	// into a native histogram with custom buckets.
	classic, native, nhcb bool
}

var scrapeModes = []scrapeMode{
	{name: "classic only (default scrape)", classic: true},
	{name: "native only (scrape_native_histograms)", native: true},
	{name: "custom buckets (convert_classic_histograms_to_nhcb)", nhcb: true},
}

// vitalsMinutes is how many minutes of beacons the series sets hold, and
// evalAt the minute the queries run at.
const (
	vitalsMinutes = 30
	evalAt        = 25
)

// TestHistogramForms evaluates the built-in rules and the README's Web
// Vitals recipes on the series a real Web Vitals collector produces, as a
// Prometheus stores them in each scrape mode. Every recipe answers in every
// mode with the same label sets and close values, and WebVitalsP75Poor
// finds the same poor route in each.
func TestHistogramForms(t *testing.T) {
	gathers := vitalsGathers(t)
	recipes := readmeRecipes(t, "../../README.md", "### PromQL")
	if len(recipes) < 4 {
		t.Fatalf("found %d PromQL recipes in the README's Web Vitals section, want at least 4", len(recipes))
	}
	groups, err := rules.Builtin(nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Each built-in rule over a histogram, and what it finds at evalAt.
	histogramRules := map[string][]string{
		"WebVitalsP75Poor": {`{metric="LCP", route="/checkout"}`},
	}
	histFamilies := histogramFamilies(gathers[0])

	engine := promql.NewEngine(promql.EngineOpts{MaxSamples: 1e7, Timeout: time.Minute, LookbackDelta: 5 * time.Minute})
	results := map[string][]promql.Vector{} // by recipe, per mode
	for _, mode := range scrapeModes {
		t.Run(mode.name, func(t *testing.T) {
			st := store.New(store.Options{Retention: 2 * time.Hour})
			for i, mfs := range gathers {
				ingestAs(t, st, mode, minute(i), mfs)
			}
			ts := minute(evalAt)
			for _, g := range groups {
				for _, r := range g.Rules {
					q := r.Query()
					uses := slices.ContainsFunc(histFamilies, func(f string) bool { return strings.Contains(q, f) })
					want, ok := histogramRules[r.Name()]
					switch {
					case uses && !ok:
						t.Errorf("built-in rule %s reads a histogram: add what it finds to histogramRules", r.Name())
						continue
					case !uses:
						continue
					}
					var got []string
					for _, s := range instant(t, engine, st, q, ts) {
						got = append(got, s.Metric.String())
					}
					slices.Sort(got)
					if !slices.Equal(got, want) {
						t.Errorf("%s finds %v, want %v", r.Name(), got, want)
					}
				}
			}
			for _, q := range recipes {
				v := instant(t, engine, st, q, ts)
				if len(v) == 0 {
					t.Errorf("README recipe returns nothing:\n%s", q)
				}
				results[q] = append(results[q], v)
			}
		})
	}
	// The same answer, whichever part of a recipe gave it: the same label
	// sets, and values within 15% (quantiles and fractions are estimated
	// within a bucket, and the buckets differ).
	for q, vs := range results {
		if len(vs) != len(scrapeModes) {
			continue
		}
		for i := 1; i < len(vs); i++ {
			if d := compareVectors(vs[0], vs[i], 0.15); d != "" {
				t.Errorf("README recipe answers differently with %s than with %s: %s\n%s", scrapeModes[i].name, scrapeModes[0].name, d, q)
			}
		}
	}
}

func minute(i int) time.Time { return time.Unix(1_800_000_000, 0).Add(time.Duration(i) * time.Minute) }

// vitalsGathers sends a real Web Vitals collector beacons for vitalsMinutes
// minutes and gathers its metrics once a minute. Every minute, /checkout has
// 30 page loads with a poor LCP and 60 fast soft navigations, /home 30 good
// page loads, on desktop and mobile.
func vitalsGathers(t *testing.T) [][]*dto.MetricFamily {
	t.Helper()
	const origin = "https://www.example.com"
	reg := prometheus.NewRegistry()
	c, err := webvitals.New(config.WebVitals{
		AllowedOrigins: []string{origin}, Routes: []string{"/checkout", "/home"},
		RateLimit: config.RateLimit{PerIP: 1e9, Burst: 1e9},
	}.WithDefaults(), nil, reg, nil)
	if err != nil {
		t.Fatal(err)
	}
	devices := []string{
		"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/140.0.0.0 Safari/537.36",
		"Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/140.0.0.0 Mobile Safari/537.36",
	}
	id := 0
	send := func(ua, body string) {
		req := httptest.NewRequest(http.MethodPost, "/v1/vitals", strings.NewReader(body))
		req.Header.Set("Origin", origin)
		req.Header.Set("Content-Type", "text/plain;charset=UTF-8")
		req.Header.Set("User-Agent", ua)
		rec := httptest.NewRecorder()
		c.ServeHTTP(rec, req)
		if rec.Code != http.StatusNoContent {
			t.Fatalf("beacon %s: %d %s", body, rec.Code, rec.Body)
		}
	}
	pageLoad := func(ua, path string, lcp, inp, cls, fcp, ttfb float64) {
		var ms []string
		for _, m := range []struct {
			name string
			v    float64
		}{{"LCP", lcp}, {"INP", inp}, {"CLS", cls}, {"FCP", fcp}, {"TTFB", ttfb}} {
			id++
			ms = append(ms, fmt.Sprintf(`{"name":%q,"value":%v,"id":"v6-%d","navigationType":"navigate","navigationURL":%q}`, m.name, m.v, id, origin+path))
		}
		send(ua, "["+strings.Join(ms, ",")+"]")
	}
	softNav := func(ua, path string, lcp float64) {
		var ms []string
		for _, name := range []string{"LCP", "FCP"} {
			id++
			ms = append(ms, fmt.Sprintf(`{"name":%q,"value":%v,"id":"v6-%d","navigationType":"soft-navigation","navigationURL":%q}`, name, lcp, id, origin+path))
		}
		send(ua, "["+strings.Join(ms, ",")+"]")
	}
	var gathers [][]*dto.MetricFamily
	for range vitalsMinutes {
		for i := range 30 {
			ua := devices[i%2]
			spread := float64(i) / 30 // 0 … 0.97 over the minute's loads
			pageLoad(ua, "/checkout", 4500+4500*spread, 80+300*spread, 0.02+0.1*spread, 900+900*spread, 150+500*spread)
			pageLoad(ua, "/home", 900+1200*spread, 40+120*spread, 0.01+0.05*spread, 500+800*spread, 100+400*spread)
			softNav(ua, "/checkout", 35+10*spread)
			softNav(ua, "/checkout", 40+10*spread)
		}
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		gathers = append(gathers, mfs)
	}
	return gathers
}

// histogramFamilies names the histogram families of a gather.
func histogramFamilies(mfs []*dto.MetricFamily) []string {
	var names []string
	for _, mf := range mfs {
		if mf.GetType() == dto.MetricType_HISTOGRAM {
			names = append(names, mf.GetName())
		}
	}
	return names
}

// ingestAs stores one gather as a Prometheus in mode would.
func ingestAs(t *testing.T, st *store.Store, mode scrapeMode, ts time.Time, mfs []*dto.MetricFamily) {
	t.Helper()
	var keep []*dto.MetricFamily
	for _, mf := range mfs {
		if mf.GetType() != dto.MetricType_HISTOGRAM {
			keep = append(keep, mf)
			continue
		}
		mf = proto.Clone(mf).(*dto.MetricFamily)
		for _, m := range mf.GetMetric() {
			h := m.GetHistogram()
			switch {
			case mode.classic:
				h.Schema, h.ZeroThreshold, h.ZeroCount = nil, nil, nil
				h.PositiveSpan, h.PositiveDelta, h.NegativeSpan, h.NegativeDelta = nil, nil, nil, nil
			case mode.native:
				h.Bucket = nil
			case mode.nhcb:
				appendNHCB(t, st, ts, mf.GetName(), m)
			}
		}
		if !mode.nhcb {
			keep = append(keep, mf)
		}
	}
	st.Ingest(ts, keep)
}

// appendNHCB stores a histogram's classic buckets as Prometheus's
// convert_classic_histograms_to_nhcb does: one native histogram with
// custom buckets, under the family's name.
func appendNHCB(t *testing.T, st *store.Store, ts time.Time, name string, m *dto.Metric) {
	t.Helper()
	h := m.GetHistogram()
	tmp := convertnhcb.NewTempHistogram()
	for _, b := range h.GetBucket() {
		if err := tmp.SetBucketCount(b.GetUpperBound(), float64(b.GetCumulativeCount())); err != nil {
			t.Fatal(err)
		}
	}
	if err := tmp.SetCount(float64(h.GetSampleCount())); err != nil {
		t.Fatal(err)
	}
	if err := tmp.SetSum(h.GetSampleSum()); err != nil {
		t.Fatal(err)
	}
	ih, fh, err := tmp.Convert()
	if err != nil {
		t.Fatal(err)
	}
	if fh == nil {
		fh = ih.ToFloat(nil)
	}
	b := labels.NewBuilder(labels.EmptyLabels())
	b.Set(labels.MetricName, name)
	for _, lp := range m.GetLabel() {
		b.Set(lp.GetName(), lp.GetValue())
	}
	if err := st.AppendHistogram(ts, b.Labels(), fh); err != nil {
		t.Fatal(err)
	}
}

func instant(t *testing.T, engine *promql.Engine, st *store.Store, q string, ts time.Time) promql.Vector {
	t.Helper()
	qry, err := engine.NewInstantQuery(context.Background(), st, nil, q, ts)
	if err != nil {
		t.Fatalf("%v:\n%s", err, q)
	}
	defer qry.Close()
	res := qry.Exec(context.Background())
	if res.Err != nil {
		t.Fatalf("%v:\n%s", res.Err, q)
	}
	v, err := res.Vector()
	if err != nil {
		t.Fatalf("%v:\n%s", err, q)
	}
	return v
}

// compareVectors says how two instant results differ: in their label sets,
// or in a value by more than tol (relative); "" when they agree.
func compareVectors(a, b promql.Vector, tol float64) string {
	values := func(v promql.Vector) map[string]float64 {
		m := map[string]float64{}
		for _, s := range v {
			m[s.Metric.String()] = s.F
		}
		return m
	}
	va, vb := values(a), values(b)
	if len(va) != len(vb) {
		return fmt.Sprintf("%d series against %d: %v / %v", len(va), len(vb), va, vb)
	}
	for k, x := range va {
		y, ok := vb[k]
		switch {
		case !ok:
			return fmt.Sprintf("%s is missing", k)
		case math.Abs(x-y) > tol*math.Max(math.Abs(x), math.Abs(y)):
			return fmt.Sprintf("%s: %g against %g", k, x, y)
		}
	}
	return ""
}

// readmeRecipes returns the queries of the first ```promql block after
// heading in the README: each is the lines after a # comment, up to the
// next comment.
func readmeRecipes(t *testing.T, path, heading string) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(data), "\n"+heading+"\n")
	if !ok {
		t.Fatalf("%s has no heading %q", path, heading)
	}
	_, block, ok := strings.Cut(rest, "```promql\n")
	if !ok {
		t.Fatalf("%s has no promql block after %q", path, heading)
	}
	block, _, _ = strings.Cut(block, "```")
	var recipes []string
	var cur []string
	flush := func() {
		if len(cur) > 0 {
			recipes = append(recipes, strings.Join(cur, "\n"))
			cur = nil
		}
	}
	for line := range strings.Lines(block) {
		line = strings.TrimRight(line, "\n")
		switch {
		case strings.HasPrefix(line, "#"):
			flush()
		case strings.TrimSpace(line) != "":
			cur = append(cur, line)
		}
	}
	flush()
	return recipes
}
