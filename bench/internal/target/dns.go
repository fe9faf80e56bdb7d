package target

import (
	"fmt"
	"net"

	"github.com/miekg/dns"
)

// DNSName is the name the target's DNS server answers, with one A record
// of 127.0.0.1; every other name is NXDOMAIN.
const DNSName = "bench.lookout.test."

// serveDNS answers DNS over UDP on the port number of the HTTP listener,
// so the one address the child prints serves both. It returns the
// server, to shut down.
func serveDNS(httpAddr net.Addr) (*dns.Server, error) {
	port := httpAddr.(*net.TCPAddr).Port
	pc, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		return nil, fmt.Errorf("target: listen dns: %w", err)
	}
	a := &dns.A{Hdr: dns.RR_Header{Name: DNSName, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 300}, A: net.IPv4(127, 0, 0, 1)}
	srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, q *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(q)
		if len(q.Question) == 1 && q.Question[0].Name == DNSName && q.Question[0].Qtype == dns.TypeA {
			m.Answer = []dns.RR{a}
		} else {
			m.Rcode = dns.RcodeNameError
		}
		_ = w.WriteMsg(m)
	})}
	started := make(chan struct{})
	srv.NotifyStartedFunc = func() { close(started) }
	go func() { _ = srv.ActivateAndServe() }()
	<-started
	return srv, nil
}
