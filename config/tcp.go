package config

import (
	"fmt"
	"net"
	"reflect"
	"strconv"
)

// TCP connects to an address and, optionally, speaks TLS, sends bytes
// and matches the first bytes read (probes[].tcp).
type TCP struct {
	Address    string     `yaml:"address"`
	TLS        ClientTLS  `yaml:"tls"`
	Send       string     `yaml:"send"`
	Expect     *Regexp    `yaml:"expect"`
	IPProtocol IPProtocol `yaml:"ip_protocol"`
	Assert     []Expr     `yaml:"assert"`
	DegradedIf []Expr     `yaml:"degraded_if"`
}

// ClientTLS is `tls:` of a kind that may speak TLS after connecting: false
// (the default), true, or the client TLS settings, which mean true.
type ClientTLS struct {
	Enabled bool
	TLS
}

func (c *ClientTLS) parseScalar(s string) error {
	b, err := strconv.ParseBool(s)
	if err != nil {
		return fmt.Errorf("%q is not true, false or TLS settings; want tls: true, or tls: {server_name: …, ca_file: …}", s)
	}
	c.Enabled = b
	return nil
}

// mapping decodes `tls: {…}` into the settings, which turns TLS on.
func (c *ClientTLS) mapping() reflect.Value {
	c.Enabled = true
	return reflect.ValueOf(&c.TLS).Elem()
}

// checkAddress checks a host:port with a port, for path.
func checkAddress(d *decoder, path, addr, example string) {
	if addr == "" {
		d.errorAt(path, "missing; want host:port, like %s", example)
		return
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil || host == "" {
		d.errorAt(path, "%q is not host:port; want an address like %s", addr, example)
		return
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		d.errorAt(path, "%q has no valid port (%q); want 1 to 65535", addr, port)
	}
}

func (t *TCP) check(d *decoder, x exprs, path string) {
	checkAddress(d, path+".address", t.Address, "db.internal:27017")
	if t.TLS.Enabled {
		t.TLS.TLS.check(d, path+".tls")
	}
	if t.IPProtocol == "" {
		t.IPProtocol = IPAny
	}
	if t.Expect != nil && (t.Expect.Regexp == nil || t.Expect.String() == "") {
		t.Expect = nil // expect: "" reads nothing (an invalid one is reported)
	}
	x.compile(d, path, t.Assert, t.DegradedIf)
}
