package webvitals

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"strconv"
	"unicode/utf8"
)

// wireMetric is the part of a beacon that Lookout reads. It covers the
// web-vitals library v3 to v6, standard and attribution builds (whose
// rating, delta, navigationId, entries and attribution are skipped), and
// Next.js reportWebVitals / useReportWebVitals (whose label and startTime are
// skipped).
//
// navigationURL (web-vitals v5 and later) is the URL of the view a metric
// belongs to. It is the only reliable page: with soft navigations reported
// (web-vitals v6's reportSoftNavs, which Next.js 16 turns on), the CLS and
// INP of a view arrive after the URL changed to the next one, so a page
// field the sender filled from location at report time names the wrong
// view. page, url and pathname are fields a sender may add; without any of
// these the page is the request's Referer.
type wireMetric struct {
	Name           string          `json:"name"`
	Value          json.RawMessage `json:"value"`
	ID             string          `json:"id"`
	NavigationURL  string          `json:"navigationURL"`
	NavigationType string          `json:"navigationType"`
	Page           string          `json:"page"`
	URL            string          `json:"url"`
	Pathname       string          `json:"pathname"`
}

// navigationSoft is web-vitals' navigationType of a soft navigation: a
// client-side route change, whose LCP and FCP are measured from the click.
const navigationSoft = "soft-navigation"

// page is the first page field the sender filled in, in the order of how
// much it can be trusted, and which field that was; "" when none.
func (m *wireMetric) page() (page, source string) {
	switch {
	case m.NavigationURL != "":
		return m.NavigationURL, sourceNavigationURL
	case m.Page != "":
		return m.Page, sourcePage
	case m.URL != "":
		return m.URL, sourcePage
	case m.Pathname != "":
		return m.Pathname, sourcePage
	}
	return "", ""
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
		if json.Valid(body) {
			if m, ok := fastObject(body); ok {
				return []wireMetric{m}, 0, nil
			}
		}
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

// fastObject reads the fields Lookout uses from a JSON object without
// reflection: the common beacon (one metric, plain strings) costs a third
// of json.Unmarshal. It gives up (false) on anything it does not handle
// exactly as json.Unmarshal would: escapes in our strings, keys that
// differ from ours only in case, a string field holding another type.
// The caller checks the body is valid JSON; FuzzDecode holds it to
// json.Unmarshal's results.
func fastObject(b []byte) (wireMetric, bool) {
	var m wireMetric
	i := skipSpace(b, 1)
	if i < len(b) && b[i] == '}' {
		return m, true
	}
	for i < len(b) {
		if b[i] != '"' {
			return m, false
		}
		end := plainStringEnd(b, i)
		if end < 0 {
			return m, false // escaped key
		}
		key := b[i+1 : end]
		if !ascii(key) {
			return m, false // json.Unmarshal folds some non-ASCII letters into ours
		}
		i = skipSpace(b, end+1)
		if i >= len(b) || b[i] != ':' {
			return m, false
		}
		i = skipSpace(b, i+1)
		vEnd := skipValue(b, i)
		if vEnd < 0 {
			return m, false
		}
		val := b[i:vEnd]
		if !m.setField(key, val) {
			return m, false
		}
		i = skipSpace(b, vEnd)
		if i >= len(b) {
			return m, false
		}
		switch b[i] {
		case ',':
			i = skipSpace(b, i+1)
		case '}':
			return m, skipSpace(b, i+1) == len(b)
		default:
			return m, false
		}
	}
	return m, false
}

// setField stores one top-level field; false when only json.Unmarshal
// knows what to do with it.
func (m *wireMetric) setField(key, val []byte) bool {
	var dst *string
	switch string(key) {
	case "value":
		m.Value = json.RawMessage(val)
		return true
	case "name":
		dst = &m.Name
	case "id":
		dst = &m.ID
	case "navigationURL":
		dst = &m.NavigationURL
	case "navigationType":
		dst = &m.NavigationType
	case "page":
		dst = &m.Page
	case "url":
		dst = &m.URL
	case "pathname":
		dst = &m.Pathname
	default:
		for _, ours := range [...]string{"value", "name", "id", "navigationURL", "navigationType", "page", "url", "pathname"} {
			if bytes.EqualFold(key, []byte(ours)) {
				return false // json.Unmarshal matches keys case-insensitively
			}
		}
		return true
	}
	switch {
	case string(val) == "null":
		return true
	case len(val) < 2 || val[0] != '"' || plainStringEnd(val, 0) != len(val)-1 || !utf8.Valid(val):
		return false // json.Unmarshal replaces invalid UTF-8
	}
	*dst = string(val[1 : len(val)-1])
	return true
}

func ascii(b []byte) bool {
	for _, c := range b {
		if c >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// plainStringEnd is the index of the closing quote of the string at
// b[i], or -1 if it has escapes or no end.
func plainStringEnd(b []byte, i int) int {
	for j := i + 1; j < len(b); j++ {
		switch b[j] {
		case '"':
			return j
		case '\\':
			return -1
		}
		if b[j] < 0x20 {
			return -1
		}
	}
	return -1
}

// skipValue returns the end of the JSON value at b[i] (the body is valid
// JSON, checked by the caller), or -1.
func skipValue(b []byte, i int) int {
	depth := 0
	for j := i; j < len(b); j++ {
		switch b[j] {
		case '"':
			for j++; j < len(b) && b[j] != '"'; j++ {
				if b[j] == '\\' {
					j++
				}
			}
			if j >= len(b) {
				return -1
			}
			if depth == 0 {
				return j + 1
			}
		case '{', '[':
			depth++
		case '}', ']':
			if depth == 0 {
				return j
			}
			depth--
			if depth == 0 {
				return j + 1
			}
		case ',':
			if depth == 0 {
				return j
			}
		case ' ', '\t', '\n', '\r':
			if depth == 0 {
				return j
			}
		}
	}
	if depth == 0 {
		return len(b)
	}
	return -1
}
