package httpprobe

import (
	"bytes"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"time"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
	"cel.dev/cel-go/common/types/traits"

	"github.com/lookout-dev/lookout/probes"
)

// activation binds the variables assertions see (listed on config.Expr).
// Each is worked out when an expression first reads it and kept for the
// rest of the run, so a run pays only for the variables its expressions
// read, once, however many expressions read them.
type activation struct {
	resp *http.Response
	body []byte
	res  *probes.Result
	vals [len(celVars)]any
	done [len(celVars)]bool
}

var _ cel.Activation = (*activation)(nil)

// celVars are the variables' names, in the order of activation.vals.
var celVars = [...]string{"status", "headers", "body", "text", "duration", "phases", "tls"}

func newActivation(resp *http.Response, body []byte, res *probes.Result) *activation {
	return &activation{resp: resp, body: body, res: res}
}

// ResolveName returns the value of the variable name.
func (a *activation) ResolveName(name string) (any, bool) {
	i := slices.Index(celVars[:], name)
	if i < 0 {
		return nil, false
	}
	if !a.done[i] {
		a.vals[i], a.done[i] = a.value(name), true
	}
	return a.vals[i], true
}

// Parent is nil: the activation holds every variable.
func (a *activation) Parent() cel.Activation { return nil }

func (a *activation) value(name string) any {
	switch name {
	case "status":
		return int64(a.resp.StatusCode)
	case "headers":
		return newHeaderMap(a.resp.Header)
	case "body":
		return decodeJSON(a.resp.Header.Get("Content-Type"), a.body)
	case "text":
		return string(a.body)
	case "duration":
		return a.res.Duration
	case "phases":
		phases := make(map[string]time.Duration, len(PhaseNames))
		for i, d := range FactsOf(*a.res).Phases.Each() {
			phases[PhaseNames[i]] = d
		}
		return phases
	case "tls":
		if t := FactsOf(*a.res).TLS; t != nil {
			return map[string]any{"version": t.Version, "verified": t.Verified, "earliest_expiry": t.EarliestExpiry}
		}
		return types.NullValue
	}
	panic("httpprobe: no CEL variable " + name)
}

// decodeJSON returns the decoded body when it is JSON, else null.
func decodeJSON(contentType string, body []byte) any {
	trimmed := bytes.TrimSpace(body)
	if !strings.Contains(contentType, "json") && (len(trimmed) == 0 || (trimmed[0] != '{' && trimmed[0] != '[')) {
		return types.NullValue
	}
	var v any
	if json.Unmarshal(trimmed, &v) != nil || v == nil {
		return types.NullValue
	}
	return v
}

// headerMap is the response headers as a CEL map whose keys are
// case-insensitive: headers["content-type"] and headers["Content-Type"]
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
