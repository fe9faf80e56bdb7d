package wsprobe

import (
	"net/http"
	"strings"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
	"cel.dev/cel-go/common/types/traits"

	"github.com/lookout-dev/lookout/probes"
)

// vars are the variables of a WebSocket probe's expressions (config's
// exprVars): duration, handshake, status, headers (of the upgrade's
// response), response (the first message read) and tls.
func vars(res *probes.Result, f *Facts, header http.Header, msg []byte) cel.Activation {
	var t any = types.NullValue
	if f.TLS != nil {
		t = map[string]any{"version": f.TLS.Version, "verified": f.TLS.Verified, "earliest_expiry": f.TLS.EarliestExpiry}
	}
	act, _ := cel.NewActivation(map[string]any{
		"duration": res.Duration, "handshake": f.Handshake, "status": int64(f.Status),
		"headers": newHeaderMap(header), "response": string(msg), "tls": t,
	})
	return act
}

// headerMap is the response headers as a CEL map whose keys are
// case-insensitive, as HTTP's headers variable is:
// headers["sec-websocket-protocol"] and headers["Sec-WebSocket-Protocol"]
// are the same entry.
type headerMap struct {
	traits.Mapper
}

func newHeaderMap(h http.Header) headerMap {
	lower := make(map[string][]string, len(h))
	for k, v := range h {
		lower[strings.ToLower(k)] = v
	}
	return headerMap{types.DefaultTypeAdapter.NativeToValue(lower).(traits.Mapper)}
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
