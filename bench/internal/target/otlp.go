package target

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	collectortrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/protobuf/proto"
)

// OTLPPath is where the target receives OTLP/HTTP trace exports
// (protobuf, POST), as a collector's OTLP/HTTP receiver does; a tracing
// exporter pointed at http://ADDR sends there by default.
const OTLPPath = "/v1/traces"

// receivedPath answers what the OTLP receiver counted, as JSON.
const receivedPath = "/v1/traces/received"

// otlpReceiver decodes each export with the OTLP protobuf definitions
// and counts its spans by name; it answers an empty
// ExportTraceServiceResponse, as a collector does when it took them all.
type otlpReceiver struct {
	mu       sync.Mutex
	received Received
}

// Received is what the target's OTLP receiver got.
type Received struct {
	Requests int            // exports decoded
	Rejected int            // exports refused: not protobuf, or not decodable
	Spans    map[string]int // spans by name
}

// Total is the number of spans received.
func (r Received) Total() int {
	n := 0
	for _, c := range r.Spans {
		n += c
	}
	return n
}

// route serves the receiver's paths and passes every other request to
// next.
func (o *otlpReceiver) route(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case OTLPPath:
			o.export(w, r)
		case receivedPath:
			o.mu.Lock()
			body, err := json.Marshal(o.received)
			o.mu.Unlock()
			if err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write(body)
		default:
			next.ServeHTTP(w, r)
		}
	})
}

func (o *otlpReceiver) export(w http.ResponseWriter, r *http.Request) {
	var req collectortrace.ExportTraceServiceRequest
	err := o.decode(r, &req)
	o.mu.Lock()
	if err != nil {
		o.received.Rejected++
	} else {
		o.received.Requests++
		if o.received.Spans == nil {
			o.received.Spans = make(map[string]int)
		}
		for _, rs := range req.GetResourceSpans() {
			for _, ss := range rs.GetScopeSpans() {
				for _, s := range ss.GetSpans() {
					o.received.Spans[s.GetName()]++
				}
			}
		}
	}
	o.mu.Unlock()
	if err != nil {
		http.Error(w, "otlp: "+err.Error(), http.StatusBadRequest)
		return
	}
	out, err := proto.Marshal(&collectortrace.ExportTraceServiceResponse{})
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/x-protobuf")
	_, _ = w.Write(out)
}

// decode reads an export request's body (gzip too, as an exporter may
// compress it) into req.
func (o *otlpReceiver) decode(r *http.Request, req *collectortrace.ExportTraceServiceRequest) error {
	if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/x-protobuf" {
		return fmt.Errorf("want a POST of application/x-protobuf, got %s of %q", r.Method, r.Header.Get("Content-Type"))
	}
	var body io.Reader = http.MaxBytesReader(nil, r.Body, 64<<20)
	if r.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(body)
		if err != nil {
			return fmt.Errorf("gzip: %w", err)
		}
		defer zr.Close()
		body = zr
	}
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(body); err != nil {
		return fmt.Errorf("read body: %w", err)
	}
	if err := proto.Unmarshal(buf.Bytes(), req); err != nil {
		return fmt.Errorf("decode ExportTraceServiceRequest: %w", err)
	}
	return nil
}

// OTLPReceived asks the target at addr what its OTLP receiver has got so
// far.
func OTLPReceived(ctx context.Context, addr string) (Received, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+receivedPath, nil)
	if err != nil {
		return Received{}, fmt.Errorf("target: spans received: %w", err)
	}
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		return Received{}, fmt.Errorf("target: spans received: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return Received{}, fmt.Errorf("target: spans received: status %s", resp.Status)
	}
	var got Received
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
		return Received{}, fmt.Errorf("target: spans received: decode: %w", err)
	}
	return got, nil
}
