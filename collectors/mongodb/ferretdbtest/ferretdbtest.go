// Package ferretdbtest starts a real FerretDB v1.24.2 (SQLite backend, in
// memory) for tests of Lookout's MongoDB collectors and of the daemon. Only
// tests import it.
//
// The binary comes from $LOOKOUT_FERRETDB_BIN, or else from build.sh in this
// folder, which builds it into a cache folder (about 40 s the first time on a
// 2-core machine, instant after). .ci/test runs build.sh and sets
// LOOKOUT_MONGO_TESTS=1, which turns a binary that cannot be had into a test
// failure instead of a skip.
package ferretdbtest

import (
	"context"
	"net"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/lookout-dev/lookout/collectors/mongodb/internal/buildtest"
)

// Environment variables read by Binary.
const (
	RequireEnv = "LOOKOUT_MONGO_TESTS"
	BinEnv     = "LOOKOUT_FERRETDB_BIN"
)

// Binary returns the path of the ferretdb binary, building it if needed. It
// skips the test when the binary cannot be had and RequireEnv is unset.
func Binary(t testing.TB) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	return buildtest.Binary(t, "FerretDB", filepath.Join(filepath.Dir(file), "build.sh"), BinEnv, RequireEnv)
}

// Server is a running FerretDB.
type Server struct {
	// URI is a mongodb:// URI that reaches the server.
	URI string
	// Addr is the host:port that the server listens on.
	Addr string
	// TLSAddr is the host:port of its TLS listener, when it has one.
	TLSAddr string

	bin  string
	args []string
	cmd  *exec.Cmd
	done chan struct{}
	t    testing.TB
}

// Options turn on what a plain Start leaves off.
type Options struct {
	// Username and Password, when set, make the server require SCRAM
	// authentication, with that user created in the admin database.
	Username, Password string
	// CertFile and KeyFile, when set, make the server listen for TLS on
	// TLSAddr, beside the plain port.
	CertFile, KeyFile string
	// OnDisk keeps the SQLite databases in files in the test's folder
	// rather than in memory: FerretDB's in-memory SQLite never answers an
	// update of a document that exists, so tests that update need it.
	OnDisk bool
}

// Start starts FerretDB on a free loopback port with its SQLite backend in
// memory (its state file in a folder of its own), waits until it accepts
// connections, and stops it at the end of the test.
func Start(t testing.TB) *Server {
	t.Helper()
	return StartWith(t, Options{})
}

// StartWith is Start with authentication or TLS.
func StartWith(t testing.TB, o Options) *Server {
	t.Helper()
	bin := Binary(t)
	dir := t.TempDir()
	ports := freeAddrs(t, 3)
	addr, debugAddr := ports[0], ports[1]
	s := &Server{
		URI:  "mongodb://" + addr + "/",
		Addr: addr,
		bin:  bin,
		args: []string{
			"--listen-addr=" + addr,
			"--debug-addr=" + debugAddr,
			"--handler=sqlite",
			"--sqlite-url=file:" + dir + "/?mode=memory",
			"--state-dir=" + dir,
			"--telemetry=disable",
			"--log-level=ERROR",
		},
		t: t,
	}
	if o.OnDisk {
		s.args[3] = "--sqlite-url=file:" + dir + "/"
	}
	if o.Username != "" {
		s.args = append(s.args, "--test-enable-new-auth", "--setup-database=admin",
			"--setup-username="+o.Username, "--setup-password="+o.Password)
	}
	if o.CertFile != "" {
		s.TLSAddr = ports[2]
		s.args = append(s.args, "--listen-tls="+s.TLSAddr,
			"--listen-tls-cert-file="+o.CertFile, "--listen-tls-key-file="+o.KeyFile)
	}
	s.start()
	t.Cleanup(s.Stop)
	return s
}

func (s *Server) start() {
	s.t.Helper()
	s.cmd = exec.Command(s.bin, s.args...)
	s.cmd.SysProcAttr = childAttr()
	s.cmd.Stdout = s.t.Output()
	s.cmd.Stderr = s.t.Output()
	if err := s.cmd.Start(); err != nil {
		s.t.Fatalf("ferretdbtest: start: %v", err)
	}
	s.done = make(chan struct{})
	go func(cmd *exec.Cmd, done chan struct{}) {
		_ = cmd.Wait()
		close(done)
	}(s.cmd, s.done)

	ctx, cancel := context.WithTimeout(s.t.Context(), 20*time.Second)
	defer cancel()
	for {
		conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", s.Addr)
		if err == nil {
			conn.Close()
			return
		}
		select {
		case <-s.done:
			s.t.Fatalf("ferretdbtest: ferretdb exited before listening on %s", s.Addr)
		case <-ctx.Done():
			s.Stop()
			s.t.Fatalf("ferretdbtest: ferretdb not listening on %s after 20 s", s.Addr)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Stop kills the server and waits for it to exit; it does nothing when the
// server is not running.
func (s *Server) Stop() {
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	<-s.done
	s.cmd = nil
}

// Restart starts a stopped server again on the same address; its data,
// held in memory, is gone.
func (s *Server) Restart() {
	s.t.Helper()
	s.Stop()
	s.start()
}

// freeAddrs returns n loopback addresses whose ports were free a moment
// ago, all different: the listeners stay open until all are chosen, as
// the kernel may hand a port just closed out again (FerretDB's debug
// listener then took the port its clients dial).
func freeAddrs(t testing.TB, n int) []string {
	t.Helper()
	addrs := make([]string, n)
	for i := range addrs {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("ferretdbtest: free port: %v", err)
		}
		defer l.Close()
		addrs[i] = l.Addr().String()
	}
	return addrs
}
