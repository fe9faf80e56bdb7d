package main

import (
	"fmt"
	"maps"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/lookout-dev/lookout/bench/internal/target"
)

// runTarget is the probes' target, in this process (whose CPU and memory
// are not measured): it answers target.Body as the other benchmarks'
// target child does, and counts the requests by their `from` query
// parameter, which each daemon's probe URLs carry with its name. A probe
// run is one request, so the counts are the runs each daemon made.
type runTarget struct {
	URL string // http://127.0.0.1:PORT/health
	srv *http.Server

	mu   sync.Mutex
	runs map[string]uint64
}

func startTarget() (*runTarget, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("target: listen: %w", err)
	}
	t := &runTarget{URL: "http://" + ln.Addr().String() + "/health", runs: map[string]uint64{}}
	body := []byte(target.Body)
	length := []string{strconv.Itoa(len(body))}
	jsonType := []string{"application/json"}
	t.srv = &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			from := r.URL.Query().Get("from")
			t.mu.Lock()
			t.runs[from]++
			t.mu.Unlock()
			h := w.Header()
			h["Content-Type"] = jsonType
			h["Content-Length"] = length
			_, _ = w.Write(body)
		}),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      10 * time.Second,
		IdleTimeout:       30 * time.Second,
	}
	go func() { _ = t.srv.Serve(ln) }()
	return t, nil
}

// URLFor is the probe URL of the daemon called from.
func (t *runTarget) URLFor(from string) string { return t.URL + "?from=" + from }

// Runs is a copy of the requests counted so far, by daemon.
func (t *runTarget) Runs() map[string]uint64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return maps.Clone(t.runs)
}

func (t *runTarget) Close() { _ = t.srv.Close() }
