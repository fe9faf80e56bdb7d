// Package dnsprobe is the DNS probe (probes[].dns): one query to a server
// over UDP, TCP or DNS over TLS within the probe's deadline, its response
// code and the records of each section checked, as blackbox_exporter's dns
// prober does. A truncated UDP reply is asked again over TCP, and the
// facts say so. Records are matched and exposed as zone-file text.
package dnsprobe

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net"
	"time"

	"github.com/miekg/dns"

	"github.com/lookout-dev/lookout/config"
	"github.com/lookout-dev/lookout/probes"
	"github.com/lookout-dev/lookout/probes/internal/netaddr"
	"github.com/lookout-dev/lookout/probes/internal/tlsinfo"
)

// resolvConf is where the system resolver is read when no server is set.
const resolvConf = "/etc/resolv.conf"

// Prober sends one DNS query.
type Prober struct {
	cfg   *config.DNS
	qname string // fully qualified; a PTR probe's IP address as its reverse name
	qtype uint16
	tls   *tls.Config // transport tls only
}

var _ probes.Prober = (*Prober)(nil)

// New builds the prober of cfg.
func New(cfg *config.DNS) (*Prober, error) {
	p := &Prober{cfg: cfg, qname: dns.Fqdn(cfg.Name), qtype: dns.StringToType[string(cfg.Type)]}
	if p.qtype == 0 {
		return nil, fmt.Errorf("dnsprobe: unknown record type %q", cfg.Type)
	}
	if p.qtype == dns.TypePTR {
		if arpa, err := dns.ReverseAddr(cfg.Name); err == nil {
			p.qname = arpa
		}
	}
	if cfg.Transport == "tls" {
		tc, err := tlsinfo.ClientConfig(cfg.TLS)
		if err != nil {
			return nil, fmt.Errorf("dnsprobe: %w", err)
		}
		p.tls = tc
	}
	return p, nil
}

// Facts are what a DNS run found.
type Facts struct {
	// Server is the address asked (an IP address and port), once known.
	Server string `json:"server,omitempty"`
	// Transport is the configured one: udp, tcp or tls.
	Transport string `json:"transport"`
	// Truncated is whether the UDP reply came truncated, so the query
	// was sent again over TCP.
	Truncated bool `json:"truncated,omitempty"`
	// Lookup is how long resolving the server's host name took (zero for
	// an IP address); Connect the connects (and TLS handshake); Request
	// the exchanges of query and reply, over TCP too after truncation.
	Lookup  time.Duration `json:"-"`
	Connect time.Duration `json:"-"`
	Request time.Duration `json:"-"`
	// Replied is whether a reply came, whatever its response code.
	Replied bool   `json:"query_succeeded"`
	RCode   string `json:"rcode,omitempty"`
	// The records of each section, as RR.String writes them.
	Answers    []string `json:"answers,omitempty"`
	Authority  []string `json:"authority,omitempty"`
	Additional []string `json:"additional,omitempty"`
	// The counts of each section, kept when the records are not.
	AnswerRRs     int `json:"answer_rrs"`
	AuthorityRRs  int `json:"authority_rrs"`
	AdditionalRRs int `json:"additional_rrs"`
	// Serial is the serial of an SOA record of the answer, or nil.
	Serial *uint32        `json:"serial,omitempty"`
	TLS    *tlsinfo.Facts `json:"tls,omitempty"`
}

// TLSFacts are the run's TLS connection (DNS over TLS), or nil.
func (f *Facts) TLSFacts() *tlsinfo.Facts { return f.TLS }

var _ tlsinfo.Carrier = (*Facts)(nil)

// Past keeps the timings, the response code, the counts and the serial,
// not the records.
func (f *Facts) Past() probes.Facts {
	p := *f
	p.Answers, p.Authority, p.Additional = nil, nil, nil
	return &p
}

// MarshalJSON adds the timings in seconds.
func (f *Facts) MarshalJSON() ([]byte, error) {
	type plain Facts
	return json.Marshal(struct {
		*plain
		LookupSeconds  float64 `json:"lookup_seconds"`
		ConnectSeconds float64 `json:"connect_seconds"`
		RequestSeconds float64 `json:"request_seconds"`
	}{(*plain)(f), f.Lookup.Seconds(), f.Connect.Seconds(), f.Request.Seconds()})
}

