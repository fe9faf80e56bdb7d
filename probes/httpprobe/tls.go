package httpprobe

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net/http"
	"time"

	"github.com/lookout-dev/lookout/probes"
)

// tlsFacts reports the final response's TLS connection. With
// insecure_skip_verify the chain is still verified here, so the result
// says whether it would have passed.
func (p *Prober) tlsFacts(resp *http.Response) *probes.TLSFacts {
	cs := resp.TLS
	if cs == nil {
		return nil
	}
	f := &probes.TLSFacts{
		Version:        tls.VersionName(cs.Version),
		EarliestExpiry: earliestExpiry(cs.PeerCertificates),
		Verified:       true,
	}
	if p.cfg.TLS.InsecureSkipVerify {
		if err := p.verify(cs, resp.Request.URL.Hostname()); err != nil {
			f.Verified, f.VerifyError = false, err.Error()
		}
	}
	return f
}

func (p *Prober) verify(cs *tls.ConnectionState, host string) error {
	if len(cs.PeerCertificates) == 0 {
		return errors.New("no peer certificate")
	}
	name := p.cfg.TLS.ServerName
	if name == "" {
		name = host
	}
	inter := x509.NewCertPool()
	for _, c := range cs.PeerCertificates[1:] {
		inter.AddCert(c)
	}
	_, err := cs.PeerCertificates[0].Verify(x509.VerifyOptions{DNSName: name, Roots: p.transport.roots, Intermediates: inter})
	return err
}

// tlsFactsFromError keeps what is known of a chain that failed
// verification, so an expired certificate still reports its expiry.
func tlsFactsFromError(err error) *probes.TLSFacts {
	var ve *tls.CertificateVerificationError
	if !errors.As(err, &ve) {
		return nil
	}
	return &probes.TLSFacts{
		EarliestExpiry: earliestExpiry(ve.UnverifiedCertificates),
		VerifyError:    ve.Err.Error(),
	}
}

func earliestExpiry(certs []*x509.Certificate) time.Time {
	var earliest time.Time
	for _, c := range certs {
		if earliest.IsZero() || c.NotAfter.Before(earliest) {
			earliest = c.NotAfter
		}
	}
	return earliest
}
