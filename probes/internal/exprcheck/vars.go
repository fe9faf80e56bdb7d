package exprcheck

import (
	"net/http"
	"strings"

	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
	"cel.dev/cel-go/common/types/traits"

	"github.com/lookout-dev/lookout/probes/internal/tlsinfo"
)

// TLS is the tls variable of the kinds that speak TLS: version, verified
// and earliest_expiry, or null when the run made no TLS connection.
func TLS(f *tlsinfo.Facts) any {
	if f == nil {
		return types.NullValue
	}
	return map[string]any{"version": f.Version, "verified": f.Verified, "earliest_expiry": f.EarliestExpiry}
}

// Headers is the headers variable of the kinds that read an HTTP response
// (HTTP's, WebSocket's upgrade): a CEL map whose keys are
// case-insensitive, so headers["content-type"] and headers["Content-Type"]
// are the same entry.
func Headers(h http.Header) traits.Mapper {
	lower := make(map[string][]string, len(h))
	for k, v := range h {
		lower[strings.ToLower(k)] = v
	}
	return headerMap{types.DefaultTypeAdapter.NativeToValue(lower).(traits.Mapper)}
}

type headerMap struct {
	traits.Mapper
}

func lowerKey(k ref.Val) ref.Val {
	if s, ok := k.(types.String); ok {
		return types.String(strings.ToLower(string(s)))
	}
	return k
}

func (m headerMap) Get(k ref.Val) ref.Val          { return m.Mapper.Get(lowerKey(k)) }
func (m headerMap) Contains(k ref.Val) ref.Val     { return m.Mapper.Contains(lowerKey(k)) }
func (m headerMap) Find(k ref.Val) (ref.Val, bool) { return m.Mapper.Find(lowerKey(k)) }
