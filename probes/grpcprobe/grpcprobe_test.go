package grpcprobe_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"

	"github.com/lookout-dev/lookout/probes"
	"github.com/lookout-dev/lookout/probes/grpcprobe"
	"github.com/lookout-dev/lookout/probes/internal/probetest"
)

// serve runs a gRPC server on a loopback port until the test ends;
// register adds its services.
func serve(t *testing.T, register func(*grpc.Server), opts ...grpc.ServerOption) string {
	t.Helper()
	ln := probetest.Listen(t)
	s := grpc.NewServer(opts...)
	register(s)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = s.Serve(ln)
	}()
	t.Cleanup(func() {
		s.Stop()
		<-done
	})
	return ln.Addr().String()
}

// withHealth registers a health service: the server as a whole and
// "orders" SERVING, "billing" NOT_SERVING.
func withHealth(s *grpc.Server) {
	h := health.NewServer()
	h.SetServingStatus("orders", healthpb.HealthCheckResponse_SERVING)
	h.SetServingStatus("billing", healthpb.HealthCheckResponse_NOT_SERVING)
	healthpb.RegisterHealthServer(s, h)
}

// silent accepts connections and never says a thing.
func silent(t *testing.T) string {
	t.Helper()
	ln := probetest.Listen(t)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	})
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
		for _, c := range conns {
			c.Close()
		}
	})
	return ln.Addr().String()
}

// runner loads one grpc probe from YAML (the section's fields).
func runner(t *testing.T, timeout, section string) *probes.Runner {
	t.Helper()
	return probetest.Runner(t, grpcprobe.Kind(), timeout, section)
}

// probe runs one grpc probe once.
func probe(t *testing.T, timeout, section string) (probes.Result, *grpcprobe.Facts) {
	t.Helper()
	res := runner(t, timeout, section).Probe(t.Context())
	f, _ := res.Facts.(*grpcprobe.Facts)
	if f == nil {
		t.Fatalf("facts %T; want *grpcprobe.Facts", res.Facts)
	}
	return res, f
}

func TestGRPC(t *testing.T) {
	healthy := serve(t, withHealth)
	bare := serve(t, func(*grpc.Server) {})
	refused := probetest.ClosedPort(t)
	quiet := silent(t)
	_, port, _ := net.SplitHostPort(healthy)
	tests := []struct {
		name, timeout, section string
		state                  probes.State
		reason                 string // in the reason
		status                 string // the serving status found
	}{
		{"serving", "2s", "{address: " + healthy + ", service: orders}", probes.Up, "", "SERVING"},
		{"the server as a whole", "2s", "{address: " + healthy + "}", probes.Up, "", "SERVING"},
		{"not serving", "2s", "{address: " + healthy + ", service: billing}", probes.Down,
			`status: expected SERVING, got NOT_SERVING from service "billing" at ` + healthy, "NOT_SERVING"},
		{"unknown service", "2s", "{address: " + healthy + ", service: shipping}", probes.Down,
			`status: expected SERVING, got SERVICE_UNKNOWN: service "shipping" unknown to the server at ` + healthy, "SERVICE_UNKNOWN"},
		{"no health service", "2s", "{address: " + bare + ", service: orders}", probes.Down,
			bare + " has no grpc.health.v1 Health service (Unimplemented)", ""},
		{"refused", "2s", "{address: " + refused + "}", probes.Down, "connect to " + refused + ": connection refused", ""},
		{"a server that never answers", "300ms", "{address: " + quiet + ", service: orders}", probes.Down,
			`health check of service "orders" at ` + quiet + ": timeout: no answer within the probe's timeout", ""},
		{"a server that never answers, over TLS", "300ms", "{address: " + quiet + ", tls: true}", probes.Down,
			"TLS handshake with " + quiet + ": timeout: no answer within the probe's timeout", ""},
		{"TLS to a plaintext server", "2s", "{address: " + healthy + ", tls: true}", probes.Down,
			"TLS handshake with " + healthy + ": tls: first record does not look like a TLS handshake", ""},
		{"ip_protocol ip4 at localhost", "2s", "{address: 'localhost:" + port + "', service: orders, ip_protocol: ip4}", probes.Up, "", "SERVING"},
		{"ip_protocol ip6 at an IPv4 address", "2s", "{address: " + healthy + ", ip_protocol: ip6}", probes.Down,
			"address " + healthy + " is an IPv4 address, but ip_protocol is ip6", ""},
		{"assert over status and duration", "2s", "{address: " + healthy + ", service: orders, assert: ['status == \"SERVING\"', 'duration < duration(\"2s\")', 'tls == null']}", probes.Up, "", "SERVING"},
		{"a failing assert", "2s", "{address: " + healthy + ", service: orders, assert: ['duration < duration(\"0s\")']}", probes.Down,
			`assert: expected duration < duration("0s"), got duration is `, "SERVING"},
		{"degraded_if", "2s", "{address: " + healthy + ", service: orders, degraded_if: ['status == \"SERVING\"']}", probes.Degraded,
			`degraded_if: expected not status == "SERVING", got status is "SERVING"`, "SERVING"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, f := probe(t, tt.timeout, tt.section)
			probetest.Want(t, res, tt.state, tt.reason)
			if f.Status != tt.status {
				t.Errorf("status %q; want %q", f.Status, tt.status)
			}
		})
	}
}

