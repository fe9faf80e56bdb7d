package httpprobe

import (
	"crypto/tls"
	"net/http"

	"github.com/lookout-dev/lookout/probes/internal/tlsinfo"
)

// tlsFacts reports the final response's TLS connection. With
// insecure_skip_verify the chain is still verified here, so the result
// says whether it would have passed.
func (p *Prober) tlsFacts(resp *http.Response) *tlsinfo.Facts {
	var verify func(*tls.ConnectionState) error
	if p.cfg.TLS.InsecureSkipVerify {
		verify = func(cs *tls.ConnectionState) error {
			name := p.cfg.TLS.ServerName
			if name == "" {
				name = resp.Request.URL.Hostname()
			}
			return tlsinfo.Verify(cs, name, p.transport.roots)
		}
	}
	return tlsinfo.FromState(resp.TLS, verify)
}
