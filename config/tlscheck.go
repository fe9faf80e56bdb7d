package config

import (
	"crypto/tls"
	"fmt"
)

// TLSCheck connects and checks the certificate a server presents: its
// chain, names, version and expiry (probes[].tls).
type TLSCheck struct {
	Address    string     `yaml:"address"`
	ServerName string     `yaml:"server_name"`
	MinVersion TLSVersion `yaml:"min_version"`
	// ExpiresWithin makes the probe down when the earliest certificate of
	// the chain expires sooner than this; 0 checks only that it has not.
	ExpiresWithin      Duration   `yaml:"expires_within"`
	CAFile             string     `yaml:"ca_file"`
	CertFile           string     `yaml:"cert_file"`
	KeyFile            string     `yaml:"key_file"`
	InsecureSkipVerify bool       `yaml:"insecure_skip_verify"`
	IPProtocol         IPProtocol `yaml:"ip_protocol"`
	Assert             []Expr     `yaml:"assert"`
	DegradedIf         []Expr     `yaml:"degraded_if"`
}

// Client is the check's client TLS settings.
func (t *TLSCheck) Client() TLS {
	return TLS{CAFile: t.CAFile, CertFile: t.CertFile, KeyFile: t.KeyFile, InsecureSkipVerify: t.InsecureSkipVerify, ServerName: t.ServerName}
}

// TLSVersion is a TLS version written as "1.0" to "1.3".
type TLSVersion uint16

var tlsVersions = map[string]uint16{"1.0": tls.VersionTLS10, "1.1": tls.VersionTLS11, "1.2": tls.VersionTLS12, "1.3": tls.VersionTLS13}

func (v *TLSVersion) parseScalar(s string) error {
	n, ok := tlsVersions[s]
	if !ok {
		return fmt.Errorf("%q is not a TLS version; want one of 1.0, 1.1, 1.2, 1.3", s)
	}
	*v = TLSVersion(n)
	return nil
}

func (t *TLSCheck) check(d *decoder, x exprs, path string) {
	checkAddress(d, path+".address", t.Address, "api.example.com:443")
	c := t.Client()
	c.check(d, path)
	if t.IPProtocol == "" {
		t.IPProtocol = IPAny
	}
	x.compile(d, path, t.Assert, t.DegradedIf)
}
