package dnsprobe_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/lookout-dev/lookout/probes"
	"github.com/lookout-dev/lookout/probes/internal/probetest"
)

// bigTXT is a TXT string; four of them do not fit a 512-byte UDP reply.
var bigTXT = strings.Repeat("lookout-", 25)

// dnsmasq starts Debian's dnsmasq on a free loopback port, authoritative
// for lookout.test (and the reverse zones of 192.0.2.0/24 and
// 2001:db8::/32) with a record of
// each type, and returns its address. Without dnsmasq the test skips,
// unless LOOKOUT_DNS_TESTS=1 (.ci/test), where it fails.
func dnsmasq(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("dnsmasq")
	if err != nil {
		bin = "/usr/sbin/dnsmasq" // not on a user's PATH
		if _, err := os.Stat(bin); err != nil {
			if os.Getenv("LOOKOUT_DNS_TESTS") == "1" {
				t.Fatal("LOOKOUT_DNS_TESTS=1 but dnsmasq is not installed: apt-get install dnsmasq-base (.ci/test does)")
			}
			t.Skip("dnsmasq is not installed (apt-get install dnsmasq-base); LOOKOUT_DNS_TESTS=1 makes this a failure")
		}
	}
	dir := t.TempDir()
	for attempt := range 5 {
		addr := freePort(t)
		_, port, _ := net.SplitHostPort(addr)
		args := []string{
			"--no-daemon", "--conf-file=/dev/null", "--no-resolv", "--no-hosts", "--no-poll",
			"--port=" + port, "--listen-address=127.0.0.1", "--bind-interfaces",
			"--pid-file=" + filepath.Join(dir, "dnsmasq.pid"), "--dhcp-leasefile=" + filepath.Join(dir, "dnsmasq.leases"),
			"--auth-server=ns.lookout.test,127.0.0.1", "--auth-zone=lookout.test,192.0.2.0/24,2001:db8::/32",
			"--auth-soa=2026011501,hostmaster.lookout.test",
			"--host-record=api.lookout.test,192.0.2.10,2001:db8::10",
			"--cname=www.lookout.test,api.lookout.test",
			"--mx-host=lookout.test,mail.lookout.test,10",
			"--srv-host=_http._tcp.lookout.test,api.lookout.test,8080,0,5",
			"--txt-record=lookout.test,v=spf1 -all",
		}
		for i := range 4 {
			args = append(args, fmt.Sprintf("--txt-record=big.lookout.test,%d-%s", i, bigTXT))
		}
		logFile := filepath.Join(dir, fmt.Sprintf("dnsmasq-%d.log", attempt))
		log, err := os.Create(logFile)
		if err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(bin, args...)
		cmd.Stdout, cmd.Stderr = log, log
		if err := cmd.Start(); err != nil {
			t.Fatalf("start dnsmasq: %v", err)
		}
		log.Close()
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		if err := awaitDNS(addr, exited); err == nil {
			t.Cleanup(func() {
				_ = cmd.Process.Kill()
				<-exited
			})
			return addr
		} else if !errors.Is(err, errExited) {
			_ = cmd.Process.Kill()
			<-exited
			out, _ := os.ReadFile(logFile)
			t.Fatalf("dnsmasq on %s: %v; its log:\n%s", addr, err, out)
		}
		// Exited: most likely the port was taken meanwhile; another one.
		out, _ := os.ReadFile(logFile)
		t.Logf("dnsmasq on %s exited:\n%s", addr, out)
	}
	t.Fatal("dnsmasq did not start in 5 attempts")
	return ""
}

var errExited = errors.New("dnsmasq exited")

// awaitDNS waits up to 5 s for addr to answer the zone's SOA over UDP
// and TCP.
func awaitDNS(addr string, exited <-chan error) error {
	q := new(dns.Msg)
	q.SetQuestion("lookout.test.", dns.TypeSOA)
	deadline := time.Now().Add(5 * time.Second)
	var err error
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return errExited
		default:
		}
		ok := 0
		for _, n := range []string{"udp", "tcp"} {
			ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
			var r *dns.Msg
			r, _, err = (&dns.Client{Net: n}).ExchangeContext(ctx, q, addr)
			cancel()
			if err == nil && r.Rcode == dns.RcodeSuccess {
				ok++
			}
		}
		if ok == 2 {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("no answer within 5 s: %v", err)
}

// freePort is a loopback address whose port is free for UDP and TCP.
func freePort(t *testing.T) string {
	t.Helper()
	for range 10 {
		tl, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := tl.Addr().String()
		ul, err := net.ListenPacket("udp", addr)
		tl.Close()
		if err == nil {
			ul.Close()
			return addr
		}
	}
	t.Fatal("no loopback port free for both UDP and TCP")
	return ""
}

