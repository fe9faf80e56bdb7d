package tracing

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"

	collectortrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	"github.com/lookout-dev/lookout/config"
)

// receiver is an OTLP trace receiver over gRPC and HTTP: it keeps the
// names of the spans it is sent and the auth header of each export.
type receiver struct {
	collectortrace.UnimplementedTraceServiceServer
	mu    sync.Mutex
	names []string
	paths []string
}

func (r *receiver) keep(req *collectortrace.ExportTraceServiceRequest) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, rs := range req.ResourceSpans {
		for _, ss := range rs.ScopeSpans {
			for _, s := range ss.Spans {
				r.names = append(r.names, s.Name)
			}
		}
	}
}

func (r *receiver) Export(_ context.Context, req *collectortrace.ExportTraceServiceRequest) (*collectortrace.ExportTraceServiceResponse, error) {
	r.keep(req)
	return &collectortrace.ExportTraceServiceResponse{}, nil
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	var in collectortrace.ExportTraceServiceRequest
	if err := proto.Unmarshal(body, &in); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	r.mu.Lock()
	r.paths = append(r.paths, req.URL.Path)
	r.mu.Unlock()
	r.keep(&in)
	out, _ := proto.Marshal(&collectortrace.ExportTraceServiceResponse{})
	w.Header().Set("Content-Type", "application/x-protobuf")
	w.Write(out)
}

// TestExport: a span reaches the collector over each endpoint scheme
// Lookout takes, once the provider shuts down (which flushes); over HTTP,
// to /v1/traces or to the endpoint's own path.
func TestExport(t *testing.T) {
	recv := &receiver{}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	collectortrace.RegisterTraceServiceServer(srv, recv)
	go srv.Serve(ln)
	defer srv.Stop()
	web := httptest.NewServer(recv)
	defer web.Close()

	for _, endpoint := range []string{"grpc://" + ln.Addr().String(), web.URL, web.URL + "/otlp/v1/traces"} {
		t.Run(endpoint, func(t *testing.T) {
			u, _ := url.Parse(endpoint)
			one := 1.0
			p, err := New(t.Context(), &config.Tracing{Endpoint: endpoint, EndpointURL: u, SampleRatio: &one}, "test")
			if err != nil {
				t.Fatal(err)
			}
			_, span := p.Tracer().Start(t.Context(), "probe "+endpoint)
			span.End()
			if err := p.Shutdown(t.Context()); err != nil {
				t.Fatalf("shutdown: %v", err)
			}
			recv.mu.Lock()
			defer recv.mu.Unlock()
			found := false
			for _, n := range recv.names {
				found = found || n == "probe "+endpoint
			}
			if !found {
				t.Errorf("the collector got spans %q; want %q", recv.names, "probe "+endpoint)
			}
		})
	}
	recv.mu.Lock()
	defer recv.mu.Unlock()
	if len(recv.paths) != 2 || recv.paths[0] != "/v1/traces" || recv.paths[1] != "/otlp/v1/traces" {
		t.Errorf("HTTP exports went to %q; want /v1/traces, then the endpoint's own path", recv.paths)
	}
}
