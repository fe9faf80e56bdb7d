package icmpprobe_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/lookout-dev/lookout/config"
	"github.com/lookout-dev/lookout/probes"
	"github.com/lookout-dev/lookout/probes/icmpprobe"
	"github.com/lookout-dev/lookout/probes/internal/probetest"
)

// load reads one icmp probe from YAML (the section's fields).
func load(t *testing.T, timeout, section string) config.Probe {
	t.Helper()
	return probetest.Config(t, icmpprobe.Kind(), timeout, section)
}

// runner builds the runner of one icmp probe.
func runner(t *testing.T, timeout, section string) *probes.Runner {
	t.Helper()
	return probetest.Runner(t, icmpprobe.Kind(), timeout, section)
}

// probe runs an icmp probe once with a 2 s timeout. It skips the test
// when this process may open neither kind of ICMP socket.
func probe(t *testing.T, section string) (probes.Result, *icmpprobe.Facts) {
	t.Helper()
	res := runner(t, "2s", section).Probe(t.Context())
	return res, factsOf(t, res)
}

func factsOf(t *testing.T, res probes.Result) *icmpprobe.Facts {
	t.Helper()
	if strings.HasPrefix(res.Reason, "cannot open an ICMP socket") {
		t.Skipf("no ICMP socket for this process, so no ping can be tested: %s", res.Reason)
	}
	f, _ := res.Facts.(*icmpprobe.Facts)
	if f == nil {
		t.Fatalf("facts %T; want *icmpprobe.Facts", res.Facts)
	}
	return f
}

func TestICMP(t *testing.T) {
	tests := []struct {
		name, section string
		state         probes.State
		reason        string // in the reason
	}{
		{"loopback", `{host: 127.0.0.1, count: 3}`, probes.Up, ""},
		{"by name", `{host: localhost, ip_protocol: ip4}`, probes.Up, ""},
		{"assert", `{host: 127.0.0.1, count: 3, assert: ['sent == 3', 'received == 3', 'loss == 0.0', 'rtt.avg < duration("1s")', 'rtt.min <= rtt.max', 'rtt.stddev >= duration("0s")', 'duration < duration("2s")']}`, probes.Up, ""},
		{"assert fails", `{host: 127.0.0.1, assert: ['rtt.max < duration("1ns")']}`, probes.Down,
			`assert: expected rtt.max < duration("1ns"), got rtt.max is `},
		{"degraded_if", `{host: 127.0.0.1, count: 2, degraded_if: ['received < 3']}`, probes.Degraded,
			"degraded_if: expected not received < 3, got received is 2"},
		{"degraded_if not met", `{host: 127.0.0.1, count: 2, degraded_if: ['loss > 0.2', 'rtt.avg > duration("1s")']}`, probes.Up, ""},
		{"ip6 address, ip4 asked", `{host: "::1", ip_protocol: ip4}`, probes.Down,
			"host ::1 is an IPv6 address, but ip_protocol is ip4"},
		{"ip4 address, ip6 asked", `{host: 127.0.0.1, ip_protocol: ip6}`, probes.Down,
			"host 127.0.0.1 is an IPv4 address, but ip_protocol is ip6"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, _ := probe(t, tt.section)
			t.Logf("%s: %s", res.State, res.Reason)
			probetest.Want(t, res, tt.state, tt.reason)
		})
	}
}

