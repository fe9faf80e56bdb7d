package config

import (
	"fmt"
	"slices"
	"strings"
)

// DNS sends one query and checks the reply (probes[].dns).
type DNS struct {
	Name string  `yaml:"name"`
	Type DNSType `yaml:"type"` // default A
	// Server is host:port; empty means the system's resolver (the first
	// nameserver of /etc/resolv.conf).
	Server     string       `yaml:"server"`
	Transport  DNSTransport `yaml:"transport"`         // default udp
	Recursion  *bool        `yaml:"recursion_desired"` // default true
	IPProtocol IPProtocol   `yaml:"ip_protocol"`
	TLS        TLS          `yaml:"tls"` // for transport: tls
	Expect     DNSExpect    `yaml:"expect"`
	Assert     []Expr       `yaml:"assert"`
	DegradedIf []Expr       `yaml:"degraded_if"`
}

// DNSExpect holds the plain checks of a DNS reply. Each regular expression
// of a section must match at least one of its records, written as in a
// zone file ("api.example.com.\t300\tIN\tA\t192.0.2.1").
type DNSExpect struct {
	RCode      string   `yaml:"rcode"` // default NOERROR
	Answers    []Regexp `yaml:"answers"`
	Authority  []Regexp `yaml:"authority"`
	Additional []Regexp `yaml:"additional"`
}

// DNSType is a DNS record type the dns kind asks for.
type DNSType string

// DNSTypes are the record types a dns probe may ask for.
var DNSTypes = []string{"A", "AAAA", "CNAME", "MX", "TXT", "NS", "SRV", "SOA", "PTR", "CAA"}

func (t *DNSType) parseScalar(s string) error {
	u := strings.ToUpper(s)
	if !slices.Contains(DNSTypes, u) {
		return fmt.Errorf("%q is not a record type the dns probe asks for; want one of %s", s, strings.Join(DNSTypes, ", "))
	}
	*t = DNSType(u)
	return nil
}

// DNSTransport is how a DNS query travels: udp, tcp or tls (DNS over TLS).
type DNSTransport string

func (t *DNSTransport) parseScalar(s string) error {
	switch s {
	case "udp", "tcp", "tls":
		*t = DNSTransport(s)
		return nil
	}
	return fmt.Errorf("%q is not a DNS transport; want udp, tcp or tls", s)
}

// DNSRCodes are the response codes expect.rcode may name.
var DNSRCodes = []string{"NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED", "YXDOMAIN", "YXRRSET", "NXRRSET", "NOTAUTH", "NOTZONE"}

func (q *DNS) check(d *decoder, x exprs, path string) {
	if q.Name == "" {
		d.errorAt(path+".name", "missing; want the name to look up, like api.example.com")
	}
	if q.Type == "" {
		q.Type = "A"
	}
	if q.Transport == "" {
		q.Transport = "udp"
	}
	if q.Server != "" {
		checkAddress(d, path+".server", q.Server, "1.1.1.1:53")
	}
	if q.Recursion == nil {
		yes := true
		q.Recursion = &yes
	}
	if q.IPProtocol == "" {
		q.IPProtocol = IPAny
	}
	if q.Transport == "tls" {
		q.TLS.check(d, path+".tls")
	} else if d.has(path + ".tls") {
		d.errorAt(path+".tls", "set, but transport is %s; want transport: tls for DNS over TLS", q.Transport)
	}
	rc := strings.ToUpper(q.Expect.RCode)
	switch {
	case rc == "":
		q.Expect.RCode = "NOERROR"
	case !slices.Contains(DNSRCodes, rc):
		d.errorAt(path+".expect.rcode", "%q is not a DNS response code; want one of %s", q.Expect.RCode, strings.Join(DNSRCodes, ", "))
	default:
		q.Expect.RCode = rc
	}
	x.compile(d, path, q.Assert, q.DegradedIf)
}
