package ruletest

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/histogram"

	"github.com/lookout-dev/lookout/alerting/rules"
)

// TestHeadHints pins the counter reset hint of each histogram sample of
// an input series: u(nknown), n(ot_reset) or g(auge). Each want is what
// promtool v0.316.0 reads back from its TSDB for the series (checked by
// querying every sample with `promtool test rules`).
func TestHeadHints(t *testing.T) {
	var big, bigInc []string
	count := 0
	for i := range 40 {
		big = append(big, "0")
		bigInc = append(bigInc, fmt.Sprint(i*7919%97+1))
		count += i*7919%97 + 1
	}
	tests := []struct {
		name     string
		interval time.Duration
		start    string
		values   string
		want     string
	}{
		{"a counter", time.Minute, "", "{{schema:0 sum:5 count:4 buckets:[1 2 1]}}x3", "unnn"},
		{"a counter reset", time.Minute, "",
			"{{schema:0 sum:10 count:8 buckets:[4 4]}} {{schema:0 sum:2 count:2 buckets:[1 1]}} {{schema:0 sum:3 count:3 buckets:[1 2]}}", "uun"},
		{"a reset hint on growth", time.Minute, "",
			"{{schema:0 sum:2 count:2 buckets:[1 1]}} {{schema:0 sum:10 count:8 buckets:[4 4] counter_reset_hint:reset}} {{schema:0 sum:11 count:9 buckets:[4 5]}}", "uun"},
		{"a not_reset hint on a reset", time.Minute, "",
			"{{schema:0 sum:10 count:8 buckets:[4 4]}} {{schema:0 sum:2 count:2 buckets:[1 1] counter_reset_hint:not_reset}} {{schema:0 sum:3 count:3 buckets:[1 2]}}", "uun"},
		{"gauges and counters", time.Minute, "",
			"{{schema:0 sum:1 count:2 buckets:[2] counter_reset_hint:gauge}} {{schema:0 sum:1 count:1 buckets:[1] counter_reset_hint:gauge}} {{schema:0 sum:1 count:3 buckets:[3]}} {{schema:0 sum:1 count:4 buckets:[4]}} {{schema:0 sum:1 count:1 buckets:[1] counter_reset_hint:gauge}}", "ggung"},
		{"floats between", time.Minute, "",
			"1 {{schema:0 sum:1 count:1 buckets:[1]}} {{schema:0 sum:2 count:2 buckets:[2]}} 3 {{schema:0 sum:3 count:3 buckets:[3]}} {{schema:0 sum:4 count:4 buckets:[4]}}", "unun"},
		{"stale and a gap", time.Minute, "",
			"{{schema:0 sum:1 count:1 buckets:[1]}} {{schema:0 sum:1 count:2 buckets:[2]}} stale {{schema:0 sum:1 count:3 buckets:[3]}} _ {{schema:0 sum:1 count:4 buckets:[4]}}", "unun"},
		{"a schema change", time.Minute, "",
			"{{schema:0 sum:1 count:2 buckets:[1 1]}} {{schema:1 sum:3 count:4 buckets:[1 1 1 1]}} {{schema:1 sum:4 count:5 buckets:[1 1 1 2]}} {{schema:0 sum:5 count:6 buckets:[2 4]}}", "uunu"},
		{"new and dropped buckets", time.Minute, "",
			"{{schema:0 sum:1 count:2 buckets:[1 1]}} {{schema:0 sum:1 count:4 buckets:[1 1 2]}} {{schema:0 sum:1 count:7 offset:-2 buckets:[1 1 2 2 1]}} {{schema:0 sum:1 count:9 buckets:[2 2 5]}}", "unuu"},
		{"a zero threshold change", time.Minute, "",
			"{{schema:0 sum:1 count:2 z_bucket:1 z_bucket_w:0.001 buckets:[1]}} {{schema:0 sum:1 count:3 z_bucket:2 z_bucket_w:0.001 buckets:[1]}} {{schema:0 sum:1 count:4 z_bucket:3 z_bucket_w:0.01 buckets:[1]}} {{schema:0 sum:1 count:5 z_bucket:3 z_bucket_w:0.01 buckets:[2]}}", "unun"},
		{"a custom bounds change", time.Minute, "",
			"{{schema:-53 sum:1 count:2 custom_values:[1 2] buckets:[1 1]}} {{schema:-53 sum:2 count:3 custom_values:[1 2] buckets:[1 2]}} {{schema:-53 sum:3 count:4 custom_values:[1 3] buckets:[1 3]}} {{schema:-53 sum:4 count:5 custom_values:[1 3] buckets:[2 3]}}", "unun"},
		{"a chunk range ends at midnight", time.Minute, "2024-01-01T23:58:00Z",
			"{{schema:0 sum:1 count:1 buckets:[1]}}+{{schema:0 sum:1 count:1 buckets:[1]}}x3", "unun"},
		{"a chunk holds at least 10 large histograms", 15 * time.Second, "",
			fmt.Sprintf("{{schema:0 sum:0 count:0 buckets:[%s]}}+{{schema:0 sum:1.7 count:%d buckets:[%s]}}x24", strings.Join(big, " "), count, strings.Join(bigInc, " ")),
			strings.Repeat("u"+strings.Repeat("n", 9), 2) + "unnnn"},
		{"a chunk is cut once due by its size", time.Minute, "",
			"{{schema:0 sum:0.1 count:3 buckets:[1 1 1]}}+{{schema:0 sum:0.37 count:3 buckets:[1 1 1]}}x100",
			"u" + strings.Repeat("n", 59) + "u" + strings.Repeat("n", 40)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := epoch
			if tt.start != "" {
				var err error
				if start, err = parseStart(tt.start); err != nil {
					t.Fatal(err)
				}
			}
			in, err := parseInput(inputSeries{Series: "h", Values: tt.values}, rules.NewParser())
			if err != nil {
				t.Fatal(err)
			}
			s, err := in.expand(start, tt.interval)
			if err != nil {
				t.Fatal(err)
			}
			var got strings.Builder
			for _, smp := range s.samples {
				if smp.h == nil {
					continue
				}
				switch smp.h.CounterResetHint {
				case histogram.UnknownCounterReset:
					got.WriteByte('u')
				case histogram.NotCounterReset:
					got.WriteByte('n')
				case histogram.GaugeType:
					got.WriteByte('g')
				default:
					got.WriteByte('r')
				}
			}
			if got.String() != tt.want {
				t.Errorf("hints\n%s\nwant\n%s", got.String(), tt.want)
			}
		})
	}
}
