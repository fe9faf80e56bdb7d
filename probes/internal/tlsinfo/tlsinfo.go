// Package tlsinfo is what the kinds that speak TLS (HTTP, TCP, TLS, …)
// tell of a connection: its version, the earliest expiry of the chain the
// server presented and whether that chain verified; the metric families
// blackbox_exporter names for them; and their line of a report.
package tlsinfo

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/lookout-dev/lookout/config"
	"github.com/lookout-dev/lookout/probes"
)

// Facts describe one TLS connection.
type Facts struct {
	Version        string    `json:"version"`
	EarliestExpiry time.Time `json:"earliest_expiry"`
	Verified       bool      `json:"verified"`
	VerifyError    string    `json:"verify_error,omitempty"`
}

// FromState tells of an established connection. verify, if set, checks
// the chain again (for insecure_skip_verify, so the result says whether
// it would have passed); nil means the handshake verified it.
func FromState(cs *tls.ConnectionState, verify func(*tls.ConnectionState) error) *Facts {
	if cs == nil {
		return nil
	}
	f := &Facts{Version: tls.VersionName(cs.Version), EarliestExpiry: EarliestExpiry(cs.PeerCertificates), Verified: true}
	if verify != nil {
		if err := verify(cs); err != nil {
			f.Verified, f.VerifyError = false, err.Error()
		}
	}
	return f
}

// FromError keeps what is known of a chain that failed verification, so
// an expired certificate still reports its expiry; nil for other errors.
func FromError(err error) *Facts {
	var ve *tls.CertificateVerificationError
	if !errors.As(err, &ve) {
		return nil
	}
	return &Facts{EarliestExpiry: EarliestExpiry(ve.UnverifiedCertificates), VerifyError: ve.Err.Error()}
}

// ClientConfig is the client side of TLS a probe's settings ask for:
// ca_file (RootCAs; nil means the system's), a client certificate,
// server_name and insecure_skip_verify.
func ClientConfig(c config.TLS) (*tls.Config, error) {
	tc := &tls.Config{InsecureSkipVerify: c.InsecureSkipVerify, ServerName: c.ServerName}
	if c.CAFile != "" {
		pem, err := os.ReadFile(c.CAFile)
		if err != nil {
			return nil, fmt.Errorf("read ca_file: %w", err)
		}
		tc.RootCAs = x509.NewCertPool()
		if !tc.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("ca_file %q holds no PEM certificate", c.CAFile)
		}
	}
	if c.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("load client certificate: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}

// Reverify is FromState's verify for a connection made with tc: under
// insecure_skip_verify, the chain checked against tc's server name and
// roots; nil when the handshake verified it.
func Reverify(tc *tls.Config) func(*tls.ConnectionState) error {
	if !tc.InsecureSkipVerify {
		return nil
	}
	return func(cs *tls.ConnectionState) error { return Verify(cs, tc.ServerName, tc.RootCAs) }
}

// Verify checks a presented chain against roots (nil: the system's) for
// name, as a handshake would.
func Verify(cs *tls.ConnectionState, name string, roots *x509.CertPool) error {
	if len(cs.PeerCertificates) == 0 {
		return errors.New("no peer certificate")
	}
	inter := x509.NewCertPool()
	for _, c := range cs.PeerCertificates[1:] {
		inter.AddCert(c)
	}
	_, err := cs.PeerCertificates[0].Verify(x509.VerifyOptions{DNSName: name, Roots: roots, Intermediates: inter})
	return err
}

// EarliestExpiry is the soonest NotAfter of certs; zero for none.
func EarliestExpiry(certs []*x509.Certificate) time.Time {
	var earliest time.Time
	for _, c := range certs {
		if earliest.IsZero() || c.NotAfter.Before(earliest) {
			earliest = c.NotAfter
		}
	}
	return earliest
}

// Carrier is a kind's Facts that may hold a TLS connection's facts.
type Carrier interface {
	TLSFacts() *Facts // nil: the run had no TLS connection
}

// get returns the TLS facts of a kind's facts, or nil.
func get(pf probes.Facts) *Facts {
	if c, ok := pf.(Carrier); ok {
		return c.TLSFacts()
	}
	return nil
}

// Families are the metric families of TLS facts, for a kind whose Facts
// are a Carrier.
func Families() []probes.Family {
	return []probes.Family{
		{Name: "probe_ssl_earliest_cert_expiry", Help: "Earliest expiry of the presented certificate chain, in Unix seconds.",
			Samples: func(pf probes.Facts, lp probes.Labels, add func([]*dto.LabelPair, float64)) {
				if t := get(pf); t != nil && !t.EarliestExpiry.IsZero() {
					add(lp.Base, float64(t.EarliestExpiry.Unix()))
				}
			}},
		{Name: "probe_tls_version_info", Help: "TLS version of the last connection.",
			Samples: func(pf probes.Facts, lp probes.Labels, add func([]*dto.LabelPair, float64)) {
				if t := get(pf); t != nil && t.Version != "" {
					add(lp.With("version", t.Version), 1)
				}
			}},
		{Name: "lookout_probe_tls_chain_verified", Help: "Whether the certificate chain of the last connection verified (1) or not (0).",
			Samples: func(pf probes.Facts, lp probes.Labels, add func([]*dto.LabelPair, float64)) {
				if t := get(pf); t != nil {
					v := 0.0
					if t.Verified {
						v = 1
					}
					add(lp.Base, v)
				}
			}},
	}
}

// Report writes the connection's line of `lookout probe NAME`.
func (f *Facts) Report(r *probes.Report) {
	verified := "chain verified"
	if !f.Verified {
		verified = "chain NOT verified: " + f.VerifyError
	}
	version := f.Version
	if version == "" {
		version = "version unknown"
	}
	r.Line("tls", "%s, %s, earliest certificate expiry %s (%s)",
		version, verified, f.EarliestExpiry.UTC().Format(time.RFC3339), untilText(f.EarliestExpiry.Sub(r.Now)))
}

func untilText(d time.Duration) string {
	days := d.Hours() / 24
	if d < 0 {
		return fmt.Sprintf("expired %.1f days ago", -days)
	}
	return fmt.Sprintf("in %.1f days", days)
}
