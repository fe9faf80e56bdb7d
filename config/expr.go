package config

import (
	"fmt"
	"strings"
	"sync"

	"cel.dev/cel-go/cel"
	celast "cel.dev/cel-go/common/ast"
)

// ExprCostLimit bounds the work one assertion may do per evaluation, so a
// careless expression over a large body cannot stall the probe.
const ExprCostLimit = 1_000_000

// Expr is a CEL expression over what a probe's run found that yields a
// bool. It is compiled when the config loads, so its errors are config
// errors. Each kind has its variables (exprVars). HTTP's: status (int),
// headers (map of header name to list of values; names are
// case-insensitive), body (the decoded JSON body, or null), text (the
// body as a string), duration (the whole request), phases (map of phase
// name to duration), tls (map with version, verified, earliest_expiry;
// null over plain HTTP).
type Expr struct {
	Source  string
	Program cel.Program
	// Explain, set when the expression is a comparison (a == b, a < b,
	// ...), evaluates it again tracking the value of each side, so a
	// failure can show expected against actual.
	Explain *Explain
}

// Explain evaluates a comparison and tells its two sides apart. Its
// program is planned on first use, as most assertions never fail; it is
// safe for concurrent use, and probes whose expressions are written alike
// share one.
type Explain struct {
	Op          string // ==, !=, <, <=, >, >=
	Left, Right int64  // expression IDs of the two sides
	// LeftSource and RightSource are the sides as written.
	LeftSource, RightSource string
	// LeftConst and RightConst mark sides that read no variable (such as
	// "UP" or duration("800ms")): their value says nothing new.
	LeftConst, RightConst bool

	src  string
	env  *cel.Env
	ast  *cel.Ast
	once sync.Once
	prg  cel.Program
	err  error
}

// Program returns the comparison's program, which records the value of
// every sub-expression in its EvalDetails.
func (x *Explain) Program() (cel.Program, error) {
	x.once.Do(func() {
		x.prg, x.err = x.env.Program(x.ast, cel.CostLimit(ExprCostLimit), cel.EvalOptions(cel.OptTrackState))
		if x.err != nil {
			x.err = fmt.Errorf("CEL expression %q: %w", x.src, x.err)
		}
		x.env, x.ast = nil, nil
	})
	return x.prg, x.err
}

var comparisons = map[string]string{
	"_==_": "==", "_!=_": "!=", "_<_": "<", "_<=_": "<=", "_>_": ">", "_>=_": ">=",
}

// MarshalText writes the expression's source.
func (e Expr) MarshalText() ([]byte, error) { return []byte(e.Source), nil }

func (e *Expr) parseScalar(s string) error {
	if strings.TrimSpace(s) == "" {
		return fmt.Errorf("expression is empty; want a CEL expression such as 'status == 200'")
	}
	e.Source = s
	return nil
}

