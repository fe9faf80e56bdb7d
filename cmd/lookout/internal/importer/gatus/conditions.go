package gatus

import (
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// This file reads Gatus conditions ("[STATUS] == 200", "len([BODY].items)
// > 0") and says what each becomes for one kind of probe: a plain
// expectation of the kind (expect.status, expect.rcode, a regular
// expression, expires_within), a CEL assertion over the kind's
// variables, a check the kind makes anyway ([CONNECTED] == true), or
// nothing Lookout can check, with the reason.
//
// Gatus compares strings: each side is resolved to text, then == and !=
// compare the texts (as integers when both are integers; pat() as a
// glob, any() as a list of texts) and <, <=, >, >= compare numbers read
// from the texts (a duration as milliseconds, a float truncated, and 0
// for anything else). The CEL written here keeps those rules for the
// values a check meets in practice: a JSON value is compared as the text
// Gatus prints for it (string(body.x), which CEL prints as Go does), a
// number read from JSON is truncated (int(double(body.x))). Where CEL
// cannot follow Gatus, the difference is named in the package comment.

// condition is one Gatus condition split at its operator.
type condition struct {
	src         string
	left, right operand
	op          string // ==, !=, <=, >=, >, <
}

// operators in the order Gatus looks for them: the first one found,
// surrounded by spaces, splits the condition.
var operators = []string{"==", "!=", "<=", ">=", ">", "<"}

// parseCondition splits s as Gatus does; false when no operator, or the
// operator more than once, makes it unreadable.
func parseCondition(s string) (condition, bool) {
	for _, op := range operators {
		parts := strings.Split(s, " "+op+" ")
		if len(parts) == 1 {
			continue
		}
		if len(parts) != 2 {
			return condition{}, false
		}
		return condition{src: s, op: op, left: parseOperand(parts[0]), right: parseOperand(parts[1])}, true
	}
	return condition{}, false
}

// operand is one side of a condition: a placeholder (maybe wrapped in
// len, has or age) or a constant.
type operand struct {
	text string // as written, trimmed
	fn   string // "len", "has", "age" or ""
	ph   string // the placeholder in upper case ([STATUS], [BODY], ...); "" for a constant
	arg  string // [BODY]'s JSON path without the leading dot; [HEADER]'s name
}

// simplePlaceholders are the placeholders that take no path.
var simplePlaceholders = []string{
	"[STATUS]", "[IP]", "[RESPONSE_TIME]", "[DNS_RCODE]", "[CONNECTED]",
	"[CERTIFICATE_EXPIRATION]", "[DOMAIN_EXPIRATION]", "[BODY]",
}

func parseOperand(s string) operand {
	s = strings.TrimSpace(s)
	o := operand{text: s}
	inner := s
	for _, fn := range []string{"len", "has", "age"} {
		if strings.HasPrefix(s, fn+"(") && strings.HasSuffix(s, ")") {
			o.fn, inner = fn, strings.TrimSpace(s[len(fn)+1:len(s)-1])
			break
		}
	}
	up := strings.ToUpper(inner)
	switch {
	case slices.Contains(simplePlaceholders, up):
		o.ph = up
	case strings.HasPrefix(up, "[BODY].") || strings.HasPrefix(up, "[BODY]["):
		o.ph, o.arg = "[BODY]", strings.TrimPrefix(inner[len("[BODY]"):], ".")
	case strings.HasPrefix(up, "[HEADER]."):
		o.ph, o.arg = "[HEADER]", inner[len("[HEADER]."):]
	case strings.HasPrefix(up, "[CONTEXT]"):
		o.ph = "[CONTEXT]"
	}
	return o
}

// constant reports whether o reads nothing from the result.
func (o operand) constant() bool { return o.ph == "" }

// value is the text Gatus resolves a constant to.
func (o operand) value() string {
	switch o.fn {
	case "has":
		return "false"
	case "len", "age":
		return o.text + " (INVALID)"
	}
	return o.text
}

// isPat and isAny tell Gatus's pattern and list functions, which only
// mean something as a side of == and !=.
func isPat(s string) (string, bool) { return cutFunc(s, "pat") }
func isAny(s string) (string, bool) { return cutFunc(s, "any") }

func cutFunc(s, fn string) (string, bool) {
	if strings.HasPrefix(s, fn+"(") && strings.HasSuffix(s, ")") {
		return s[len(fn)+1 : len(s)-1], true
	}
	return "", false
}

// anyOptions are the values of any(a, b, c), trimmed.
func anyOptions(list string) []string {
	opts := strings.Split(list, ",")
	for i := range opts {
		opts[i] = strings.TrimSpace(opts[i])
	}
	return opts
}

// gatusEqual compares two resolved texts as Gatus's == does.
func gatusEqual(a, b string) bool {
	pa, aPat := isPat(a)
	pb, bPat := isPat(b)
	switch {
	case aPat && !bPat:
		return globMatch(pa, b)
	case bPat && !aPat:
		return globMatch(pb, a)
	}
	la, aAny := isAny(a)
	lb, bAny := isAny(b)
	switch {
	case aAny && !bAny:
		return slices.Contains(anyOptions(la), b)
	case bAny && !aAny:
		return slices.Contains(anyOptions(lb), a)
	}
	ia, errA := strconv.ParseInt(a, 0, 64)
	ib, errB := strconv.ParseInt(b, 0, 64)
	if errA == nil && errB == nil {
		return ia == ib
	}
	return a == b
}

// globMatch is Gatus's pattern match: * matches everything, and '/' is
// left out of both the pattern and the text before they are matched.
func globMatch(pattern, s string) bool {
	if pattern == "*" {
		return true
	}
	ok, _ := filepath.Match(strings.ReplaceAll(pattern, "/", ""), strings.ReplaceAll(s, "/", ""))
	return ok
}

// gatusNumber reads a resolved text as Gatus's <, <=, >, >= do: a
// duration (other than 0) in milliseconds, an integer, a float
// truncated, else 0.
func gatusNumber(s string) int64 {
	if d, err := time.ParseDuration(s); err == nil && d != 0 {
		return d.Milliseconds()
	}
	if n, err := strconv.ParseInt(s, 0, 64); err == nil {
		return n
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		return int64(f)
	}
	return 0
}

// gatusHolds evaluates op over two resolved texts.
func gatusHolds(op, a, b string) bool {
	switch op {
	case "==":
		return gatusEqual(a, b)
	case "!=":
		return !gatusEqual(a, b)
	}
	x, y := gatusNumber(a), gatusNumber(b)
	switch op {
	case "<":
		return x < y
	case "<=":
		return x <= y
	case ">":
		return x > y
	}
	return x >= y
}

// flip turns "a OP b" into "b OP' a".
func flip(op string) string {
	switch op {
	case "<":
		return ">"
	case "<=":
		return ">="
	case ">":
		return "<"
	case ">=":
		return "<="
	}
	return op
}

// statusCodes returns which HTTP statuses (100 to 599) pass the
// [STATUS] conditions, each compared to a constant; nil when a condition
// is not of that form.
func statusCodes(conds []condition) []bool {
	ok := make([]bool, 600)
	for code := 100; code < 600; code++ {
		ok[code] = true
	}
	for _, c := range conds {
		st, k := c.left, c.right
		if !st.constant() && !k.constant() {
			return nil
		}
		if st.constant() {
			st, k = k, st
		}
		if st.ph != "[STATUS]" || st.fn != "" {
			return nil
		}
		for code := 100; code < 600; code++ {
			s := strconv.Itoa(code)
			a, b := s, k.value()
			if c.left.constant() {
				a, b = b, a
			}
			ok[code] = ok[code] && gatusHolds(c.op, a, b)
		}
	}
	return ok
}

// statusRanges writes accepted codes as expect.status does: codes,
// classes ("2xx") and ranges ("200-204").
func statusRanges(ok []bool) []string {
	var out []string
	for code := 100; code < 600; {
		if !ok[code] {
			code++
			continue
		}
		end := code
		for end+1 < 600 && ok[end+1] {
			end++
		}
		switch {
		case end == code:
			out = append(out, strconv.Itoa(code))
		case code%100 == 0 && end == code+99:
			out = append(out, fmt.Sprintf("%dxx", code/100))
		case code%100 == 0 && end%100 == 99:
			for c := code; c < end; c += 100 {
				out = append(out, fmt.Sprintf("%dxx", c/100))
			}
		default:
			out = append(out, fmt.Sprintf("%d-%d", code, end))
		}
		code = end + 1
	}
	return out
}

// glob is a Gatus pattern as a regular expression: re matches the
// pattern without its leading and trailing *, which open says were
// there (so re need not be anchored at that end).
type glob struct {
	re                 string
	openStart, openEnd bool
}

// parseGlob converts a pat() pattern. Gatus leaves '/' out of the
// pattern and the text; the regular expression matches '/' as written.
func parseGlob(p string) (glob, error) {
	if _, err := filepath.Match(p, ""); err != nil {
		return glob{}, fmt.Errorf("%q is not a valid pattern", p)
	}
	var g glob
	for strings.HasPrefix(p, "*") {
		p, g.openStart = p[1:], true
	}
	for strings.HasSuffix(p, "*") && !strings.HasSuffix(p, `\*`) {
		p, g.openEnd = p[:len(p)-1], true
	}
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		switch c := p[i]; c {
		case '*':
			b.WriteString(".*")
		case '?':
			b.WriteString(".")
		case '\\':
			if i+1 < len(p) {
				i++
				b.WriteString(regexp.QuoteMeta(p[i : i+1]))
			}
		case '[':
			end := strings.IndexByte(p[i+1:], ']')
			b.WriteString(globClass(p[i+1 : i+1+end]))
			i += end + 1
		default:
			b.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	g.re = b.String()
	return g, nil
}

// globClass converts the inside of a [class] of a pattern.
func globClass(in string) string {
	var b strings.Builder
	b.WriteByte('[')
	if strings.HasPrefix(in, "^") {
		b.WriteByte('^')
		in = in[1:]
	}
	for i := 0; i < len(in); i++ {
		c := in[i]
		switch {
		case c == '\\' && i+1 < len(in):
			i++
			b.WriteString(`\` + in[i:i+1])
		case c == '-' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= 0x80:
			b.WriteByte(c)
		default:
			b.WriteString(`\` + string(c))
		}
	}
	b.WriteByte(']')
	return b.String()
}

// anchored returns the glob as a regular expression over a whole value;
// trim lets white space surround the value, which Gatus trims from a
// body before comparing it.
func (g glob) anchored(trim bool) string {
	var b strings.Builder
	if strings.Contains(g.re, ".") {
		b.WriteString("(?s)")
	}
	if !g.openStart {
		b.WriteString("^")
		if trim {
			b.WriteString(`\s*`)
		}
	}
	b.WriteString(g.re)
	if !g.openEnd {
		if trim {
			b.WriteString(`\s*`)
		}
		b.WriteString("$")
	}
	return b.String()
}

// literalRegexp matches exactly one of values, with white space around
// when trim.
func literalRegexp(values []string, trim bool) string {
	quoted := make([]string, len(values))
	for i, v := range values {
		quoted[i] = regexp.QuoteMeta(v)
	}
	re := strings.Join(quoted, "|")
	if len(values) > 1 {
		re = "(?:" + re + ")"
	}
	if trim {
		return `^\s*` + re + `\s*$`
	}
	return "^" + re + "$"
}

// celString writes s as a CEL string literal: raw when that saves
// backslashes.
func celString(s string) string {
	if strings.Contains(s, `\`) && !strings.ContainsAny(s, "\"\n\r") && strconv.CanBackquote(s) {
		return `r"` + s + `"`
	}
	return strconv.Quote(s)
}

// celDuration writes a Gatus number of milliseconds (or the duration as
// written, when it was one) as a CEL duration.
func celDuration(text string) string {
	if d, err := time.ParseDuration(text); err == nil && d != 0 {
		return fmt.Sprintf("duration(%q)", text)
	}
	d := time.Duration(gatusNumber(text)) * time.Millisecond
	return fmt.Sprintf("duration(%q)", shortDuration(d))
}

// shortDuration writes d like 48h, 1h30m or 300ms.
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// term is one side of a condition as a probe kind's CEL reads it.
type term struct {
	kind termKind
	cel  string // the CEL expression; the text for a constant
}

type termKind int

const (
	tConst    termKind = iota
	tInt               // an int, which Gatus prints in decimal (status, a length)
	tDuration          // a duration, which Gatus counts in milliseconds
	tString            // a string compared as it is
	tTrimmed           // a whole body, which Gatus trims of white space
	tJSON              // a JSON value, which Gatus prints as Go's %v does
	tBool              // a bool, which Gatus prints as true or false
)

// text is the CEL string Gatus compares for t; "" when CEL cannot write
// it.
func (t term) text() string {
	switch t.kind {
	case tString:
		return t.cel
	case tInt, tJSON, tBool:
		return "string(" + t.cel + ")"
	}
	return ""
}

// number is the CEL int Gatus compares for t; "" when CEL cannot write
// it.
func (t term) number() string {
	switch t.kind {
	case tInt:
		return t.cel
	case tJSON, tString:
		return "int(double(" + t.cel + "))"
	}
	return ""
}

// celCompare writes l OP r in CEL with Gatus's meaning; it returns why
// not when CEL cannot say it. A true or false result means the
// condition holds, or fails, whatever the result.
func celCompare(l term, op string, r term) (string, error) {
	if l.kind == tConst && r.kind == tConst {
		return strconv.FormatBool(gatusHolds(op, l.cel, r.cel)), nil
	}
	if l.kind == tConst {
		l, r, op = r, l, flip(op)
	}
	if op == "==" || op == "!=" {
		return celEqual(l, op == "!=", r)
	}
	return celOrder(l, op, r)
}

func celEqual(v term, negate bool, c term) (string, error) {
	not := func(expr string) string {
		if !negate {
			return expr
		}
		switch expr {
		case "true":
			return "false"
		case "false":
			return "true"
		}
		return "!(" + expr + ")"
	}
	if c.kind != tConst {
		a, b := v.text(), c.text()
		if a == "" || b == "" {
			return "", fmt.Errorf("Lookout's CEL cannot compare these two values as Gatus does")
		}
		return not(a + " == " + b), nil
	}
	if p, ok := isPat(c.cel); ok {
		if p == "*" {
			return not("true"), nil
		}
		g, err := parseGlob(p)
		if err != nil {
			return "", err
		}
		expr, err := matchesExpr(v, g.anchored(v.kind == tTrimmed))
		return not(expr), err
	}
	if list, ok := isAny(c.cel); ok {
		expr, err := inExpr(v, anyOptions(list))
		return not(expr), err
	}
	expr, err := equalExpr(v, c.cel)
	if err != nil {
		return "", err
	}
	if negate && strings.Contains(expr, " == ") && !strings.Contains(expr, "&&") {
		return strings.Replace(expr, " == ", " != ", 1), nil
	}
	return not(expr), nil
}

func matchesExpr(v term, re string) (string, error) {
	subject := v.text()
	if v.kind == tTrimmed {
		subject = v.cel
	}
	if subject == "" {
		return "", fmt.Errorf("Lookout's CEL cannot match a pattern against this value")
	}
	return subject + ".matches(" + celString(re) + ")", nil
}

func inExpr(v term, opts []string) (string, error) {
	switch v.kind {
	case tTrimmed:
		return matchesExpr(v, literalRegexp(opts, true))
	case tInt:
		var ints []string
		for _, o := range opts {
			if _, err := strconv.ParseInt(o, 10, 64); err == nil {
				ints = append(ints, o)
			}
		}
		if len(ints) == 0 {
			return "false", nil
		}
		return v.cel + " in [" + strings.Join(ints, ", ") + "]", nil
	}
	subject := v.text()
	if subject == "" {
		return "", fmt.Errorf("Lookout's CEL cannot compare this value to a list")
	}
	quoted := make([]string, len(opts))
	for i, o := range opts {
		quoted[i] = strconv.Quote(o)
	}
	return subject + " in [" + strings.Join(quoted, ", ") + "]", nil
}

func equalExpr(v term, c string) (string, error) {
	n, intErr := strconv.ParseInt(c, 0, 64)
	switch v.kind {
	case tTrimmed:
		return matchesExpr(v, literalRegexp([]string{c}, true))
	case tInt:
		if intErr != nil {
			return "false", nil
		}
		return fmt.Sprintf("%s == %d", v.cel, n), nil
	case tBool:
		switch c {
		case "true":
			return v.cel, nil
		case "false":
			return "!" + v.cel, nil
		}
		return "false", nil
	case tDuration:
		if intErr != nil {
			return "", fmt.Errorf("a duration compared to %q", c)
		}
		lo := time.Duration(n) * time.Millisecond
		return fmt.Sprintf("%s >= duration(%q) && %s < duration(%q)", v.cel, shortDuration(lo), v.cel, shortDuration(lo+time.Millisecond)), nil
	}
	return v.text() + " == " + strconv.Quote(c), nil
}

func celOrder(l term, op string, r term) (string, error) {
	if r.kind == tConst {
		switch l.kind {
		case tDuration:
			return l.cel + " " + op + " " + celDuration(r.cel), nil
		case tInt, tJSON, tString:
			return fmt.Sprintf("%s %s %d", l.number(), op, gatusNumber(r.cel)), nil
		}
		return "", fmt.Errorf("Lookout's CEL cannot read a number from this value as Gatus does")
	}
	if l.kind == tDuration && r.kind == tDuration {
		return l.cel + " " + op + " " + r.cel, nil
	}
	a, b := l.number(), r.number()
	if a == "" || b == "" {
		return "", fmt.Errorf("Lookout's CEL cannot compare these two values as Gatus does")
	}
	return a + " " + op + " " + b, nil
}

// jsonPath converts a Gatus [BODY] path (data[0].name) to CEL over base
// (body.data[0].name); false for a path CEL cannot follow.
func jsonPath(base, path string) (string, bool) {
	if path == "" {
		return base, true
	}
	var keys []string
	start, depth := 0, 0
	for i := 0; i < len(path); i++ {
		switch path[i] {
		case '[':
			depth++
		case ']':
			depth--
		case '.':
			if depth == 0 {
				keys = append(keys, path[start:i])
				start = i + 1
			}
		}
	}
	keys = append(keys, path[start:])
	out := base
	for _, k := range keys {
		name, idx, _ := strings.Cut(k, "[")
		if name != "" {
			out += celField(name)
		} else if k == "" {
			return "", false
		}
		for idx != "" {
			n, rest, ok := strings.Cut(idx, "]")
			if !ok {
				return "", false
			}
			if _, err := strconv.Atoi(n); err != nil {
				return "", false
			}
			out += "[" + n + "]"
			idx = strings.TrimPrefix(rest, "[")
			if rest != "" && !strings.HasPrefix(rest, "[") {
				return "", false
			}
		}
	}
	return out, true
}

var celIdent = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// celReserved are CEL's reserved words, which cannot follow a dot.
var celReserved = []string{"as", "break", "const", "continue", "else", "false", "for", "function", "if",
	"import", "in", "let", "loop", "package", "namespace", "null", "return", "true", "var", "void", "while"}

func celField(name string) string {
	if celIdent.MatchString(name) && !slices.Contains(celReserved, name) {
		return "." + name
	}
	return "[" + strconv.Quote(name) + "]"
}

// hasPath writes Gatus's has([BODY].a.b) in CEL: every step of the path
// exists.
func hasPath(path string) (string, bool) {
	if path == "" || strings.ContainsAny(path, "[]") {
		return "", false
	}
	var steps []string
	cur := "body"
	for _, k := range strings.Split(path, ".") {
		if k == "" {
			return "", false
		}
		cur += celField(k)
		if !strings.HasPrefix(celField(k), ".") {
			return "", false
		}
		steps = append(steps, "has("+cur+")")
	}
	return strings.Join(steps, " && "), true
}
