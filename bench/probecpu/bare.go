package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"time"
)

// bareTimes are the phase times a hand-written probe loop records.
type bareTimes struct {
	dns, connect, tls, firstByte, total time.Duration
}

// bareProber is the baseline: the least a Go program does to probe the
// same endpoint the same way, a fresh connection per request with the
// time of each phase and the body read.
type bareProber struct {
	client *http.Client
	url    string
	last   bareTimes // kept so that the timings are not optimised away
}

func newBareProber(url string) *bareProber {
	tr := &http.Transport{DisableKeepAlives: true}
	return &bareProber{client: &http.Client{Transport: tr, Timeout: 10 * time.Second}, url: url}
}

func (b *bareProber) probe(ctx context.Context) error {
	var t bareTimes
	var start, dnsStart, connStart, tlsStart time.Time
	trace := &httptrace.ClientTrace{
		DNSStart:          func(httptrace.DNSStartInfo) { dnsStart = time.Now() },
		DNSDone:           func(httptrace.DNSDoneInfo) { t.dns = time.Since(dnsStart) },
		ConnectStart:      func(string, string) { connStart = time.Now() },
		ConnectDone:       func(string, string, error) { t.connect = time.Since(connStart) },
		TLSHandshakeStart: func() { tlsStart = time.Now() },
		TLSHandshakeDone:  func(tls.ConnectionState, error) { t.tls = time.Since(tlsStart) },
		GotFirstResponseByte: func() {
			t.firstByte = time.Since(start)
		},
	}
	start = time.Now()
	req, err := http.NewRequestWithContext(httptrace.WithClientTrace(ctx, trace), http.MethodGet, b.url, nil)
	if err != nil {
		return fmt.Errorf("bare: new request: %w", err)
	}
	resp, err := b.client.Do(req)
	if err != nil {
		return fmt.Errorf("bare: %w", err)
	}
	_, err = io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return fmt.Errorf("bare: read body: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("bare: status %d, want 200", resp.StatusCode)
	}
	t.total = time.Since(start)
	b.last = t
	return nil
}
