// Package negotiate reads what an HTTP client accepts, for the handlers
// that compress their answers (/metrics, the status pages).
package negotiate

import (
	"net/http"
	"strconv"
	"strings"
)

// AcceptsGzip reports whether the request's Accept-Encoding takes gzip:
// named, and not with q=0.
func AcceptsGzip(r *http.Request) bool {
	for _, v := range r.Header.Values("Accept-Encoding") {
		for part := range strings.SplitSeq(v, ",") {
			coding, params, _ := strings.Cut(strings.TrimSpace(part), ";")
			if !strings.EqualFold(strings.TrimSpace(coding), "gzip") {
				continue
			}
			q, found := strings.CutPrefix(strings.ReplaceAll(params, " ", ""), "q=")
			if !found {
				return true
			}
			f, err := strconv.ParseFloat(q, 64)
			return err == nil && f > 0
		}
	}
	return false
}