// Probe sends the query, once more over TCP when the UDP reply is
// truncated, and checks the reply.
func (p *Prober) Probe(ctx context.Context) probes.Result {
	start := time.Now()
	f := &Facts{Transport: string(p.cfg.Transport)}
	res := probes.Result{Start: start, State: probes.Down, Facts: f}
	defer func() { res.Duration = time.Since(start) }()
	server, host, err := p.server()
	if err != nil {
		res.Reason = err.Error()
		return res
	}
	if f.Server, err = p.resolve(ctx, f, server); err != nil {
		res.Reason = err.Error()
		return res
	}
	q := new(dns.Msg)
	q.SetQuestion(p.qname, p.qtype)
	q.RecursionDesired = *p.cfg.Recursion
	reply, err := p.exchange(ctx, f, p.cfg.Transport, host, q)
	if err == nil && reply.Truncated && p.cfg.Transport == "udp" {
		f.Truncated = true
		reply, err = p.exchange(ctx, f, "tcp", host, q)
		if err != nil {
			err = fmt.Errorf("the UDP reply was truncated, and over TCP: %w", err)
		}
	}
	if err != nil {
		res.Reason = err.Error()
		return res
	}
	f.record(reply)
	res.Duration = time.Since(start)
	res.Checks = p.checks(&res, f)
	res.State, res.Reason = probes.Verdict(res.Checks)
	return res
}

// server is the configured server, or the first nameserver of the
// system's resolv.conf (port 853 for DNS over TLS), and its host.
func (p *Prober) server() (addr, host string, err error) {
	if p.cfg.Server != "" {
		host, _, _ = net.SplitHostPort(p.cfg.Server)
		return p.cfg.Server, host, nil
	}
	cc, err := dns.ClientConfigFromFile(resolvConf)
	if err != nil {
		return "", "", fmt.Errorf("no server set, and the system resolver is unknown: %w", err)
	}
	if len(cc.Servers) == 0 {
		return "", "", fmt.Errorf("no server set, and %s names no nameserver; set server", resolvConf)
	}
	port := cc.Port
	if p.cfg.Transport == "tls" {
		port = "853"
	}
	return net.JoinHostPort(cc.Servers[0], port), cc.Servers[0], nil
}

// record keeps what the reply holds.
func (f *Facts) record(m *dns.Msg) {
	f.Replied = true
	f.RCode = rcodeName(m.Rcode)
	f.Answers, f.Authority, f.Additional = texts(m.Answer), texts(m.Ns), texts(m.Extra)
	f.AnswerRRs, f.AuthorityRRs, f.AdditionalRRs = len(m.Answer), len(m.Ns), len(m.Extra)
	for _, rr := range m.Answer {
		if soa, ok := rr.(*dns.SOA); ok {
			f.Serial = &soa.Serial
			break
		}
	}
}

func texts(rrs []dns.RR) []string {
	out := make([]string, len(rrs))
	for i, rr := range rrs {
		out[i] = rr.String()
	}
	return out
}

func rcodeName(rc int) string {
	if s, ok := dns.RcodeToString[rc]; ok {
		return s
	}
	return fmt.Sprintf("RCODE%d", rc)
}

// network is the dial network of a transport over an ip_protocol: udp4,
// tcp6, …; DNS over TLS dials TCP.
func network(transport config.DNSTransport, ip config.IPProtocol) string {
	if transport == "udp" {
		return netaddr.Network("udp", ip)
	}
	return netaddr.Network("tcp", ip)
}

// resolve returns addr with its host resolved to an IP address of the
// probe's ip_protocol.
func (p *Prober) resolve(ctx context.Context, f *Facts, addr string) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("server %q: %w", addr, err)
	}
	server := "server " + host
	h, err := netaddr.Resolve(ctx, net.DefaultResolver, p.cfg.IPProtocol, host, netaddr.Wording{Literal: server, Lookup: server, Reason: reason})
	f.Lookup = h.Lookup
	switch {
	case err != nil:
		return "", err
	case !h.Named:
		return addr, nil
	}
	return net.JoinHostPort(h.IP.String(), port), nil
}
