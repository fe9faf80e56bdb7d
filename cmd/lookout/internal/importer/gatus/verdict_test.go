package gatus

import (
	"bufio"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/coder/websocket"
	"github.com/miekg/dns"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/lookout-dev/lookout/cmd/lookout/internal/kinds"
	"github.com/lookout-dev/lookout/probes"
	"github.com/lookout-dev/lookout/probes/heartbeat"
	"github.com/lookout-dev/lookout/probes/httpprobe"
)

// These tests run the probes converted from a Gatus endpoint against
// local targets and compare their verdict with Gatus's: each row's want
// is what Gatus's documented semantics give for that condition and
// response (every condition must hold).

// verdict converts one Gatus endpoint, runs every probe it became once
// with Lookout's own probe code, and reports whether all are up, with
// their reasons.
func verdict(t *testing.T, endpoint string) (bool, string) {
	t.Helper()
	c := convertAndLoad(t, []byte("endpoints:\n"+endpoint))
	for _, l := range c.left {
		t.Fatalf("left behind %s; the verdict would not be Gatus's", l)
	}
	transports := httpprobe.NewTransports()
	t.Cleanup(transports.CloseIdle)
	ks := kinds.All(transports, heartbeat.NewStore(), nil)
	up, reasons := true, []string{}
	for _, pc := range c.Cfg.Probes {
		r, err := ks.NewRunner(pc, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		res := r.Probe(t.Context())
		r.Close()
		if res.State != probes.Up {
			up = false
			reasons = append(reasons, pc.Name+": "+res.Reason)
		}
	}
	return up, strings.Join(reasons, "; ")
}

func checkVerdict(t *testing.T, endpoint string, want bool) {
	t.Helper()
	got, reasons := verdict(t, endpoint)
	if got != want {
		t.Errorf("up: %v; Gatus: %v (%s)\n%s", got, want, reasons, endpoint)
	}
}

// gatusEndpoint writes one endpoint of url with conditions.
func gatusEndpoint(url string, extra string, conditions ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "  - name: target\n    url: %q\n    interval: 10s\n    client: {timeout: 5s, insecure: true}\n%s    conditions:\n", url, extra)
	for _, c := range conditions {
		fmt.Fprintf(&b, "      - %q\n", c)
	}
	return b.String()
}