// TestGRPCWithTLS: tls speaks TLS with the kind's settings and reports
// the chain; an unknown CA fails the handshake with the reason and still
// tells the certificate's expiry.
func TestGRPCWithTLS(t *testing.T) {
	cert := probetest.SelfSigned(t, "grpc.test")
	addr := serve(t, withHealth, grpc.Creds(credentials.NewTLS(&tls.Config{Certificates: []tls.Certificate{cert.TLS}})))

	res, f := probe(t, "2s", `{address: "`+addr+`", service: orders, tls: {ca_file: "`+cert.File+`"}, assert: ['tls.verified', 'tls.version == "TLS 1.3"']}`)
	if res.State != probes.Up || f.TLS == nil || !f.TLS.Verified || f.TLS.EarliestExpiry.IsZero() {
		t.Errorf("ca_file: %s %q, TLS facts %+v; want up, a verified chain over TLS 1.3 with its expiry", res.State, res.Reason, f.TLS)
	}
	res, f = probe(t, "2s", `{address: "`+addr+`", service: orders, tls: true}`)
	if res.State != probes.Down || !strings.HasPrefix(res.Reason, "TLS handshake with "+addr+": ") || !strings.Contains(res.Reason, "unknown authority") ||
		f.TLS == nil || f.TLS.EarliestExpiry.IsZero() {
		t.Errorf("unknown CA: %s %q, TLS facts %+v; want down naming the unknown authority, with the expiry", res.State, res.Reason, f.TLS)
	}
	res, f = probe(t, "2s", `{address: "`+addr+`", service: orders, tls: {insecure_skip_verify: true}, degraded_if: ['!tls.verified']}`)
	if res.State != probes.Degraded || f.TLS == nil || f.TLS.Verified || f.TLS.VerifyError == "" || f.Status != "SERVING" {
		t.Errorf("insecure_skip_verify: %s %q, status %q, TLS facts %+v; want degraded by the unverified chain, SERVING", res.State, res.Reason, f.Status, f.TLS)
	}
	res, f = probe(t, "2s", `{address: "`+addr+`", service: orders, tls: {server_name: grpc.test, ca_file: "`+cert.File+`"}}`)
	if res.State != probes.Up || f.TLS == nil || !f.TLS.Verified {
		t.Errorf("server_name of the certificate: %s %q, TLS facts %+v; want up, verified", res.State, res.Reason, f.TLS)
	}
	res, _ = probe(t, "2s", `{address: "`+addr+`", service: orders, tls: {server_name: other.test, ca_file: "`+cert.File+`"}}`)
	if res.State != probes.Down || !strings.Contains(res.Reason, "TLS handshake with "+addr+": ") || !strings.Contains(res.Reason, "not other.test") {
		t.Errorf("server_name not in the certificate: %s %q; want down naming the name", res.State, res.Reason)
	}
	res, _ = probe(t, "2s", `{address: "`+addr+`", service: orders}`)
	if res.State != probes.Down || !strings.Contains(res.Reason, addr) || !strings.Contains(res.Reason, "set tls") {
		t.Errorf("plaintext to a TLS server: %s %q; want down naming the address, suggesting tls", res.State, res.Reason)
	}
}

// TestGRPCMetadata: metadata reaches the server as request metadata, and
// its values never reach a reason.
func TestGRPCMetadata(t *testing.T) {
	var mu sync.Mutex
	var got metadata.MD
	record := func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		md, _ := metadata.FromIncomingContext(ctx)
		mu.Lock()
		got = md
		mu.Unlock()
		return handler(ctx, req)
	}
	addr := serve(t, withHealth, grpc.UnaryInterceptor(record))
	md := "metadata: {Authorization: 'Bearer s3cret-token', x-tenant: acme}"

	res, _ := probe(t, "2s", "{address: "+addr+", service: orders, "+md+"}")
	mu.Lock()
	auth, tenant, authority := got.Get("authorization"), got.Get("x-tenant"), got.Get(":authority")
	mu.Unlock()
	if res.State != probes.Up || len(auth) != 1 || auth[0] != "Bearer s3cret-token" || len(tenant) != 1 || tenant[0] != "acme" {
		t.Errorf("%s %q, server saw authorization %q, x-tenant %q; want up, both sent", res.State, res.Reason, auth, tenant)
	}
	if len(authority) != 1 || authority[0] != addr {
		t.Errorf("server saw :authority %q; want the configured address %s", authority, addr)
	}
	for _, section := range []string{
		"{address: " + addr + ", service: shipping, " + md + "}",
		"{address: " + probetest.ClosedPort(t) + ", " + md + "}",
	} {
		res, _ := probe(t, "2s", section)
		if res.State != probes.Down || strings.Contains(res.Reason, "s3cret") {
			t.Errorf("%s: %s %q; want down, without the metadata's value", section, res.State, res.Reason)
		}
	}
}