// TestDnsmasq probes a real DNS server: each record type over UDP and
// TCP, the sections an authoritative server fills, NXDOMAIN, REFUSED,
// and a reply too big for UDP asked again over TCP.
func TestDnsmasq(t *testing.T) {
	addr := dnsmasq(t)
	srv := `server: "` + addr + `"`
	tests := []struct {
		name, section string
		state         probes.State
		reason        string // in the reason
	}{
		{"A", `{name: api.lookout.test, ` + srv + `, expect: {answers: ['^api\.lookout\.test\.\s+\d+\s+IN\s+A\s+192\.0\.2\.10$'], authority: ['^lookout\.test\.\s+\d+\s+IN\s+NS\s+ns\.lookout\.test\.$']}}`, probes.Up, ""},
		{"AAAA over tcp", `{name: api.lookout.test, type: AAAA, transport: tcp, ` + srv + `, expect: {answers: ['\sAAAA\s+2001:db8::10$']}}`, probes.Up, ""},
		{"CNAME", `{name: www.lookout.test, type: CNAME, ` + srv + `, expect: {answers: ['\sCNAME\s+api\.lookout\.test\.$']}}`, probes.Up, ""},
		{"A through a CNAME", `{name: www.lookout.test, ` + srv + `, assert: ['answers.size() == 2', 'answers.exists(r, r.contains("192.0.2.10"))']}`, probes.Up, ""},
		{"MX", `{name: lookout.test, type: MX, ` + srv + `, expect: {answers: ['\sMX\s+10 mail\.lookout\.test\.$']}}`, probes.Up, ""},
		{"TXT", `{name: lookout.test, type: TXT, ` + srv + `, expect: {answers: ['"v=spf1 -all"']}}`, probes.Up, ""},
		{"SRV", `{name: _http._tcp.lookout.test, type: SRV, ` + srv + `, expect: {answers: ['\sSRV\s+0 5 8080 api\.lookout\.test\.$']}}`, probes.Up, ""},
		{"NS", `{name: lookout.test, type: NS, ` + srv + `, expect: {answers: ['NS\s+ns\.lookout\.test\.$']}}`, probes.Up, ""},
		{"SOA", `{name: lookout.test, type: SOA, ` + srv + `, expect: {answers: ['hostmaster\.lookout\.test\. 2026011501 ']}}`, probes.Up, ""},
		{"PTR of an IP address", `{name: 192.0.2.10, type: PTR, ` + srv + `, expect: {answers: ['^10\.2\.0\.192\.in-addr\.arpa\.\s.*PTR\s+api\.lookout\.test\.$']}}`, probes.Up, ""},
		{"wrong address", `{name: api.lookout.test, ` + srv + `, expect: {answers: ['192\.0\.2\.99']}}`, probes.Down,
			`answers: expected a record matching 192\.0\.2\.99, got none of 1 record: "api.lookout.test. 600 IN A 192.0.2.10"`},
		{"NXDOMAIN expected", `{name: gone.lookout.test, ` + srv + `, expect: {rcode: NXDOMAIN, authority: ['\sSOA\s']}, assert: ['rcode == "NXDOMAIN"', 'answers.size() == 0']}`, probes.Up, ""},
		{"NXDOMAIN", `{name: gone.lookout.test, ` + srv + `}`, probes.Down, "rcode: expected NOERROR, got NXDOMAIN (the name does not exist)"},
		{"outside the zone", `{name: example.com, ` + srv + `}`, probes.Down, "rcode: expected NOERROR, got REFUSED (the server will not answer this query from this client)"},
		{"degraded_if on the TTL", `{name: api.lookout.test, ` + srv + `, degraded_if: ['answers.exists(r, r.contains("\t600\t"))']}`, probes.Degraded, `degraded_if: expected not answers.exists(r, r.contains("\t600\t"))`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, _ := probe(t, tt.section)
			t.Logf("%s: %s", res.State, res.Reason)
			probetest.Want(t, res, tt.state, tt.reason)
		})
	}

	t.Run("too big for UDP", func(t *testing.T) {
		res, f := probe(t, `{name: big.lookout.test, type: TXT, `+srv+`, assert: ['answers.size() == 4'], expect: {answers: ['"3-`+bigTXT+`"$']}}`)
		if res.State != probes.Up || !f.Truncated || f.AnswerRRs != 4 {
			t.Errorf("state %s %q, truncated %v, %d answers; want up after asking again over TCP, with 4 answers", res.State, res.Reason, f.Truncated, f.AnswerRRs)
		}
	})
	t.Run("serial", func(t *testing.T) {
		_, f := probe(t, `{name: lookout.test, type: SOA, `+srv+`}`)
		if f.Serial == nil || *f.Serial != 2026011501 {
			t.Errorf("serial %v; want 2026011501", f.Serial)
		}
	})
}
