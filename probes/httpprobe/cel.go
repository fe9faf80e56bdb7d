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

	"github.com/lookout-dev/lookout/probes"
	"github.com/lookout-dev/lookout/probes/internal/exprcheck"
)

// activation binds the variables assertions see (listed on config.Expr).
// Each is worked out when an expression first reads it and kept for the
// rest of the run, so a run pays only for the variables its expressions
// read, once, however many expressions read them.
type activation struct {
	resp   *http.Response
	body   []byte
	res    *probes.Result
	parent cel.Activation // a flow's vars; nil for a probe of its own
	vals   [len(celVars)]any
	done   [len(celVars)]bool
}

var _ cel.Activation = (*activation)(nil)

// celVars are the variables' names, in the order of activation.vals.
var celVars = [...]string{"status", "headers", "body", "text", "duration", "phases", "tls"}

func newActivation(resp *http.Response, body []byte, res *probes.Result, parent cel.Activation) *activation {
	return &activation{resp: resp, body: body, res: res, parent: parent}
}

// ResolveName returns the value of the variable name.
func (a *activation) ResolveName(name string) (any, bool) {
	i := slices.Index(celVars[:], name)
	if i < 0 {
		if a.parent != nil {
			return a.parent.ResolveName(name)
		}
		return nil, false
	}
	if !a.done[i] {
		a.vals[i], a.done[i] = a.value(name), true
	}
	return a.vals[i], true
}

// Parent holds the variables beyond the response's: a flow's vars.
func (a *activation) Parent() cel.Activation { return a.parent }

func (a *activation) value(name string) any {
	switch name {
	case "status":
		return int64(a.resp.StatusCode)
	case "headers":
		return exprcheck.Headers(a.resp.Header)
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
		return exprcheck.TLS(FactsOf(*a.res).TLS)
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
