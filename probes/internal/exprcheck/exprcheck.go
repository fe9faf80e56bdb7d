// Package exprcheck runs a probe's assert and degraded_if expressions
// (CEL, compiled by config) over the variables of a run, and words what a
// failing one found: the values of a comparison's sides.
package exprcheck

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"

	"github.com/lookout-dev/lookout/config"
	"github.com/lookout-dev/lookout/probes"
)

// Run runs every assert and degraded_if expression; degradedIf[i] is how
// the i-th degraded_if's expectation is written ("not " + its source).
func Run(assert, degradedIf []config.Expr, vars cel.Activation) []probes.Check {
	out := make([]probes.Check, 0, len(assert)+len(degradedIf))
	for i := range assert {
		out = append(out, Assert(&assert[i], vars))
	}
	for i := range degradedIf {
		out = append(out, DegradedIf(&degradedIf[i], "not "+degradedIf[i].Source, vars))
	}
	return out
}

// Assert runs one assert expression: false or an error fails the probe.
func Assert(e *config.Expr, vars cel.Activation) probes.Check {
	a := probes.Check{Name: "assert", Expected: e.Source}
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

// DegradedIf runs one degraded_if expression: true degrades the probe;
// an error is reported but does not degrade it.
func DegradedIf(e *config.Expr, expected string, vars cel.Activation) probes.Check {
	a := probes.Check{Name: "degraded_if", Expected: expected, Degrades: true}
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

func evalBool(e *config.Expr, vars cel.Activation) (bool, error) {
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
func explain(e *config.Expr, vars cel.Activation) string {
	x := e.Explain
	var prg cel.Program
	if x != nil {
		prg, _ = x.Program()
	}
	if prg == nil {
		out, _, _ := e.Program.Eval(vars)
		return formatVal(out)
	}
	_, det, _ := prg.Eval(vars)
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
		return fmt.Sprintf("%q", Truncate(n, 120))
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
		return Truncate(string(b), 120)
	}
	return Truncate(fmt.Sprint(v.Value()), 120)
}

// Truncate shortens s to n bytes and an ellipsis.
func Truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
