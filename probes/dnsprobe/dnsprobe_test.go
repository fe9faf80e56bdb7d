package dnsprobe_test

import (
	"bytes"
	"crypto/tls"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/lookout-dev/lookout/probes"
	"github.com/lookout-dev/lookout/probes/dnsprobe"
	"github.com/lookout-dev/lookout/probes/internal/probetest"
)

// runner loads one dns probe from YAML (the section's fields).
func runner(t *testing.T, timeout, section string) *probes.Runner {
	t.Helper()
	return probetest.Runner(t, dnsprobe.Kind(), timeout, section)
}

// probe runs a dns probe once, with a 2 s timeout.
func probe(t *testing.T, section string) (probes.Result, *dnsprobe.Facts) {
	t.Helper()
	res := runner(t, "2s", section).Probe(t.Context())
	f, _ := res.Facts.(*dnsprobe.Facts)
	if f == nil {
		t.Fatalf("facts %T; want *dnsprobe.Facts", res.Facts)
	}
	return res, f
}

// serve starts miekg/dns servers on one loopback port for each of nets
// ("udp", "tcp"), with a handler per net, and returns the address.
func serve(t *testing.T, handlers map[string]dns.HandlerFunc) string {
	t.Helper()
	for range 10 { // the UDP port of a free TCP port may be taken
		tl, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := tl.Addr().String()
		ul, err := net.ListenPacket("udp", addr)
		if err != nil {
			tl.Close()
			continue
		}
		if h := handlers["tcp"]; h != nil {
			start(t, &dns.Server{Listener: tl, Handler: h})
		} else {
			tl.Close()
		}
		if h := handlers["udp"]; h != nil {
			start(t, &dns.Server{PacketConn: ul, Handler: h})
		} else {
			ul.Close()
		}
		return addr
	}
	t.Fatal("no loopback port free for both UDP and TCP")
	return ""
}

// start serves srv until the test ends.
func start(t *testing.T, srv *dns.Server) {
	t.Helper()
	started := make(chan struct{})
	srv.NotifyStartedFunc = func() { close(started) }
	done := make(chan error, 1)
	go func() { done <- srv.ActivateAndServe() }()
	select {
	case <-started:
	case err := <-done:
		t.Fatalf("DNS server: %v", err)
	}
	t.Cleanup(func() {
		_ = srv.Shutdown()
		<-done
	})
}

// answer replies to every question with the records of rrs (zone-file
// text, the question's name substituted for @).
func answer(rcode int, rrs ...string) dns.HandlerFunc {
	return func(w dns.ResponseWriter, q *dns.Msg) {
		m := new(dns.Msg)
		m.SetRcode(q, rcode)
		for _, s := range rrs {
			rr, err := dns.NewRR(strings.ReplaceAll(s, "@", q.Question[0].Name))
			if err != nil {
				panic(err)
			}
			m.Answer = append(m.Answer, rr)
		}
		_ = w.WriteMsg(m)
	}
}

// silent is a UDP port that reads queries and never answers.
func silent(t *testing.T) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	go func() {
		buf := make([]byte, 512)
		for {
			if _, _, err := pc.ReadFrom(buf); err != nil {
				return
			}
		}
	}()
	return pc.LocalAddr().String()
}

// port is the port of addr.
func port(addr string) string {
	_, p, _ := net.SplitHostPort(addr)
	return p
}

// closedPort is a loopback port nothing listens on (UDP and TCP).
func closedPort(t *testing.T) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := pc.LocalAddr().String()
	pc.Close()
	return addr
}

