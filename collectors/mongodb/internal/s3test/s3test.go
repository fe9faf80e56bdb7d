// Package s3test runs a real S3-compatible server for tests: the Versity
// S3 Gateway (versitygw) over a POSIX folder, built by build.sh from its Go
// module. A bucket is a folder of that root and an object a file in it, so
// a test can lay out thousands of objects, and set their LastModified, as
// files.
package s3test

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
	RequireEnv = "LOOKOUT_S3_TESTS"
	BinEnv     = "LOOKOUT_S3_BIN"
)

// The root user's credentials.
const (
	AccessKey = "lookout-test-access"
	SecretKey = "lookout-test-secret-4f1c"
)

// Server is a running versitygw.
type Server struct {
	Endpoint string // http://127.0.0.1:PORT
	Root     string // the folder its buckets are in
	cmd      *exec.Cmd
	done     chan struct{}
}

// Binary returns the path of the versitygw binary, building it if needed.
// It skips the test when the binary cannot be had and RequireEnv is unset.
func Binary(t testing.TB) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	return buildtest.Binary(t, "versitygw", filepath.Join(filepath.Dir(file), "build.sh"), BinEnv, RequireEnv)
}

// Start starts versitygw on a free loopback port over a new folder, waits
// until it accepts connections, and stops it at the end of the test.
func Start(t testing.TB) *Server {
	t.Helper()
	bin := Binary(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("s3test: free port: %v", err)
	}
	addr := l.Addr().String()
	l.Close()
	s := &Server{Endpoint: "http://" + addr, Root: t.TempDir(), done: make(chan struct{})}
	s.cmd = exec.Command(bin, "--access", AccessKey, "--secret", SecretKey, "--port", addr, "--quiet", "posix", s.Root)
	s.cmd.Stdout = t.Output()
	s.cmd.Stderr = t.Output()
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("s3test: start: %v", err)
	}
	go func() {
		_ = s.cmd.Wait()
		close(s.done)
	}()
	t.Cleanup(func() {
		_ = s.cmd.Process.Kill()
		<-s.done
	})
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	for {
		conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
		if err == nil {
			conn.Close()
			return s
		}
		select {
		case <-s.done:
			t.Fatalf("s3test: versitygw exited before listening on %s", addr)
		case <-ctx.Done():
			t.Fatalf("s3test: versitygw not listening on %s after 20 s", addr)
		case <-time.After(50 * time.Millisecond):
		}
	}
}
