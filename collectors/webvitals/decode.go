package webvitals

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"strconv"
)

// wireMetric is the part of a beacon that Lookout reads. It covers the
// web-vitals library v3 to v5, standard and attribution builds (whose
// rating, delta, navigationType, entries and attribution are skipped), and
// Next.js reportWebVitals / useReportWebVitals (whose label and startTime are
// skipped). page, url and pathname are fields a sender may add; without them
// the page is the request's Referer.
type wireMetric struct {
	Name     string          `json:"name"`
	Value    json.RawMessage `json:"value"`
	ID       string          `json:"id"`
	Page     string          `json:"page"`
	URL      string          `json:"url"`
	Pathname string          `json:"pathname"`
}

// page is the first page field the sender filled in, or "".
func (m *wireMetric) page() string {
	switch {
	case m.Page != "":
		return m.Page
	case m.URL != "":
		return m.URL
	default:
		return m.Pathname
	}
}

// value is the metric's value, false unless it is a finite JSON number. A
// number too large for a float64 is a bad value, not a malformed body.
func (m *wireMetric) value() (float64, bool) {
	raw := bytes.TrimSpace(m.Value)
	if len(raw) == 0 || (raw[0] != '-' && (raw[0] < '0' || raw[0] > '9')) {
		return 0, false
	}
	v, err := strconv.ParseFloat(string(raw), 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, false
	}
	return v, true
}

var errNotMetrics = errors.New("want a metric object or an array of them")

// decode reads a beacon body: one metric object, or an array of them. An
// error means the body as a whole is not that (400); an array element that
// is not a metric object is only counted in bad, and the rest still count.
func decode(body []byte) (metrics []wireMetric, bad int, err error) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return nil, 0, errNotMetrics
	}
	switch body[0] {
	case '{':
		var m wireMetric
		if err := json.Unmarshal(body, &m); err != nil {
			return nil, 0, err
		}
		return []wireMetric{m}, 0, nil
	case '[':
		var raws []json.RawMessage
		if err := json.Unmarshal(body, &raws); err != nil {
			return nil, 0, err
		}
		metrics = make([]wireMetric, 0, len(raws))
		for _, raw := range raws {
			var m wireMetric
			if len(raw) == 0 || raw[0] != '{' || json.Unmarshal(raw, &m) != nil {
				bad++
				continue
			}
			metrics = append(metrics, m)
		}
		return metrics, bad, nil
	default:
		return nil, 0, errNotMetrics
	}
}