func TestHTTPVerdicts(t *testing.T) {
	tests := []struct {
		name      string
		condition string
		status    int
		body      string
		want      bool
	}{
		{"status equal", "[STATUS] == 200", 200, "", true},
		{"status not equal", "[STATUS] == 200", 201, "", false},
		{"status below", "[STATUS] < 300", 299, "", true},
		{"status not below", "[STATUS] < 300", 301, "", false},
		{"status at most", "[STATUS] <= 299", 299, "", true},
		{"status above", "[STATUS] > 400", 401, "", true},
		{"status not above", "[STATUS] > 400", 400, "", false},
		{"status above, 200", "[STATUS] > 400", 200, "", false},
		{"status any", "[STATUS] == any(200, 429)", 429, "", true},
		{"status not any", "[STATUS] == any(200, 429)", 201, "", false},
		{"status pattern", "[STATUS] == pat(2*)", 204, "", true},
		{"status not pattern", "[STATUS] == pat(2*)", 404, "", false},
		{"status not checked", "[CONNECTED] == true", 503, "", true},
		{"json path", "[BODY].user.name == john", 200, `{"user":{"name":"john"}}`, true},
		{"json path differs", "[BODY].user.name == john", 200, `{"user":{"name":"jane"}}`, false},
		{"json index", "[BODY].data[0].id == 1", 200, `{"data":[{"id":1}]}`, true},
		{"json index differs", "[BODY].data[0].id == 1", 200, `{"data":[{"id":2}]}`, false},
		{"two paths", "[BODY].age == [BODY].id", 200, `{"age":1,"id":1}`, true},
		{"two paths differ", "[BODY].age == [BODY].id", 200, `{"age":1,"id":2}`, false},
		{"len of array", "len([BODY].data) < 5", 200, `{"data":[{"id":1}]}`, true},
		{"len of long array", "len([BODY].data) < 5", 200, `{"data":[1,2,3,4,5]}`, false},
		{"len of string", "len([BODY].name) == 8", 200, `{"name":"john.doe"}`, true},
		{"len of short string", "len([BODY].name) == 8", 200, `{"name":"bob"}`, false},
		{"has not", "has([BODY].errors) == false", 200, `{"name":"john.doe"}`, true},
		{"has not, but has", "has([BODY].errors) == false", 200, `{"errors":[]}`, false},
		{"has", "has([BODY].users) == true", 200, `{"users":[]}`, true},
		{"has, but not", "has([BODY].users) == true", 200, `{}`, false},
		{"path pattern", "[BODY].name == pat(john*)", 200, `{"name":"john.doe"}`, true},
		{"path pattern differs", "[BODY].name == pat(john*)", 200, `{"name":"bob"}`, false},
		{"path any", "[BODY].id == any(1, 2)", 200, `{"id":2}`, true},
		{"path not any", "[BODY].id == any(1, 2)", 200, `{"id":3}`, false},
		{"path not equal", "[BODY].status != DOWN", 200, `{"status":"UP"}`, true},
		{"path not equal, equal", "[BODY].status != DOWN", 200, `{"status":"DOWN"}`, false},
		{"number above", "[BODY].count > 5", 200, `{"count":6}`, true},
		{"number not above", "[BODY].count > 5", 200, `{"count":5}`, false},
		{"float truncated", "[BODY].count > 5", 200, `{"count":5.9}`, false},
		{"bool", "[BODY].ok == true", 200, `{"ok":true}`, true},
		{"bool false", "[BODY].ok == true", 200, `{"ok":false}`, false},
		{"whole body", "[BODY] == 1", 200, "1", true},
		{"whole body differs", "[BODY] == 1", 200, "2", false},
		{"body pattern", "[BODY] == pat(*<h1>Example Domain</h1>*)", 200, "<html><h1>Example Domain</h1></html>", true},
		{"body pattern missing", "[BODY] == pat(*<h1>Example Domain</h1>*)", 200, "<html></html>", false},
		{"body not pattern", "[BODY] != pat(*error*)", 200, "all fine", true},
		{"body not pattern, matching", "[BODY] != pat(*error*)", 200, "an error", false},
		{"response time below", "[RESPONSE_TIME] < 60000", 200, "", true},
		{"response time not above", "[RESPONSE_TIME] > 60000", 200, "", false},
		{"constant condition", "1 == 2", 200, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(tt.status)
				_, _ = w.Write([]byte(tt.body))
			}))
			t.Cleanup(srv.Close)
			checkVerdict(t, gatusEndpoint(srv.URL, "", tt.condition), tt.want)
		})
	}
}

// TestCertificateVerdicts checks [CERTIFICATE_EXPIRATION] of an https://
// endpoint (a tls probe beside the http one) and of a tls:// one, against
// httptest's certificate, which expires in 2084.
func TestCertificateVerdicts(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	t.Cleanup(srv.Close)
	tlsURL := "tls://" + srv.Listener.Addr().String()
	tests := []struct {
		name, url, condition string
		want                 bool
	}{
		{"https, far", srv.URL, "[CERTIFICATE_EXPIRATION] > 48h", true},
		{"https, too near", srv.URL, "[CERTIFICATE_EXPIRATION] > 1000000h", false},
		{"https, below", srv.URL, "[CERTIFICATE_EXPIRATION] < 48h", false},
		{"tls, far", tlsURL, "[CERTIFICATE_EXPIRATION] > 48h", true},
		{"tls, in milliseconds", tlsURL, "[CERTIFICATE_EXPIRATION] > 172800000", true},
		{"tls, too near", tlsURL, "[CERTIFICATE_EXPIRATION] > 1000000h", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkVerdict(t, gatusEndpoint(tt.url, "", "[CONNECTED] == true", tt.condition), tt.want)
		})
	}
}

// serveTCP answers each connection's first line with reply.
func serveTCP(t *testing.T, reply string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer c.Close()
				if _, err := bufio.NewReader(c).ReadString('\n'); err == nil {
					_, _ = c.Write([]byte(reply))
				}
			})
		}
	})
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
	})
	return ln.Addr().String()
}

// closedPort is a loopback address nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func TestTCPVerdicts(t *testing.T) {
	pong, errs, closed := serveTCP(t, "+PONG\r\n"), serveTCP(t, "-ERR unknown\r\n"), closedPort(t)
	body := "    body: \"PING\\r\\n\"\n"
	tests := []struct {
		name, addr string
		conditions []string
		want       bool
	}{
		{"connected", pong, []string{"[CONNECTED] == true"}, true},
		{"refused", closed, []string{"[CONNECTED] == true"}, false},
		{"reply matches", pong, []string{"[CONNECTED] == true", "[BODY] == pat(*PONG*)"}, true},
		{"reply differs", errs, []string{"[CONNECTED] == true", "[BODY] == pat(*PONG*)"}, false},
		{"reply is not", errs, []string{"[BODY] != pat(*PONG*)"}, true},
		{"reply length", pong, []string{"len([BODY]) > 3"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkVerdict(t, gatusEndpoint("tcp://"+tt.addr, body, tt.conditions...), tt.want)
		})
	}
}