func TestDNS(t *testing.T) {
	a := map[string]dns.HandlerFunc{"udp": answer(dns.RcodeSuccess, "@ 300 IN A 192.0.2.1", "@ 300 IN A 192.0.2.2")}
	ok := serve(t, a)
	tcpOnly := serve(t, map[string]dns.HandlerFunc{"tcp": answer(dns.RcodeSuccess, "@ 60 IN A 192.0.2.3")})
	servfail := serve(t, map[string]dns.HandlerFunc{"udp": answer(dns.RcodeServerFailure)})
	nxdomain := serve(t, map[string]dns.HandlerFunc{"udp": answer(dns.RcodeNameError)})
	quiet, closed := silent(t), closedPort(t)
	tests := []struct {
		name, section string
		state         probes.State
		reason        string // in the reason
	}{
		{"answer matches", `{name: api.example.com, server: "` + ok + `", expect: {answers: ['^api\.example\.com\.\s+\d+\s+IN\s+A\s+192\.0\.2\.2$']}}`, probes.Up, ""},
		{"tcp transport", `{name: api.example.com, server: "` + tcpOnly + `", transport: tcp, expect: {answers: ['192\.0\.2\.3$']}}`, probes.Up, ""},
		{"no record matches", `{name: api.example.com, server: "` + ok + `", expect: {answers: ['198\.51\.100\.7']}}`, probes.Down,
			`answers: expected a record matching 198\.51\.100\.7, got none of 2 records: "api.example.com. 300 IN A 192.0.2.1", "api.example.com. 300 IN A 192.0.2.2"`},
		{"empty section", `{name: api.example.com, server: "` + ok + `", expect: {authority: ['NS']}}`, probes.Down,
			"authority: expected a record matching NS, got no records in the authority section"},
		{"servfail", `{name: api.example.com, server: "` + servfail + `"}`, probes.Down,
			"rcode: expected NOERROR, got SERVFAIL (the server failed to resolve the name"},
		{"nxdomain unexpected", `{name: gone.example.com, server: "` + nxdomain + `"}`, probes.Down,
			"rcode: expected NOERROR, got NXDOMAIN (the name does not exist)"},
		{"nxdomain expected", `{name: gone.example.com, server: "` + nxdomain + `", expect: {rcode: NXDOMAIN}}`, probes.Up, ""},
		{"rcode expected but not got", `{name: api.example.com, server: "` + ok + `", expect: {rcode: NXDOMAIN}}`, probes.Down,
			"rcode: expected NXDOMAIN, got NOERROR"},
		{"no answer", `{name: api.example.com, server: "` + quiet + `"}`, probes.Down,
			"query " + quiet + " over udp: timeout: no answer within the probe's timeout"},
		{"refused over udp", `{name: api.example.com, server: "` + closed + `"}`, probes.Down,
			"query " + closed + " over udp: connection refused"},
		{"refused over tcp", `{name: api.example.com, server: "` + closed + `", transport: tcp}`, probes.Down,
			"connect to " + closed + " over tcp: connection refused"},
		{"ip4 server, ip6 asked", `{name: api.example.com, server: "` + ok + `", ip_protocol: ip6}`, probes.Down,
			"server 127.0.0.1 is an IPv4 address, but ip_protocol is ip6"},
		{"server by name", `{name: api.example.com, server: "localhost:` + port(ok) + `", ip_protocol: ip4}`, probes.Up, ""},
		{"assert", `{name: api.example.com, server: "` + ok + `", assert: ['rcode == "NOERROR"', 'answers.size() == 2', 'answers.exists(r, r.endsWith("192.0.2.1"))', 'authority.size() == 0', 'duration < duration("2s")']}`, probes.Up, ""},
		{"assert fails", `{name: api.example.com, server: "` + ok + `", assert: ['answers.size() == 3']}`, probes.Down,
			"assert: expected answers.size() == 3, got answers.size() is 2"},
		{"degraded_if", `{name: api.example.com, server: "` + ok + `", degraded_if: ['answers.size() < 3']}`, probes.Degraded,
			"degraded_if: expected not answers.size() < 3, got answers.size() is 2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, _ := probe(t, tt.section)
			t.Logf("%s: %s", res.State, res.Reason)
			probetest.Want(t, res, tt.state, tt.reason)
		})
	}
}

