package gatus

import (
	"fmt"
	"net"
	"net/url"
	"regexp"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// This file turns an endpoint's conditions into its probe's checks: each
// condition is an expectation of the kind, a CEL assertion, a check the
// kind makes anyway, or left behind with the reason.

// checks are what an endpoint's conditions became.
type checks struct {
	// status are the [STATUS] conditions against a constant, which
	// together make expect.status.
	status []condition
	// asserts are CEL assertions, each with the condition it came from.
	asserts []check
	// bodyRegex and bodyNotRegex are an HTTP body's plain expectations.
	bodyRegex, bodyNotRegex *check
	// expect is the regular expression of a tcp or websocket probe.
	expect *check
	// needResponse: an assertion reads a tcp or websocket probe's
	// response, which is read only with expect.
	needResponse bool
	// rcode is a dns probe's expect.rcode; answers its expect.answers.
	rcode   *check
	answers []check
	// expiresWithin is a tls probe's expires_within.
	expiresWithin *check
	// certAsserts are assertions of the tls probe that checks an HTTP
	// endpoint's certificate; certExpires its expires_within.
	certAsserts []check
	certExpires *check
}

// check is one expression or value of the output with the condition it
// came from.
type check struct {
	value string
	src   string
}

// condition converts one condition.
func (b *probeBuilder) condition(where, src string) {
	c, ok := parseCondition(src)
	if !ok {
		b.c.leave(&b.notes, where, src, "not a condition Lookout can read: want one operator (==, !=, <, <=, >, >=) with a space each side")
		return
	}
	if why := b.special(c); why != "" {
		if why != handled {
			b.c.leave(&b.notes, where, src, why)
		}
		return
	}
	l, why := b.term(c.left)
	if why == "" {
		var r term
		r, why = b.term(c.right)
		if why == "" {
			expr, err := celCompare(l, c.op, r)
			if err != nil {
				why = err.Error()
			} else {
				b.addAssert(expr, src)
				return
			}
		}
	}
	b.c.leave(&b.notes, where, src, why)
}

// handled is what special returns for a condition it converted.
const handled = "\x00"

// special converts the conditions that become a plain expectation or a
// check the kind makes anyway; "" for the others.
func (b *probeBuilder) special(c condition) string {
	ph, k, op := c.left, c.right, c.op
	if ph.constant() {
		ph, k, op = k, ph, flip(op)
	}
	if ph.constant() || !k.constant() || ph.fn != "" && ph.fn != "len" && ph.fn != "has" {
		return ""
	}
	switch {
	case ph.ph == "[CONNECTED]":
		if op == "==" && k.value() == "true" || op == "!=" && k.value() == "false" {
			return handled // every probe is down when it cannot connect
		}
		return "Lookout's probe is down when it cannot connect; it has no check that passes without a connection"
	case ph.ph == "[STATUS]" && ph.fn == "" && b.kind == "http":
		b.checks.status = append(b.checks.status, c)
		return handled
	case ph.ph == "[CERTIFICATE_EXPIRATION]":
		return b.certificate(c, op, k)
	case ph.ph == "[DNS_RCODE]" && b.kind == "dns" && op == "==" && b.checks.rcode == nil:
		if _, isPat := isPat(k.text); isPat {
			return ""
		}
		if _, isAny := isAny(k.text); isAny {
			return ""
		}
		b.checks.rcode = &check{strings.ToUpper(k.text), c.src}
		return handled
	case ph.ph == "[BODY]" && b.kind == "dns" && ph.fn == "":
		return b.dnsAnswer(c, op, k)
	case ph.ph == "[BODY]" && b.kind == "grpc" && ph.fn == "" && strings.EqualFold(ph.arg, "status") && op == "==" && k.text == "SERVING":
		return handled // the grpc probe is down unless the answer is SERVING
	case ph.ph == "[BODY]" && (b.kind == "tcp" || b.kind == "websocket") && ph.fn == "" && ph.arg == "" && op == "==" && b.checks.expect == nil:
		re, ok := bodyRegexp(k.text)
		if !ok || b.bannerExpected() {
			return ""
		}
		b.checks.expect = &check{re, c.src}
		return handled
	case ph.ph == "[BODY]" && b.kind == "http" && ph.fn == "" && ph.arg == "" && (op == "==" || op == "!="):
		re, ok := bodyRegexp(k.text)
		switch {
		case !ok:
			return ""
		case op == "==" && b.checks.bodyRegex == nil:
			b.checks.bodyRegex = &check{re, c.src}
			return handled
		case op == "!=" && b.checks.bodyNotRegex == nil:
			b.checks.bodyNotRegex = &check{re, c.src}
			return handled
		}
	}
	return ""
}

// bannerExpected reports whether the tcp probe already expects a banner
// (SMTP's or SSH's), so a condition cannot take expect.
func (b *probeBuilder) bannerExpected() bool {
	scheme, _, _ := strings.Cut(b.ep.URL, "://")
	return scheme == "starttls" || scheme == "ssh"
}

// bodyRegexp is the regular expression a whole body matches when it
// equals k (a value, pat() or any()) as Gatus compares it, white space
// around allowed.
func bodyRegexp(k string) (string, bool) {
	if p, ok := isPat(k); ok {
		if p == "*" {
			return "", false
		}
		g, err := parseGlob(p)
		if err != nil {
			return "", false
		}
		return g.anchored(true), true
	}
	if list, ok := isAny(k); ok {
		return literalRegexp(anyOptions(list), true), true
	}
	return literalRegexp([]string{k}, true), true
}

// certificate converts [CERTIFICATE_EXPIRATION]: expires_within of a tls
// probe (the endpoint's own, or one beside an HTTP endpoint).
func (b *probeBuilder) certificate(c condition, op string, k operand) string {
	var d time.Duration
	if v, err := time.ParseDuration(k.text); err == nil {
		d = v
	} else {
		d = time.Duration(gatusNumber(k.text)) * time.Millisecond
	}
	var within **check
	var asserts *[]check
	switch b.kind {
	case "tls":
		within, asserts = &b.checks.expiresWithin, &b.checks.asserts
	case "http":
		if !strings.HasPrefix(strings.ToLower(b.ep.URL), "https://") {
			return "the URL is not https://, so there is no certificate (Gatus compares 0)"
		}
		within, asserts = &b.checks.certExpires, &b.checks.certAsserts
	case "tcp":
		if strings.HasPrefix(b.ep.URL, "starttls://") {
			return "Lookout does not upgrade a connection with STARTTLS, so it sees no certificate here; a tls probe checks a port that speaks TLS from the start"
		}
		fallthrough
	default:
		return fmt.Sprintf("Lookout's %s probe does not check a certificate's expiry", b.kind)
	}
	if (op == ">" || op == ">=") && *within == nil && d > 0 {
		*within = &check{shortDuration(d), c.src}
		return handled
	}
	ops := map[string]bool{"<": true, "<=": true, ">": true, ">=": true}
	if !ops[op] {
		return "a certificate's expiry is compared with <, <=, > or >="
	}
	*asserts = append(*asserts, check{fmt.Sprintf("expires_in %s duration(%q)", op, shortDuration(d)), c.src})
	return handled
}

// dnsAnswer converts [BODY] of a dns endpoint: a record of the answer
// section matches.
func (b *probeBuilder) dnsAnswer(c condition, op string, k operand) string {
	if op != "==" && op != "!=" {
		return "Lookout's dns probe compares records as text; <, <=, > and >= are not converted"
	}
	var value string
	if p, isPat := isPat(k.text); isPat {
		g, err := parseGlob(p)
		if err != nil {
			return err.Error()
		}
		value = g.re
		if g.openStart {
			value = `\S*` + value
		}
		if g.openEnd {
			value += `\S*`
		}
	} else {
		opts := []string{k.text}
		if list, isAny := isAny(k.text); isAny {
			opts = anyOptions(list)
		}
		value = strings.TrimSuffix(strings.TrimPrefix(literalRegexp(opts, false), "^"), "$")
	}
	re := `\s` + value + `$`
	if op == "==" {
		b.checks.answers = append(b.checks.answers, check{re, c.src})
		return handled
	}
	b.addAssert("!answers.exists(r, r.matches("+celString(re)+"))", c.src)
	return handled
}

// term is what one side of a condition reads in the kind's CEL; why
// says why not when the kind has nothing for it.
func (b *probeBuilder) term(o operand) (term, string) {
	if o.constant() {
		return term{kind: tConst, cel: o.value()}, ""
	}
	if o.fn == "age" {
		return term{}, "Lookout has no age()"
	}
	switch o.ph {
	case "[RESPONSE_TIME]":
		if o.fn != "" {
			break
		}
		switch b.kind {
		case "icmp":
			return term{kind: tDuration, cel: `rtt.avg`}, ""
		case "heartbeat":
			return term{}, "a heartbeat has no response time"
		}
		return term{kind: tDuration, cel: "duration"}, ""
	case "[STATUS]":
		if b.kind == "http" && o.fn == "" {
			return term{kind: tInt, cel: "status"}, ""
		}
		if b.kind == "tcp" && strings.HasPrefix(b.ep.URL, "ssh://") {
			return term{}, "Lookout does not run commands over SSH, so there is no exit status"
		}
		return term{}, fmt.Sprintf("Lookout's %s probe has no status to compare", b.kind)
	case "[DNS_RCODE]":
		if b.kind == "dns" && o.fn == "" {
			return term{kind: tString, cel: "rcode"}, ""
		}
	case "[BODY]":
		return b.bodyTerm(o)
	case "[IP]":
		return term{}, fmt.Sprintf("Lookout's %s probe does not tell the address it reached", b.kind)
	case "[DOMAIN_EXPIRATION]":
		return term{}, "Lookout does not look up when a domain expires (RDAP, WHOIS)"
	case "[CERTIFICATE_EXPIRATION]":
		if b.kind == "tls" && o.fn == "" {
			return term{kind: tDuration, cel: "expires_in"}, ""
		}
		return term{}, "a certificate's expiry is compared with a constant only"
	case "[CONTEXT]":
		return term{}, "suites are not converted, so there is no context"
	case "[HEADER]":
		return term{}, "Gatus's [HEADER] is not converted; an http probe's assert can read headers[\"name\"]"
	case "[CONNECTED]":
		return term{}, "[CONNECTED] is compared with true only: Lookout's probe is down when it cannot connect"
	}
	return term{}, fmt.Sprintf("%s is not something Lookout's %s probe reads", o.text, b.kind)
}

// bodyTerm is [BODY] for the kind.
func (b *probeBuilder) bodyTerm(o operand) (term, string) {
	switch b.kind {
	case "http":
		if o.arg == "" {
			switch o.fn {
			case "":
				return term{kind: tTrimmed, cel: "text"}, ""
			case "len":
				return term{kind: tInt, cel: "size(text)"}, ""
			}
			return term{}, "has() needs a JSON path"
		}
		if o.fn == "has" {
			expr, ok := hasPath(o.arg)
			if !ok {
				return term{}, "a JSON path Lookout's CEL cannot test with has(): want names joined by dots"
			}
			return term{kind: tBool, cel: expr}, ""
		}
		path, ok := jsonPath("body", o.arg)
		if !ok {
			return term{}, "a JSON path Lookout's CEL cannot follow: want names and [N] indexes"
		}
		if o.fn == "len" {
			return term{kind: tInt, cel: "size(" + path + ")"}, ""
		}
		return term{kind: tJSON, cel: path}, ""
	case "tcp", "websocket":
		if b.bannerExpected() {
			return term{}, "Lookout's probe checks the banner here and keeps no other response"
		}
		if o.arg != "" || o.fn == "has" {
			return term{}, fmt.Sprintf("Lookout's %s probe reads the response as text, not JSON", b.kind)
		}
		b.checks.needResponse = true
		if o.fn == "len" {
			return term{kind: tInt, cel: "size(response)"}, ""
		}
		return term{kind: tTrimmed, cel: "response"}, ""
	case "grpc":
		if strings.EqualFold(o.arg, "status") && o.fn == "" {
			return term{kind: tString, cel: "status"}, ""
		}
		return term{}, "Lookout's grpc probe reads the health service's status only"
	case "dns":
		return term{}, "Lookout's dns probe compares the answer's records as text (==, !=)"
	case "tls":
		return term{}, "Lookout's tls probe sends nothing after the handshake and reads no response"
	}
	return term{}, fmt.Sprintf("Lookout's %s probe reads no body", b.kind)
}

func (b *probeBuilder) addAssert(expr, src string) {
	if expr == "true" {
		b.notes = append(b.notes, fmt.Sprintf("%q always holds; it needs no check", src))
		return
	}
	b.checks.asserts = append(b.checks.asserts, check{expr, src})
}

// writeChecks writes the checks into the kind's section.
func (b *probeBuilder) writeChecks() {
	ch, s := &b.checks, b.sect
	switch b.kind {
	case "http":
		expect := mapping()
		ok := statusCodes(ch.status)
		ranges := statusRanges(ok)
		if len(ranges) == 0 {
			b.addAssert("false", "no HTTP status passes the [STATUS] conditions")
		} else {
			comment := "Gatus checks no status"
			if len(ch.status) > 0 {
				comment = "Gatus: " + joinSources(ch.status)
			}
			set(expect, "status", withComment(flowList(ranges...), comment))
		}
		if ch.bodyRegex != nil {
			set(expect, "body_regex", withComment(str(ch.bodyRegex.value), "Gatus: "+ch.bodyRegex.src))
		}
		if ch.bodyNotRegex != nil {
			set(expect, "body_not_regex", withComment(str(ch.bodyNotRegex.value), "Gatus: "+ch.bodyNotRegex.src))
		}
		set(s, "expect", expect)
	case "tcp", "websocket":
		switch {
		case ch.expect != nil:
			set(s, "expect", withComment(str(ch.expect.value), "Gatus: "+ch.expect.src))
		case ch.needResponse:
			set(s, "expect", withComment(str(`(?s).+`), "read the response, which the assertions check"))
		}
	case "dns":
		if ch.rcode != nil || len(ch.answers) > 0 {
			expect := mapping()
			if ch.rcode != nil {
				set(expect, "rcode", withComment(str(ch.rcode.value), "Gatus: "+ch.rcode.src))
			}
			if len(ch.answers) > 0 {
				answers := list()
				for _, a := range ch.answers {
					answers.Content = append(answers.Content, withComment(str(a.value), "Gatus: "+a.src))
				}
				set(expect, "answers", answers)
			}
			set(s, "expect", expect)
		}
	case "tls":
		if ch.expiresWithin != nil {
			set(s, "expires_within", withComment(str(ch.expiresWithin.value), "Gatus: "+ch.expiresWithin.src))
		}
	}
	if len(ch.asserts) > 0 {
		set(s, "assert", assertList(ch.asserts))
	}
	if ch.certExpires != nil || len(ch.certAsserts) > 0 {
		b.certProbe()
	}
}

func assertList(cs []check) *yaml.Node {
	l := list()
	for _, a := range cs {
		l.Content = append(l.Content, withComment(str(a.value), "Gatus: "+a.src))
	}
	return l
}

func joinSources(cs []condition) string {
	srcs := make([]string, len(cs))
	for i, c := range cs {
		srcs[i] = c.src
	}
	return strings.Join(srcs, ", ")
}

// certProbe builds the tls probe that checks an HTTPS endpoint's
// certificate: the same schedule, damping and labels, and the address
// of the URL.
func (b *probeBuilder) certProbe() {
	u, err := url.Parse(b.ep.URL)
	if err != nil || u.Hostname() == "" {
		b.c.leave(&b.notes, b.path+".url", redactedURL(b.ep.URL), "not a URL with a host, so its certificate cannot be checked")
		return
	}
	port := u.Port()
	if port == "" {
		port = "443"
	}
	cert := mapping()
	// NAME-certificate, or NAME-certificate-2 when an endpoint has it.
	b.certName = b.c.probeName("", b.name+"-certificate")
	for i := 0; i+1 < len(b.node.Content); i += 2 {
		switch k := b.node.Content[i]; k.Value {
		case "name":
			set(cert, "name", str(b.certName))
		case "interval", "timeout", "failure_threshold", "labels":
			set(cert, k.Value, b.node.Content[i+1])
		}
	}
	s := mapping()
	set(s, "address", str(lookoutEnv(net.JoinHostPort(u.Hostname(), port))))
	if b.ep.Client != nil && b.ep.Client.Insecure {
		set(s, "insecure_skip_verify", boolean(true))
	}
	if c := b.checks.certExpires; c != nil {
		set(s, "expires_within", withComment(str(c.value), "Gatus: "+c.src))
	}
	if len(b.checks.certAsserts) > 0 {
		set(s, "assert", assertList(b.checks.certAsserts))
	}
	set(cert, "tls", s)
	b.cert = cert
}

// matcherFor selects the alerts of the probes named.
func matcherFor(names []string) string {
	if len(names) == 1 {
		return "probe=" + quoteMatcher(names[0])
	}
	quoted := make([]string, len(names))
	for i, n := range names {
		quoted[i] = regexp.QuoteMeta(n)
	}
	return "probe=~" + quoteMatcher(strings.Join(quoted, "|"))
}

// quoteMatcher quotes a matcher's value as PromQL reads it.
func quoteMatcher(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(s) + `"`
}
