package httpprobe_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lookout-dev/lookout/probes"
	"github.com/lookout-dev/lookout/probes/httpprobe"
)

// silentServer accepts TCP connections and never says a word: a TLS
// client waits for the server's hello for ever. Each connection is read
// until the client closes it, then closed, so a client that lets go
// leaves nothing open on either side.
func silentServer(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Go(func() {
				io.Copy(io.Discard, c)
				c.Close()
			})
		}
	})
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close() // what a leaking client still holds open
		}
		mu.Unlock()
		wg.Wait()
	})
	return ln
}

// openFiles counts the process's open file descriptors.
func openFiles(t *testing.T) int {
	t.Helper()
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("cannot count open files: %v", err)
	}
	return len(fds)
}

// settled waits, up to a bound, for the open files and goroutines to come
// back within slack of before, and returns the last counts.
func settled(t *testing.T, files, goroutines, slack int) (int, int) {
	t.Helper()
	var f, g int
	for deadline := time.Now().Add(10 * time.Second); ; {
		f, g = openFiles(t), runtime.NumGoroutine()
		if (f <= files+slack && g <= goroutines+slack) || time.Now().After(deadline) {
			return f, g
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestSilentTargetLeaksNothing runs a probe 50 times against a target that
// accepts TCP and never answers, each run with a short timeout: the open
// files and goroutines after the runs are those before, so a run that
// ends leaves no dial, handshake or connection behind.
func TestSilentTargetLeaksNothing(t *testing.T) {
	const runs, slack = 50, 3
	tests := []struct {
		name   string
		scheme string
		extra  string
	}{
		{"https: TLS never answered", "https", ""},
		{"https with keep_alive: TLS never answered", "https", "keep_alive: true"},
		{"http: no response", "http", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ln := silentServer(t)
			transports := httpprobe.NewTransports()
			t.Cleanup(transports.CloseIdle)
			p := newProberOn(t, transports, fmt.Sprintf("url: %s://%s/\n%s", tt.scheme, ln.Addr(), tt.extra))
			run := func() {
				ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
				defer cancel()
				checkReasonPrefix(t, p.Probe(ctx), probes.Down, "timeout")
			}
			f0, g0 := openFiles(t), runtime.NumGoroutine()
			for range 3 { // what the first runs set up once
				run()
			}
			files, goroutines := settled(t, f0, g0, slack)
			for range runs {
				run()
			}
			f, g := settled(t, files, goroutines, 0)
			t.Logf("after %d runs: %d open files (%d before), %d goroutines (%d before)", runs, f, files, g, goroutines)
			if f > files+slack || g > goroutines+slack {
				t.Errorf("after %d runs: %d open files, %d goroutines; want at most %d and %d (%d and %d before, plus %d)",
					runs, f, g, files+slack, goroutines+slack, files, goroutines, slack)
			}
		})
	}
}

// connServer serves targetMux, counts the connections it accepted and
// reports each one it saw closed.
func connServer(t *testing.T) (*httptest.Server, *atomic.Int32, <-chan struct{}) {
	t.Helper()
	var accepted atomic.Int32
	closed := make(chan struct{}, 16)
	srv := httptest.NewUnstartedServer(targetMux())
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		switch s {
		case http.StateNew:
			accepted.Add(1)
		case http.StateClosed:
			closed <- struct{}{}
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	return srv, &accepted, closed
}

// waitClosed waits, up to a bound, for the server to see a connection
// closed.
func waitClosed(t *testing.T, closed <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		t.Fatalf("%s: the server saw no connection closed", what)
	}
}

// TestCloseClosesIdleConnections: a probe removed at a reload (Close)
// takes its idle keep-alive connection with it, unless another probe of
// the same origin still uses its transport.
func TestCloseClosesIdleConnections(t *testing.T) {
	const none, sameOrigin, otherOrigin = "", "same origin", "other origin"
	tests := []struct {
		name   string
		other  string // another probe on the transport: none, sameOrigin, otherOrigin
		closes int
		closed bool // the server sees the connection closed; else the other probe reuses it
	}{
		{"the transport's last probe", none, 1, true},
		{"a probe of another origin shares the transport", otherOrigin, 1, true},
		{"a probe of the same origin keeps the connection", sameOrigin, 1, false},
		{"closed twice, uncounted once", sameOrigin, 2, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, accepted, closed := connServer(t)
			transports := httpprobe.NewTransports()
			t.Cleanup(transports.CloseIdle)
			p := newProberOn(t, transports, "keep_alive: true\nurl: "+srv.URL+"/up")
			var q *httpprobe.Prober
			switch tt.other {
			case sameOrigin:
				q = newProberOn(t, transports, "keep_alive: true\nurl: "+srv.URL+"/text")
			case otherOrigin:
				other, _, _ := connServer(t)
				q = newProberOn(t, transports, "keep_alive: true\nurl: "+other.URL+"/up")
			}
			checkResult(t, runProbe(t, p), probes.Up, "")
			for range tt.closes {
				p.Close()
			}
			if tt.closed {
				waitClosed(t, closed, "after Close")
			}
			if q == nil {
				return
			}
			res := runProbe(t, q)
			checkResult(t, res, probes.Up, "")
			if !tt.closed && (httpprobe.FactsOf(res).Phases.Connect != 0 || accepted.Load() != 1) {
				t.Errorf("after Close: connect = %v, server accepted %d connections; want the idle one reused (0, 1)",
					httpprobe.FactsOf(res).Phases.Connect, accepted.Load())
			}
		})
	}
}

// TestKeptConnectionOutlivesRun: a keep-alive connection a run received
// stays open after the run ends, for the next run, over HTTP/1.1 and
// HTTP/2; only connections no run received go with the run.
func TestKeptConnectionOutlivesRun(t *testing.T) {
	pki := newTestPKI(t, 24*time.Hour)
	tests := []struct {
		name    string
		tls     bool
		http2   bool
		version float64
	}{
		{"http", false, false, 1.1},
		{"https, HTTP/1.1", true, false, 1.1},
		{"https, HTTP/2", true, true, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var accepted atomic.Int32
			srv := httptest.NewUnstartedServer(targetMux())
			srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
				if s == http.StateNew {
					accepted.Add(1)
				}
			}
			srv.EnableHTTP2 = tt.http2
			var y string
			if tt.tls {
				srv.TLS = &tls.Config{Certificates: []tls.Certificate{pki.Server}}
				srv.StartTLS()
				y = fmt.Sprintf("keep_alive: true\nurl: %s/up\ntls: {ca_file: %q}", srv.URL, pki.CAFile)
			} else {
				srv.Start()
				y = "keep_alive: true\nurl: " + srv.URL + "/up"
			}
			t.Cleanup(srv.Close)
			p := newProber(t, y)
			first, second := runProbe(t, p), runProbe(t, p) // each run's context ends with it
			checkResult(t, first, probes.Up, "")
			checkResult(t, second, probes.Up, "")
			if httpprobe.FactsOf(second).HTTP == nil || httpprobe.FactsOf(second).HTTP.Version != tt.version {
				t.Fatalf("HTTP facts %+v; want version %v", httpprobe.FactsOf(second).HTTP, tt.version)
			}
			if httpprobe.FactsOf(second).Phases.Connect != 0 || accepted.Load() != 1 {
				t.Errorf("second run: connect = %v, server accepted %d connections; want the first run's reused (0, 1)",
					httpprobe.FactsOf(second).Phases.Connect, accepted.Load())
			}
		})
	}
}