// TestGRPCMetrics: a gRPC probe's families reach /metrics under
// blackbox_exporter's names, one serving status at 1.
func TestGRPCMetrics(t *testing.T) {
	addr := serve(t, withHealth)
	gather := func(section string) map[string]float64 {
		t.Helper()
		r := runner(t, "2s", section)
		r.Probe(t.Context())
		return probetest.Gauges(t, probes.Kinds{grpcprobe.Kind()}, r, "phase", "serving_status")
	}
	tests := []struct {
		name, section string
		want          map[string]float64
		absent        []string
	}{
		{"serving", "{address: " + addr + ", service: orders}", map[string]float64{
			"probe_success": 1, "probe_grpc_status_code": 0, "probe_grpc_ssl": 0,
			"probe_grpc_healthcheck_response{SERVING}": 1, "probe_grpc_healthcheck_response{NOT_SERVING}": 0,
			"probe_grpc_healthcheck_response{UNKNOWN}": 0, "probe_grpc_healthcheck_response{SERVICE_UNKNOWN}": 0,
			"probe_grpc_duration_seconds{resolve}": 0,
		}, []string{"probe_ssl_earliest_cert_expiry"}},
		{"unknown service", "{address: " + addr + ", service: shipping}", map[string]float64{
			"probe_success": 0, "probe_grpc_status_code": 5,
			"probe_grpc_healthcheck_response{SERVING}": 0, "probe_grpc_healthcheck_response{SERVICE_UNKNOWN}": 1,
		}, nil},
		{"refused", "{address: " + probetest.ClosedPort(t) + "}", map[string]float64{
			"probe_success": 0, "probe_grpc_status_code": 14, "probe_grpc_healthcheck_response{SERVING}": 0,
		}, []string{"probe_grpc_ssl"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := gather(tt.section)
			for name, v := range tt.want {
				if g, ok := got[name]; !ok || g != v {
					t.Errorf("%s = %v (present %v); want %v", name, g, ok, v)
				}
			}
			if got["probe_grpc_duration_seconds{check}"] <= 0 {
				t.Errorf("probe_grpc_duration_seconds{check} = %v; want the check's time", got["probe_grpc_duration_seconds{check}"])
			}
			for _, name := range tt.absent {
				if _, ok := got[name]; ok {
					t.Errorf("%s present; want it absent", name)
				}
			}
		})
	}
}

// TestGRPCReport: `lookout probe NAME` tells the target, the status and
// the code; the API's JSON the same facts.
func TestGRPCReport(t *testing.T) {
	addr := serve(t, withHealth)
	section := "{address: " + addr + ", service: billing}"
	res, _ := probe(t, "2s", section)
	var b bytes.Buffer
	r := probes.NewReport(&b, time.Now())
	k := grpcprobe.Kind()
	k.ReportTarget(r, probetest.Config(t, k, "", section))
	k.ReportFacts(r, res.Facts)
	for _, want := range []string{"target:     grpc.health.v1 Check of service billing at " + addr, "status:     NOT_SERVING (gRPC code OK)", "server:     " + addr} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("report:\n%s\nwant a line %q", b.String(), want)
		}
	}
	js, err := json.Marshal(res)
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(js, &got); err != nil {
		t.Fatal(err)
	}
	if got["serving_status"] != "NOT_SERVING" || got["status_code"] != 0.0 || got["status_code_name"] != "OK" || got["server"] != addr {
		t.Errorf("JSON %s; want serving_status NOT_SERVING, status_code 0 (OK), the server", js)
	}
}

// TestGRPCLeavesNothing: a run closes its connection, whatever the
// outcome, even a dial or handshake cut short by the deadline; no
// goroutine outlives it.
func TestGRPCLeavesNothing(t *testing.T) {
	before := goleak.IgnoreCurrent()
	// The first cleanup runs last: after the servers stopped.
	t.Cleanup(func() { goleak.VerifyNone(t, before) })
	cert := probetest.SelfSigned(t, "grpc.test")
	healthy := serve(t, withHealth)
	secure := serve(t, withHealth, grpc.Creds(credentials.NewTLS(&tls.Config{Certificates: []tls.Certificate{cert.TLS}})))
	quiet := silent(t)
	for _, section := range []string{
		"{address: " + healthy + ", service: orders}",
		"{address: " + healthy + ", service: shipping}",
		"{address: " + secure + ", tls: {ca_file: '" + cert.File + "'}}",
		"{address: " + secure + ", tls: true}",
		"{address: " + probetest.ClosedPort(t) + "}",
		"{address: " + quiet + "}",
		"{address: " + quiet + ", tls: true}",
	} {
		probe(t, "300ms", section)
	}
}