// TestFacts: what three echo requests to 127.0.0.1 tell through the
// facts, the JSON, the past and `lookout probe NAME`.
func TestFacts(t *testing.T) {
	section := `{host: 127.0.0.1, count: 3, payload_size: 56}`
	res, f := probe(t, section)
	if res.State != probes.Up {
		t.Fatalf("state %s, reason %q; want up", res.State, res.Reason)
	}
	if f.Host != "127.0.0.1" || f.Address != "127.0.0.1" || f.Count != 3 || f.Sent != 3 || f.Received != 3 || f.Loss() != 0 || f.Payload != 56 ||
		f.Resolve != 0 || f.Setup <= 0 || f.RTT.Min <= 0 || f.RTT.Min > f.RTT.Avg || f.RTT.Avg > f.RTT.Max || f.RTT.StdDev < 0 {
		t.Errorf("facts %+v; want 3 of 3 replies with their round trips", f)
	}
	if f.Socket != icmpprobe.Datagram && f.Socket != icmpprobe.Raw {
		t.Errorf("socket %v; want datagram or raw", f.Socket)
	}
	if os.Geteuid() == 0 && f.Socket == icmpprobe.Raw && f.HopLimit <= 0 {
		t.Errorf("hop limit %d; want the TTL of the last reply", f.HopLimit)
	}
	if p := f.Past().(*icmpprobe.Facts); *p != *f {
		t.Errorf("past %+v; want all of %+v", p, f)
	}
	js, err := res.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"host":"127.0.0.1"`, `"address":"127.0.0.1"`, `"socket":"` + f.Socket.String() + `"`, `"sent":3`, `"received":3`, `"loss":0`, `"rtt_seconds":{"min":`, `"setup_seconds":`} {
		if !bytes.Contains(js, []byte(want)) {
			t.Errorf("JSON %s lacks %s", js, want)
		}
	}
	var out bytes.Buffer
	rep := probes.NewReport(&out, time.Now())
	k := icmpprobe.Kind()
	k.ReportTarget(rep, load(t, "2s", section))
	k.ReportFacts(rep, res.Facts)
	socket := "raw (root or CAP_NET_RAW)"
	if f.Socket == icmpprobe.Datagram {
		socket = "datagram (unprivileged, allowed by net.ipv4.ping_group_range)"
	}
	for _, want := range []string{
		"target:     ping 127.0.0.1, 3 echo requests of 56 bytes",
		"socket:     " + socket,
		"packets:    3 sent, 3 received, 0% loss",
		"rtt:        min ",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, out.String())
		}
	}
	if strings.Contains(out.String(), "address:") {
		t.Errorf("report tells the address of an IP address:\n%s", out.String())
	}
	t.Logf("report:\n%s", out.String())

	// A name: the address it resolved to, and how long that took.
	res, f = probe(t, `{host: localhost, ip_protocol: ip4}`)
	out.Reset()
	k.ReportFacts(probes.NewReport(&out, time.Now()), res.Facts)
	if f.Address != "127.0.0.1" || f.Resolve <= 0 || !strings.Contains(out.String(), "address:    127.0.0.1 (resolved in ") {
		t.Errorf("localhost: address %q, resolve %s, report:\n%s", f.Address, f.Resolve, out.String())
	}
}

// TestIPv6 pings ::1, when this machine has an IPv6 loopback.
func TestIPv6(t *testing.T) {
	ln, err := net.ListenPacket("udp6", "[::1]:0")
	if err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	}
	ln.Close()
	res, f := probe(t, `{host: "::1", count: 2, ip_protocol: ip6, assert: ['received == 2']}`)
	if res.State != probes.Up || f.Address != "::1" || f.Sent != 2 || f.Received != 2 {
		t.Errorf("state %s %q, facts %+v; want up, 2 replies from ::1", res.State, res.Reason, f)
	}
}

// TestUnknownHost: a name no DNS server knows, and one no server
// answers for, are down naming the host; the lookups go to DNS servers on
// 127.0.0.1.
func TestUnknownHost(t *testing.T) {
	nx := dnsServer(t, func(w dns.ResponseWriter, q *dns.Msg) {
		m := new(dns.Msg)
		m.SetRcode(q, dns.RcodeNameError)
		_ = w.WriteMsg(m)
	})
	quiet := dnsServer(t, func(dns.ResponseWriter, *dns.Msg) {})
	tests := []struct {
		name, server, section, timeout, reason string
	}{
		{"no such host", nx, `{host: nosuch.invalid}`, "2s", "resolve nosuch.invalid (ip): no such host"},
		{"no such host, ip6", nx, `{host: nosuch.invalid, ip_protocol: ip6}`, "2s", "resolve nosuch.invalid (ip6): no such host"},
		{"no answer", quiet, `{host: slow.invalid, ip_protocol: ip4}`, "300ms", "resolve slow.invalid (ip4): timeout: no answer within the probe's timeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pc := load(t, tt.timeout, tt.section)
			p, err := icmpprobe.New(pc.ICMP)
			if err != nil {
				t.Fatal(err)
			}
			icmpprobe.SetResolver(p, &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
				var d net.Dialer
				return d.DialContext(ctx, "udp", tt.server)
			}})
			res := probes.NewRunner(pc, icmpprobe.Kind(), p, slog.New(slog.DiscardHandler)).Probe(t.Context())
			f := res.Facts.(*icmpprobe.Facts)
			if res.State != probes.Down || res.Reason != tt.reason || f.Address != "" || f.Resolve <= 0 {
				t.Errorf("state %s, reason %q, facts %+v; want down, %q", res.State, res.Reason, f, tt.reason)
			}
		})
	}
}

// dnsServer serves DNS over UDP on 127.0.0.1 with h until the test ends.
func dnsServer(t *testing.T, h dns.HandlerFunc) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &dns.Server{PacketConn: pc, Handler: h}
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
	return pc.LocalAddr().String()
}

// TestDeadlinePassed: a run whose deadline has passed sends nothing and
// says so.
func TestDeadlinePassed(t *testing.T) {
	p, err := icmpprobe.New(load(t, "2s", `{host: 127.0.0.1}`).ICMP)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithDeadline(t.Context(), time.Now().Add(-time.Second))
	defer cancel()
	res := p.Probe(ctx)
	f := factsOf(t, res)
	if want := "timeout: the probe's timeout passed before the first echo request"; res.State != probes.Down || res.Reason != want || f.Sent != 0 {
		t.Errorf("state %s, reason %q, sent %d; want down, %q", res.State, res.Reason, f.Sent, want)
	}
}

// TestDeniedReason: how a refused socket is told, for ranges this
// machine does not have.
func TestDeniedReason(t *testing.T) {
	tests := []struct {
		name   string
		gid    int
		rng    string
		err    error
		reason string
	}{
		{"empty range", 1000, "1\t0\n", nil,
			`cannot open an ICMP socket: datagram sockets need the group id 1000 within net.ipv4.ping_group_range (now "1 0"; sysctl -w net.ipv4.ping_group_range="0 2147483647"), raw sockets need root or CAP_NET_RAW`},
		{"another group", 65532, "100\t200\n", nil,
			`cannot open an ICMP socket: datagram sockets need the group id 65532 within net.ipv4.ping_group_range (now "100 200"; sysctl -w net.ipv4.ping_group_range="0 2147483647"), raw sockets need root or CAP_NET_RAW`},
		{"within, yet refused", 1000, "0\t2147483647\n", nil,
			`cannot open an ICMP socket: datagram sockets were refused although the group id 1000 is within net.ipv4.ping_group_range ("0 2147483647"), raw sockets need root or CAP_NET_RAW`},
		{"unreadable", 1000, "", &os.PathError{Op: "open", Path: "/proc/sys/net/ipv4/ping_group_range", Err: syscall.ENOENT},
			`cannot open an ICMP socket: datagram sockets need the group id 1000 within net.ipv4.ping_group_range (unreadable: open /proc/sys/net/ipv4/ping_group_range: no such file or directory), raw sockets need root or CAP_NET_RAW`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := icmpprobe.DeniedReason(tt.gid, tt.rng, tt.err); got != tt.reason {
				t.Errorf("got  %s\nwant %s", got, tt.reason)
			}
		})
	}
}

// TestChoose: datagram first, then raw; why neither opened.
func TestChoose(t *testing.T) {
	sockErr := func(network string, errno syscall.Errno) error {
		return &net.OpError{Op: "listen", Net: network, Err: os.NewSyscallError("socket", errno)}
	}
	open := func(dgram, raw error) func(icmpprobe.Socket, bool) error {
		return func(s icmpprobe.Socket, _ bool) error {
			if s == icmpprobe.Datagram {
				return dgram
			}
			return raw
		}
	}
	denied := sockErr("udp4", syscall.EACCES)
	tests := []struct {
		name      string
		dgram     error
		raw       error
		want      icmpprobe.Socket
		reason    string // in the error
		notReason string // not in the error
	}{
		{"datagram", nil, nil, icmpprobe.Datagram, "", ""},
		{"raw when datagram is refused", denied, nil, icmpprobe.Raw, "", ""},
		{"both refused", denied, sockErr("ip4:icmp", syscall.EPERM), 0, "net.ipv4.ping_group_range", ""},
		{"no IPv6", sockErr("udp6", syscall.EAFNOSUPPORT), sockErr("ip6:ipv6-icmp", syscall.EAFNOSUPPORT), 0,
			"cannot open an ICMP socket: datagram: socket: address family not supported by protocol; raw: socket: address family not supported by protocol", "ping_group_range"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := icmpprobe.Choose(false, open(tt.dgram, tt.raw))
			if got != tt.want || (err == nil) != (tt.reason == "") || err != nil && (!strings.Contains(err.Error(), tt.reason) || tt.notReason != "" && strings.Contains(err.Error(), tt.notReason)) {
				t.Errorf("got %v, %v; want %v, an error containing %q", got, err, tt.want, tt.reason)
			}
		})
	}
	if _, err := icmpprobe.Choose(false, open(denied, denied)); err == nil || errors.Unwrap(err) != nil {
		t.Errorf("both refused: %v; want the reason alone, no wrapped socket error", err)
	}
}

// TestMetrics: an ICMP probe's families reach /metrics under
// blackbox_exporter's names and Lookout's.
func TestMetrics(t *testing.T) {
	r := runner(t, "2s", `{host: 127.0.0.1, count: 3}`)
	res := r.Probe(t.Context())
	f := factsOf(t, res)
	got := gather(t, r)
	want := map[string]float64{"probe_success": 1, "lookout_probe_icmp_packets_sent": 3, "lookout_probe_icmp_packets_received": 3,
		"lookout_probe_icmp_packet_loss_ratio": 0, "probe_icmp_duration_seconds{resolve}": 0}
	for name, v := range want {
		if g, ok := got[name]; !ok || g != v {
			t.Errorf("%s = %v (present %v); want %v", name, g, ok, v)
		}
	}
	for _, name := range []string{"probe_icmp_duration_seconds{setup}", "probe_icmp_duration_seconds{rtt}",
		"lookout_probe_icmp_rtt_seconds{min}", "lookout_probe_icmp_rtt_seconds{avg}", "lookout_probe_icmp_rtt_seconds{max}"} {
		if got[name] <= 0 {
			t.Errorf("%s = %v; want above 0", name, got[name])
		}
	}
	if _, ok := got["lookout_probe_icmp_rtt_seconds{stddev}"]; !ok {
		t.Error("no lookout_probe_icmp_rtt_seconds{stddev}")
	}
	if got["probe_icmp_duration_seconds{rtt}"] != got["lookout_probe_icmp_rtt_seconds{avg}"] {
		t.Errorf("rtt phase %v, avg %v; want the average round trip", got["probe_icmp_duration_seconds{rtt}"], got["lookout_probe_icmp_rtt_seconds{avg}"])
	}
	if hl, ok := got["probe_icmp_reply_hop_limit"]; ok != (f.HopLimit > 0) || ok && hl != float64(f.HopLimit) {
		t.Errorf("probe_icmp_reply_hop_limit = %v (present %v); facts say %d", hl, ok, f.HopLimit)
	}
}

// gather returns the gauges of r's families by name, the phase or stat
// label in braces.
func gather(t *testing.T, r *probes.Runner) map[string]float64 {
	t.Helper()
	return probetest.Gauges(t, probes.Kinds{icmpprobe.Kind()}, r, "phase", "stat")
}
