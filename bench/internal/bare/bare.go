// Package bare is the baseline of the CPU benchmarks: the least a Go
// program does to check a target the way a Lookout kind does. Prober
// probes an HTTP endpoint as Lookout's default does, a fresh connection
// per request with the time of each phase and the body read; TCP connects;
// DNS sends one query.
package bare

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"time"
)

// Times are the phase times a hand-written probe loop records.
type Times struct {
	DNS, Connect, TLS, FirstByte, Total time.Duration
}

// Prober probes one URL. Its Probe may be called from many goroutines.
type Prober struct {
	client *http.Client
	url    string
}

// New returns the prober of url, on its own transport without keep-alive.
func New(url string) *Prober {
	tr := &http.Transport{DisableKeepAlives: true}
	return &Prober{client: &http.Client{Transport: tr, Timeout: 10 * time.Second}, url: url}
}

// Probe makes one request and returns its phase times; an error when it
// failed or the status was not 200.
func (b *Prober) Probe(ctx context.Context) (Times, error) {
	var t Times
	var start, dnsStart, connStart, tlsStart time.Time
	trace := &httptrace.ClientTrace{
		DNSStart:          func(httptrace.DNSStartInfo) { dnsStart = time.Now() },
		DNSDone:           func(httptrace.DNSDoneInfo) { t.DNS = time.Since(dnsStart) },
		ConnectStart:      func(string, string) { connStart = time.Now() },
		ConnectDone:       func(string, string, error) { t.Connect = time.Since(connStart) },
		TLSHandshakeStart: func() { tlsStart = time.Now() },
		TLSHandshakeDone:  func(tls.ConnectionState, error) { t.TLS = time.Since(tlsStart) },
		GotFirstResponseByte: func() {
			t.FirstByte = time.Since(start)
		},
	}
	start = time.Now()
	req, err := http.NewRequestWithContext(httptrace.WithClientTrace(ctx, trace), http.MethodGet, b.url, nil)
	if err != nil {
		return t, fmt.Errorf("bare: new request: %w", err)
	}
	resp, err := b.client.Do(req)
	if err != nil {
		return t, fmt.Errorf("bare: %w", err)
	}
	_, err = io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return t, fmt.Errorf("bare: read body: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return t, fmt.Errorf("bare: status %d, want 200", resp.StatusCode)
	}
	t.Total = time.Since(start)
	return t, nil
}