// exprVars are the variables a probe kind's expressions (assert,
// degraded_if) read, which its runs bind: one case per kind that has
// expressions.
func exprVars(kind string) []cel.EnvOption {
	switch kind {
	case "http":
		return []cel.EnvOption{
			cel.Variable("status", cel.IntType),
			cel.Variable("headers", cel.MapType(cel.StringType, cel.ListType(cel.StringType))),
			cel.Variable("body", cel.DynType),
			cel.Variable("text", cel.StringType),
			cel.Variable("duration", cel.DurationType),
			cel.Variable("phases", cel.MapType(cel.StringType, cel.DurationType)),
			cel.Variable("tls", cel.DynType),
		}
	case "tls":
		return []cel.EnvOption{
			cel.Variable("duration", cel.DurationType),
			cel.Variable("version", cel.StringType),
			cel.Variable("verified", cel.BoolType),
			cel.Variable("expires_in", cel.DurationType),
			cel.Variable("subject", cel.StringType),
			cel.Variable("issuer", cel.StringType),
			cel.Variable("dns_names", cel.ListType(cel.StringType)),
		}
	case "tcp":
		return []cel.EnvOption{
			cel.Variable("duration", cel.DurationType),
			cel.Variable("connect", cel.DurationType),
			cel.Variable("response", cel.StringType),
			cel.Variable("tls", cel.DynType),
		}
	case "dns":
		records := cel.ListType(cel.StringType)
		return []cel.EnvOption{
			cel.Variable("duration", cel.DurationType),
			cel.Variable("rcode", cel.StringType),
			cel.Variable("answers", records),
			cel.Variable("authority", records),
			cel.Variable("additional", records),
		}
	case "icmp":
		return []cel.EnvOption{
			cel.Variable("duration", cel.DurationType),
			cel.Variable("sent", cel.IntType),
			cel.Variable("received", cel.IntType),
			cel.Variable("loss", cel.DoubleType),
			cel.Variable("rtt", cel.MapType(cel.StringType, cel.DurationType)),
		}
	case "grpc":
		return []cel.EnvOption{
			cel.Variable("duration", cel.DurationType),
			cel.Variable("status", cel.StringType),
			cel.Variable("tls", cel.DynType),
		}
	case "websocket":
		return []cel.EnvOption{
			cel.Variable("duration", cel.DurationType),
			cel.Variable("handshake", cel.DurationType),
			cel.Variable("status", cel.IntType),
			cel.Variable("headers", cel.MapType(cel.StringType, cel.ListType(cel.StringType))),
			cel.Variable("response", cel.StringType),
			cel.Variable("tls", cel.DynType),
		}
	case "heartbeat":
		return []cel.EnvOption{
			cel.Variable("duration", cel.DurationType),
			cel.Variable("since_success", cel.DurationType),
			cel.Variable("exit_code", cel.IntType),
		}
	case "flow":
		// Every expression of a flow's step (its http checks, extract and
		// its own checks) reads HTTP's variables of the step's response,
		// vars, and the functions jwt() and now().
		return append(exprVars("http"), flowEnv()...)
	case "browser":
		// The lab metrics as the web-vitals library and Lighthouse define
		// them, and what went wrong in the page.
		return []cel.EnvOption{
			cel.Variable("duration", cel.DurationType),
			cel.Variable("lcp", cel.DurationType),
			cel.Variable("fcp", cel.DurationType),
			cel.Variable("ttfb", cel.DurationType),
			cel.Variable("tbt", cel.DurationType),
			cel.Variable("inp", cel.DurationType),
			cel.Variable("cls", cel.DoubleType),
			cel.Variable("js_errors", cel.IntType),
			cel.Variable("console_errors", cel.IntType),
			cel.Variable("failed_requests", cel.IntType),
			cel.Variable("csp_violations", cel.IntType),
			cel.Variable("requests", cel.IntType),
			cel.Variable("transfer_bytes", cel.IntType),
			cel.Variable("steps", cel.MapType(cel.StringType, cel.DurationType)),
		}
	}
	return nil
}

// exprEnv returns the CEL environment of kind's expressions, built once
// per file; nil (reported at path) if it cannot be built.
func (d *decoder) exprEnv(kind, path string) *cel.Env {
	if env, ok := d.envs[kind]; ok {
		return env
	}
	env, err := cel.NewEnv(exprVars(kind)...)
	if err != nil {
		d.errorAt(path, "build the CEL environment of %s: %v", kind, err)
		env = nil
	}
	d.envs[kind] = env
	return env
}

// compile checks and plans e in env.
func (e *Expr) compile(env *cel.Env) error {
	ast, iss := env.Compile(e.Source)
	if iss.Err() != nil {
		return fmt.Errorf("invalid CEL expression %q: %s", e.Source, oneLine(iss.Err().Error()))
	}
	if !ast.OutputType().IsExactType(cel.BoolType) && !ast.OutputType().IsExactType(cel.DynType) {
		return fmt.Errorf("CEL expression %q gives %s; want a bool, such as 'status == 200'", e.Source, ast.OutputType())
	}
	prg, err := env.Program(ast, cel.CostLimit(ExprCostLimit))
	if err != nil {
		return fmt.Errorf("CEL expression %q: %v", e.Source, err)
	}
	e.Program = prg
	e.Explain = newExplain(env, ast, e.Source)
	return nil
}

