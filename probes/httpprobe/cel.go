package httpprobe

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
	"cel.dev/cel-go/common/types/traits"

	"github.com/lookout-dev/lookout/config"
	"github.com/lookout-dev/lookout/probes"
)

// newActivation binds the variables assertions see (listed on config.Expr).
func newActivation(resp *http.Response, body []byte, res *probes.Result) map[string]any {
	phases := make(map[string]time.Duration, len(probes.PhaseNames))
	for i, d := range res.Phases.Each() {
		phases[probes.PhaseNames[i]] = d
	}
	vars := map[string]any{
		"status":   int64(resp.StatusCode),
		"headers":  newHeaderMap(resp.Header),
		"body":     decodeJSON(resp.Header.Get("Content-Type"), body),
		"text":     string(body),
		"duration": res.Duration,
		"phases":   phases,
		"tls":      types.NullValue,
	}
	if t := res.TLS; t != nil {
		vars["tls"] = map[string]any{"version": t.Version, "verified": t.Verified, "earliest_expiry": t.EarliestExpiry}
	}
	return vars
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

// evalAssert runs one assert expression: false or an error fails the probe.
func evalAssert(e *config.Expr, vars map[string]any) probes.Assertion {
	a := probes.Assertion{Name: "assert", Expected: e.Source}
	ok, err := evalBool(e, vars)
	a.OK = ok
	switch {
	case err != nil:
		a.Actual = "error: " + err.Error()
	case ok:
		a.Actual = "true"
	default:
		a.Actual = explain(e, vars)
	}
	return a
}

// evalDegradedIf runs one degraded_if expression: true degrades the probe;
// an error is reported but does not degrade it.
func evalDegradedIf(e *config.Expr, vars map[string]any) probes.Assertion {
	a := probes.Assertion{Name: "degraded_if", Expected: "not " + e.Source, Degrades: true}
	hit, err := evalBool(e, vars)
	a.OK = !hit
	switch {
	case err != nil:
		a.OK, a.Actual = true, "error: "+err.Error()
	case hit:
		a.Actual = explain(e, vars)
	default:
		a.Actual = "false"
	}
	return a
}

func evalBool(e *config.Expr, vars map[string]any) (bool, error) {
	out, _, err := e.Program.Eval(vars)
	if err != nil {
		return false, err
	}
	b, ok := out.(types.Bool)
	if !ok {
		return false, fmt.Errorf("gave %s, not a bool", out.Type().TypeName())
	}
	return bool(b), nil
}

// explain shows the values of a comparison's sides, such as
// `body.status is "DOWN"`; for other expressions it says what it gave.
func explain(e *config.Expr, vars map[string]any) string {
	x := e.Explain
	if x == nil {
		out, _, _ := e.Program.Eval(vars)
		return formatVal(out)
	}
	_, det, _ := x.Program.Eval(vars)
	if det == nil {
		return "unknown"
	}
	var parts []string
	for _, side := range []struct {
		id    int64
		src   string
		fixed bool
	}{{x.Left, x.LeftSource, x.LeftConst}, {x.Right, x.RightSource, x.RightConst}} {
		if side.fixed {
			continue
		}
		if v, ok := det.State().Value(side.id); ok {
			parts = append(parts, side.src+" is "+formatVal(v))
		}
	}
	if len(parts) == 0 {
		return "false"
	}
	return strings.Join(parts, ", ")
}

func formatVal(v ref.Val) string {
	if v == nil {
		return "nothing"
	}
	switch n := v.Value().(type) {
	case string:
		return fmt.Sprintf("%q", truncate(n, 120))
	case time.Duration:
		return n.String()
	case nil:
		return "null"
	case error:
		return "error: " + n.Error()
	}
	if v == types.NullValue {
		return "null"
	}
	if b, err := json.Marshal(v.Value()); err == nil {
		return truncate(string(b), 120)
	}
	return truncate(fmt.Sprint(v.Value()), 120)
}