func TestWebSocketVerdicts(t *testing.T) {
	serve := func(reply string) string {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			c, err := websocket.Accept(w, r, nil)
			if err != nil {
				return
			}
			defer c.CloseNow()
			if _, _, err := c.Read(r.Context()); err != nil {
				return
			}
			_ = c.Write(r.Context(), websocket.MessageText, []byte(reply))
			_, _, _ = c.Read(r.Context()) // until the probe closes
		}))
		t.Cleanup(srv.Close)
		return "ws" + strings.TrimPrefix(srv.URL, "http")
	}
	served, other := serve("Request served by e4b2"), serve("nope")
	tests := []struct {
		name, url string
		want      bool
	}{
		{"matches", served, true},
		{"differs", other, false},
		{"refused", "ws://" + closedPort(t), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkVerdict(t, gatusEndpoint(tt.url, "    body: status\n", "[CONNECTED] == true", "[BODY] == pat(*served by*)"), tt.want)
		})
	}
}

func TestGRPCVerdicts(t *testing.T) {
	serve := func(status healthpb.HealthCheckResponse_ServingStatus) string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		s := grpc.NewServer()
		h := health.NewServer()
		h.SetServingStatus("", status)
		healthpb.RegisterHealthServer(s, h)
		done := make(chan struct{})
		go func() {
			defer close(done)
			_ = s.Serve(ln)
		}()
		t.Cleanup(func() {
			s.Stop()
			<-done
		})
		return "grpc://" + ln.Addr().String()
	}
	serving, notServing := serve(healthpb.HealthCheckResponse_SERVING), serve(healthpb.HealthCheckResponse_NOT_SERVING)
	tests := []struct {
		name, url  string
		conditions []string
		want       bool
	}{
		{"serving", serving, []string{"[CONNECTED] == true", "[BODY].status == SERVING"}, true},
		{"not serving", notServing, []string{"[CONNECTED] == true", "[BODY].status == SERVING"}, false},
		{"refused", "grpc://" + closedPort(t), []string{"[CONNECTED] == true"}, false},
		{"fast", serving, []string{"[BODY].status == SERVING", "[RESPONSE_TIME] < 60000"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkVerdict(t, gatusEndpoint(tt.url, "", tt.conditions...), tt.want)
		})
	}
}

// serveDNS answers A questions for example.com with 93.184.216.34 and
// 10.0.0.1, and NXDOMAIN for any other name.
func serveDNS(t *testing.T) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, q *dns.Msg) {
		m := new(dns.Msg)
		if q.Question[0].Name != "example.com." {
			m.SetRcode(q, dns.RcodeNameError)
			_ = w.WriteMsg(m)
			return
		}
		m.SetReply(q)
		for _, ip := range []string{"10.0.0.1", "93.184.216.34"} {
			rr, err := dns.NewRR("example.com. 300 IN A " + ip)
			if err != nil {
				panic(err)
			}
			m.Answer = append(m.Answer, rr)
		}
		_ = w.WriteMsg(m)
	})}
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

func TestDNSVerdicts(t *testing.T) {
	addr := serveDNS(t)
	dnsEndpoint := func(name string, conditions ...string) string {
		return gatusEndpoint(addr, fmt.Sprintf("    dns: {query-name: %q, query-type: A}\n", name), conditions...)
	}
	tests := []struct {
		name     string
		endpoint string
		want     bool
	}{
		{"answer", dnsEndpoint("example.com", "[BODY] == 93.184.216.34", "[DNS_RCODE] == NOERROR"), true},
		{"wrong answer", dnsEndpoint("example.com", "[BODY] == 1.2.3.4", "[DNS_RCODE] == NOERROR"), false},
		{"answer pattern", dnsEndpoint("example.com", "[BODY] == pat(93.184.*)"), true},
		{"answer not", dnsEndpoint("example.com", "[BODY] != 1.2.3.4"), true},
		{"nxdomain expected", dnsEndpoint("gone.example.com", "[DNS_RCODE] == NXDOMAIN"), true},
		{"nxdomain", dnsEndpoint("gone.example.com", "[DNS_RCODE] == NOERROR"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkVerdict(t, tt.endpoint, tt.want)
		})
	}
}