// TestFacts: what a run tells through its facts, its JSON, its past and
// `lookout probe NAME`.
func TestFacts(t *testing.T) {
	addr := serve(t, map[string]dns.HandlerFunc{"udp": func(w dns.ResponseWriter, q *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(q)
		for _, s := range []string{"example.com. 3600 IN SOA ns1.example.com. hostmaster.example.com. 2026050101 7200 900 1209600 300"} {
			rr, _ := dns.NewRR(s)
			m.Answer = append(m.Answer, rr)
		}
		ns, _ := dns.NewRR("example.com. 3600 IN NS ns1.example.com.")
		glue, _ := dns.NewRR("ns1.example.com. 3600 IN A 192.0.2.53")
		m.Ns, m.Extra = []dns.RR{ns}, []dns.RR{glue}
		_ = w.WriteMsg(m)
	}})
	section := `{name: example.com, type: SOA, server: "` + addr + `", expect: {answers: ['\sSOA\s'], authority: ['NS\s+ns1\.'], additional: ['192\.0\.2\.53$']}}`
	r := runner(t, "2s", section)
	res := r.Probe(t.Context())
	f := res.Facts.(*dnsprobe.Facts)
	if res.State != probes.Up {
		t.Fatalf("state %s, reason %q; want up", res.State, res.Reason)
	}
	if f.Server != addr || f.Transport != "udp" || f.Truncated || !f.Replied || f.RCode != "NOERROR" ||
		f.AnswerRRs != 1 || f.AuthorityRRs != 1 || f.AdditionalRRs != 1 || f.Serial == nil || *f.Serial != 2026050101 ||
		f.Request <= 0 || f.Lookup != 0 || f.TLS != nil {
		t.Errorf("facts %+v", f)
	}
	if len(f.Additional) != 1 || f.Additional[0] != "ns1.example.com.\t3600\tIN\tA\t192.0.2.53" {
		t.Errorf("additional %q; want the record as zone-file text", f.Additional)
	}
	past := f.Past().(*dnsprobe.Facts)
	if past.Answers != nil || past.AnswerRRs != 1 || past.Serial == nil || past.RCode != "NOERROR" {
		t.Errorf("past %+v; want the counts, rcode and serial, no records", past)
	}
	js, err := res.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"rcode":"NOERROR"`, `"serial":2026050101`, `"answer_rrs":1`, `"query_succeeded":true`, `"request_seconds":`, `"server":"` + addr + `"`} {
		if !bytes.Contains(js, []byte(want)) {
			t.Errorf("JSON %s lacks %s", js, want)
		}
	}
	var out bytes.Buffer
	rep := probes.NewReport(&out, time.Now())
	k := dnsprobe.Kind()
	k.ReportTarget(rep, probetest.Config(t, k, "", section))
	k.ReportFacts(rep, res.Facts)
	for _, want := range []string{
		"query:      SOA example.com at " + addr + " over udp",
		"server:     " + addr + " (udp)",
		"reply:      NOERROR, 1 answer, 1 authority, 1 additional",
		"answer:     example.com. 3600 IN SOA ns1.example.com. hostmaster.example.com. 2026050101",
		"authority:  example.com. 3600 IN NS ns1.example.com.",
		"serial:     2026050101",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, out.String())
		}
	}
}

// TestTruncated: a reply truncated over UDP is asked again over TCP, and
// the facts and report say so.
func TestTruncated(t *testing.T) {
	addr := serve(t, map[string]dns.HandlerFunc{
		"udp": func(w dns.ResponseWriter, q *dns.Msg) {
			m := new(dns.Msg)
			m.SetReply(q)
			m.Truncated = true
			_ = w.WriteMsg(m)
		},
		"tcp": answer(dns.RcodeSuccess, `@ 300 IN TXT "only over tcp"`),
	})
	res, f := probe(t, `{name: big.example.com, type: TXT, server: "`+addr+`", expect: {answers: ['only over tcp']}}`)
	if res.State != probes.Up || !f.Truncated || f.AnswerRRs != 1 {
		t.Errorf("state %s %q, facts %+v; want up after a retry over TCP", res.State, res.Reason, f)
	}
	var out bytes.Buffer
	dnsprobe.Kind().ReportFacts(probes.NewReport(&out, time.Now()), f)
	if !strings.Contains(out.String(), "(udp; the UDP reply was truncated, asked again over TCP)") {
		t.Errorf("report does not tell of the truncation:\n%s", out.String())
	}

	// No TCP server: down, saying why TCP was tried.
	udpOnly := serve(t, map[string]dns.HandlerFunc{"udp": func(w dns.ResponseWriter, q *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(q)
		m.Truncated = true
		_ = w.WriteMsg(m)
	}})
	res, _ = probe(t, `{name: big.example.com, server: "`+udpOnly+`"}`)
	if want := "the UDP reply was truncated, and over TCP: connect to " + udpOnly + " over tcp: connection refused"; res.State != probes.Down || res.Reason != want {
		t.Errorf("state %s %q; want down, %q", res.State, res.Reason, want)
	}
}

// TestDoT: DNS over TLS with the kind's TLS settings: verified against
// ca_file, an unknown CA fails the handshake with the reason and still
// tells the certificate's expiry, and insecure_skip_verify says the chain
// did not verify.
func TestDoT(t *testing.T) {
	cert := probetest.SelfSigned(t)
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert.TLS}})
	if err != nil {
		t.Fatal(err)
	}
	start(t, &dns.Server{Listener: ln, Net: "tcp-tls", Handler: answer(dns.RcodeSuccess, "@ 300 IN A 192.0.2.9")})
	addr := ln.Addr().String()

	res, f := probe(t, `{name: dot.example.com, server: "`+addr+`", transport: tls, tls: {ca_file: "`+cert.File+`"}, expect: {answers: ['192\.0\.2\.9$']}}`)
	if res.State != probes.Up || f.TLS == nil || !f.TLS.Verified || f.TLS.Version != "TLS 1.3" || f.TLS.EarliestExpiry.IsZero() {
		t.Errorf("ca_file: %s %q, TLS facts %+v; want up, a verified chain over TLS 1.3", res.State, res.Reason, f.TLS)
	}
	res, f = probe(t, `{name: dot.example.com, server: "`+addr+`", transport: tls}`)
	if res.State != probes.Down || !strings.HasPrefix(res.Reason, "TLS handshake with "+addr+": ") || !strings.Contains(res.Reason, "unknown authority") ||
		f.TLS == nil || f.TLS.EarliestExpiry.IsZero() {
		t.Errorf("unknown CA: %s %q, TLS facts %+v; want down naming the unknown authority, with the expiry", res.State, res.Reason, f.TLS)
	}
	res, f = probe(t, `{name: dot.example.com, server: "`+addr+`", transport: tls, tls: {insecure_skip_verify: true}}`)
	if res.State != probes.Up || f.TLS == nil || f.TLS.Verified || f.TLS.VerifyError == "" {
		t.Errorf("insecure_skip_verify: %s %q, TLS facts %+v; want up, the chain not verified", res.State, res.Reason, f.TLS)
	}
}

// TestMetrics: a DNS probe's families reach /metrics under
// blackbox_exporter's names; a query without a reply has no counts.
func TestMetrics(t *testing.T) {
	addr := serve(t, map[string]dns.HandlerFunc{"udp": answer(dns.RcodeSuccess, "@ 300 IN SOA ns1.example.com. hostmaster.example.com. 7 7200 900 1209600 300")})
	gather := func(r *probes.Runner) map[string]float64 {
		t.Helper()
		return probetest.Gauges(t, probes.Kinds{dnsprobe.Kind()}, r, "phase")
	}
	r := runner(t, "2s", `{name: example.com, type: SOA, server: "`+addr+`"}`)
	r.Probe(t.Context())
	got := gather(r)
	want := map[string]float64{"probe_success": 1, "probe_dns_query_succeeded": 1, "probe_dns_answer_rrs": 1, "probe_dns_authority_rrs": 0,
		"probe_dns_additional_rrs": 0, "probe_dns_serial": 7, "probe_dns_lookup_time_seconds": 0, "probe_dns_duration_seconds{resolve}": 0}
	for name, v := range want {
		if g, ok := got[name]; !ok || g != v {
			t.Errorf("%s = %v (present %v); want %v", name, g, ok, v)
		}
	}
	if got["probe_dns_duration_seconds{connect}"] <= 0 || got["probe_dns_duration_seconds{request}"] <= 0 {
		t.Errorf("connect and request phases %v; want both above 0", got)
	}
	if _, ok := got["probe_ssl_earliest_cert_expiry"]; ok {
		t.Error("a TLS family for a DNS probe over UDP")
	}

	r = runner(t, "300ms", `{name: example.com, server: "`+silent(t)+`"}`)
	r.Probe(t.Context())
	got = gather(r)
	if got["probe_success"] != 0 || got["probe_dns_query_succeeded"] != 0 {
		t.Errorf("no reply: %v; want probe_success and probe_dns_query_succeeded 0", got)
	}
	for _, name := range []string{"probe_dns_answer_rrs", "probe_dns_serial"} {
		if _, ok := got[name]; ok {
			t.Errorf("no reply, yet %s", name)
		}
	}
}
