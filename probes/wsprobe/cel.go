package wsprobe

import (
	"net/http"

	"cel.dev/cel-go/cel"

	"github.com/lookout-dev/lookout/probes"
	"github.com/lookout-dev/lookout/probes/internal/exprcheck"
)

// vars are the variables of a WebSocket probe's expressions (config's
// exprVars): duration, handshake, status, headers (of the upgrade's
// response), response (the first message read) and tls.
func vars(res *probes.Result, f *Facts, header http.Header, msg []byte) cel.Activation {
	act, _ := cel.NewActivation(map[string]any{
		"duration": res.Duration, "handshake": f.Handshake, "status": int64(f.Status),
		"headers": exprcheck.Headers(header), "response": string(msg), "tls": exprcheck.TLS(f.TLS),
	})
	return act
}
