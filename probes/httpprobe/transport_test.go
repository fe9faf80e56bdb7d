package httpprobe_test

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lookout-dev/lookout/probes"
	"github.com/lookout-dev/lookout/probes/httpprobe"
)

// countingServer serves targetMux and counts the connections it accepted.
func countingServer(t *testing.T) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var conns atomic.Int32
	srv := httptest.NewUnstartedServer(targetMux())
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	return srv, &conns
}

func TestSharedTransports(t *testing.T) {
	tests := []struct {
		name        string
		a, b        string // the extra YAML of two probes of the same server
		connections int32  // after a, b, a, b each ran once in turn
	}{
		{"keep_alive off: a fresh connection for every run", "", "", 4},
		{"keep_alive on: probes alike share the idle connection", "keep_alive: true", "keep_alive: true", 1},
		{"different settings do not share", "keep_alive: true", "keep_alive: true\nip_protocol: ip4", 2},
		{"keep_alive on and off do not share", "keep_alive: true", "", 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, conns := countingServer(t)
			transports := httpprobe.NewTransports()
			t.Cleanup(transports.CloseIdle)
			a := newProberOn(t, transports, fmt.Sprintf("url: %s/up\n%s", srv.URL, tt.a))
			b := newProberOn(t, transports, fmt.Sprintf("url: %s/up\n%s", srv.URL, tt.b))
			for _, p := range []*httpprobe.Prober{a, b, a, b} {
				checkResult(t, runProbe(t, p), probes.Up, "")
			}
			if got := conns.Load(); got != tt.connections {
				t.Errorf("server saw %d connections; want %d", got, tt.connections)
			}
		})
	}
}

// TestSharedTransportsConcurrent runs probers of one transport at once:
// each counts only its own redirects.
func TestSharedTransportsConcurrent(t *testing.T) {
	srv := startServer(t, targetMux())
	transports := httpprobe.NewTransports()
	t.Cleanup(transports.CloseIdle)
	var wg sync.WaitGroup
	for n := range 4 {
		p := newProberOn(t, transports, fmt.Sprintf("url: %s/redirect/%d\nkeep_alive: true", srv.URL, n))
		wg.Go(func() {
			for range 10 {
				res := runProbe(t, p)
				checkResult(t, res, probes.Up, "")
				if httpprobe.FactsOf(res).HTTP == nil || httpprobe.FactsOf(res).HTTP.Redirects != n {
					t.Errorf("HTTP facts %+v; want %d redirects", httpprobe.FactsOf(res).HTTP, n)
					return
				}
			}
		})
	}
	wg.Wait()
}

func TestTransportsCloseIdle(t *testing.T) {
	srv, conns := countingServer(t)
	transports := httpprobe.NewTransports()
	p := newProberOn(t, transports, fmt.Sprintf("url: %s/up\nkeep_alive: true", srv.URL))
	checkResult(t, runProbe(t, p), probes.Up, "")
	transports.CloseIdle()
	res := runProbe(t, p)
	checkResult(t, res, probes.Up, "")
	if httpprobe.FactsOf(res).Phases.Connect <= 0 || conns.Load() != 2 {
		t.Errorf("after CloseIdle: connect = %v, server saw %d connections; want a new connection (> 0, 2)", httpprobe.FactsOf(res).Phases.Connect, conns.Load())
	}
	transports.CloseIdle()
}

// TestTransportsReadChangedFiles: a probe built after its ca_file changed
// trusts the new file, while one built before keeps what it read.
func TestTransportsReadChangedFiles(t *testing.T) {
	oldPKI, newPKI := newTestPKI(t, 24*time.Hour), newTestPKI(t, 24*time.Hour)
	oldSrv := startTLSServer(t, oldPKI, 0, targetMux())
	newSrv := startTLSServer(t, newPKI, 0, targetMux())
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	copyFile(t, oldPKI.CAFile, caFile)
	transports := httpprobe.NewTransports()
	t.Cleanup(transports.CloseIdle)
	tlsYAML := fmt.Sprintf("tls: {ca_file: %q}", caFile)
	before := newProberOn(t, transports, fmt.Sprintf("url: %s/up\n%s", oldSrv.URL, tlsYAML))
	checkResult(t, runProbe(t, before), probes.Up, "")

	copyFile(t, newPKI.CAFile, caFile)
	later := time.Now().Add(time.Hour) // a new modification time, however coarse the file system's clock
	if err := os.Chtimes(caFile, later, later); err != nil {
		t.Fatal(err)
	}
	after := newProberOn(t, transports, fmt.Sprintf("url: %s/up\n%s", newSrv.URL, tlsYAML))
	checkResult(t, runProbe(t, after), probes.Up, "")
	checkResult(t, runProbe(t, before), probes.Up, "")
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	data, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, data, 0o600); err != nil {
		t.Fatal(err)
	}
}