// newExplain returns the Explain of a comparison, or nil for any other
// expression.
func newExplain(env *cel.Env, ast *cel.Ast, src string) *Explain {
	root := ast.NativeRep().Expr()
	if root.Kind() != celast.CallKind {
		return nil
	}
	call := root.AsCall()
	op, ok := comparisons[call.FunctionName()]
	if !ok || len(call.Args()) != 2 {
		return nil
	}
	l, r := call.Args()[0], call.Args()[1]
	return &Explain{
		Op: op, Left: l.ID(), Right: r.ID(),
		LeftSource: sourceOf(ast, src, l), RightSource: sourceOf(ast, src, r),
		LeftConst: isConst(ast, l), RightConst: isConst(ast, r),
		src: src, env: env, ast: ast,
	}
}

// sourceOf returns the text of a sub-expression, or its unparsed form.
func sourceOf(ast *cel.Ast, src string, x celast.Expr) string {
	if s, err := cel.ExprToString(x, ast.NativeRep().SourceInfo()); err == nil {
		return s
	}
	return src
}

// oneLine folds CEL's multi-line error (message, source line, caret) into
// one line; the caret's column is already in the message.
func oneLine(s string) string {
	first, _, _ := strings.Cut(s, "\n")
	return strings.TrimPrefix(first, "ERROR: <input>:")
}

// compiledExpr is the outcome of compiling one expression's source.
type compiledExpr struct {
	program cel.Program
	explain *Explain
	err     error
}

// exprKey names a compiled expression: its environment, source, and
// whether it is a ValueExpr (any result type) rather than an Expr.
type exprKey struct {
	env   *cel.Env
	src   string
	value bool
}

// compileExpr compiles e, reporting a failure at path. Expressions written
// alike for one kind within one file share their compiled programs.
func (d *decoder) compileExpr(env *cel.Env, e *Expr, path string) {
	if e.Source == "" || env == nil {
		return
	}
	key := exprKey{env, e.Source, false}
	c, ok := d.exprs[key]
	if !ok {
		c.err = e.compile(env)
		c.program, c.explain = e.Program, e.Explain
		d.exprs[key] = c
	}
	e.Program, e.Explain = c.program, c.explain
	if c.err != nil {
		d.errorAt(path, "%v", c.err)
	}
}

// ValueExpr is a CEL expression of any result type, compiled at load
// (a flow's extract).
type ValueExpr struct {
	Source  string
	Program cel.Program
}

// MarshalText writes the expression's source.
func (e ValueExpr) MarshalText() ([]byte, error) { return []byte(e.Source), nil }

func (e *ValueExpr) parseScalar(s string) error {
	if strings.TrimSpace(s) == "" {
		return fmt.Errorf("expression is empty; want a CEL expression such as 'body.token'")
	}
	e.Source = s
	return nil
}

// compileValue compiles e like compileExpr, whatever its result type.
func (d *decoder) compileValue(env *cel.Env, e *ValueExpr, path string) {
	if e.Source == "" || env == nil {
		return
	}
	key := exprKey{env, e.Source, true}
	c, ok := d.exprs[key]
	if !ok {
		c.program, c.err = compileValue(env, e.Source)
		d.exprs[key] = c
	}
	e.Program = c.program
	if c.err != nil {
		d.errorAt(path, "%v", c.err)
	}
}

func compileValue(env *cel.Env, src string) (cel.Program, error) {
	ast, iss := env.Compile(src)
	if iss.Err() != nil {
		return nil, fmt.Errorf("invalid CEL expression %q: %s", src, oneLine(iss.Err().Error()))
	}
	prg, err := env.Program(ast, cel.CostLimit(ExprCostLimit))
	if err != nil {
		return nil, fmt.Errorf("CEL expression %q: %v", src, err)
	}
	return prg, nil
}

// isConst reports whether x reads no variable.
func isConst(ast *cel.Ast, x celast.Expr) bool {
	nav := celast.NavigateExpr(ast.NativeRep(), x)
	return len(celast.MatchDescendants(nav, celast.KindMatcher(celast.IdentKind))) == 0
}

// exprs compiles a kind's expressions in its CEL environment.
type exprs struct{ env *cel.Env }

func (x exprs) compile(d *decoder, path string, assert, degradedIf []Expr) {
	for i := range assert {
		d.compileExpr(x.env, &assert[i], fmt.Sprintf("%s.assert[%d]", path, i))
	}
	for i := range degradedIf {
		d.compileExpr(x.env, &degradedIf[i], fmt.Sprintf("%s.degraded_if[%d]", path, i))
	}
}
