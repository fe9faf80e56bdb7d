package httpprobe

import (
	"context"
	"net/http"

	"cel.dev/cel-go/cel"

	"github.com/lookout-dev/lookout/probes"
)

// Request is one run's request in place of the configured one, for a
// flow's step: its URL, header values, body and credentials with the
// step's templates expanded, a cookie jar the run's steps share, and the
// flow's variables. The method, the header names, which credentials are
// sent (basic_auth or bearer_token), the checks and the transport stay the
// configured ones; the URL keeps the configured origin.
type Request struct {
	URL                string
	Headers            map[string]string
	Body               string
	Username, Password string // sent when basic_auth is configured
	BearerToken        string
	// Jar, if set, sends and keeps cookies.
	Jar http.CookieJar
	// Vars are the variables beyond the response's that the step's
	// expressions read (a flow's vars); nil: none.
	Vars cel.Activation
}

// ProbeRequest runs the check once with req, and returns with its result
// the variables its expressions saw (status, headers, body, … and req's
// Vars), for what a flow extracts from the response; nil when no response
// came.
func (p *Prober) ProbeRequest(ctx context.Context, req *Request) (probes.Result, cel.Activation) {
	res, vars := p.probe(ctx, req)
	if vars == nil {
		return res, nil
	}
	return res, vars
}
