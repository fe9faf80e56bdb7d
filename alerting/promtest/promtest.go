// Package promtest starts the real Prometheus programs that Lookout's
// tests run against: prometheus, promtool and alertmanager, built by
// build.sh from the Go module proxy into a cache folder that
// LOOKOUT_PROMETHEUS_DIR names (.ci/test sets it).
//
// Without that variable the tests that need them skip, unless
// LOOKOUT_PROMETHEUS_TESTS is set, which makes them fail instead (CI sets
// it, so they never pass by skipping there).
package promtest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/common/model"
)

// Environment variables the tests read.
const (
	DirEnv   = "LOOKOUT_PROMETHEUS_DIR"
	TestsEnv = "LOOKOUT_PROMETHEUS_TESTS"
)

// Bin is the path of one of the programs build.sh builds (prometheus,
// promtool, alertmanager); the test skips without them, or fails when
// LOOKOUT_PROMETHEUS_TESTS is set.
func Bin(t testing.TB, name string) string {
	t.Helper()
	dir := os.Getenv(DirEnv)
	if dir == "" {
		msg := fmt.Sprintf("%s is not set; run alerting/promtest/build.sh and set it to the folder it prints", DirEnv)
		if os.Getenv(TestsEnv) != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	bin := filepath.Join(dir, name)
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("%s: %v (run alerting/promtest/build.sh)", name, err)
	}
	return bin
}

// Server is a running Prometheus or Alertmanager.
type Server struct {
	// URL is its http:// base URL.
	URL string
	// Dir holds its config and data.
	Dir string
}

// FreeAddr returns a loopback address no one listens on, for a program
// that takes its listen address as a flag.
func FreeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// Prometheus starts prometheus with config (prometheus.yml's text) and
// extra flags, its storage in a temporary folder, and waits until it is
// ready.
func Prometheus(t testing.TB, config string, flags ...string) *Server {
	t.Helper()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfg, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := FreeAddr(t)
	args := append([]string{
		"--config.file=" + cfg, "--web.listen-address=" + addr,
		"--storage.tsdb.path=" + filepath.Join(dir, "data"), "--log.level=warn",
	}, flags...)
	start(t, Bin(t, "prometheus"), args, "http://"+addr+"/-/ready")
	return &Server{URL: "http://" + addr, Dir: dir}
}

// Alertmanager starts alertmanager with config (alertmanager.yml's text),
// alone in its cluster, and waits until it is ready. web is its web
// config file's text (TLS, basic auth), or "" for none; with TLS its URL
// is https.
func Alertmanager(t testing.TB, config, web string, client *http.Client) *Server {
	t.Helper()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "alertmanager.yml")
	if err := os.WriteFile(cfg, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := FreeAddr(t)
	args := []string{
		"--config.file=" + cfg, "--web.listen-address=" + addr, "--storage.path=" + filepath.Join(dir, "data"),
		"--cluster.listen-address=", "--log.level=warn",
	}
	scheme := "http"
	if web != "" {
		wc := filepath.Join(dir, "web.yml")
		if err := os.WriteFile(wc, []byte(web), 0o600); err != nil {
			t.Fatal(err)
		}
		args = append(args, "--web.config.file="+wc)
		scheme = "https"
	}
	base := scheme + "://" + addr
	startWith(t, Bin(t, "alertmanager"), args, base+"/-/ready", client)
	return &Server{URL: base, Dir: dir}
}

func start(t testing.TB, bin string, args []string, ready string) {
	t.Helper()
	startWith(t, bin, args, ready, http.DefaultClient)
}

// startWith runs bin, stops it at the end of the test, and waits (20 s at
// most) until ready answers 200, through client. Its output goes to the
// test's log.
func startWith(t testing.TB, bin string, args []string, ready string, client *http.Client) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	out := t.Output()
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", filepath.Base(bin), err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-done
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		req, err := http.NewRequest(http.MethodGet, ready, nil)
		if err != nil {
			t.Fatal(err)
		}
		if resp, err := client.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		select {
		case <-done:
			t.Fatalf("%s exited before it was ready", filepath.Base(bin))
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not ready at %s after 20 s", filepath.Base(bin), ready)
		}
	}
}

// Query runs an instant PromQL query through s's HTTP API, as Grafana
// does, and returns its result (a vector, scalar, matrix or string), or
// the error Prometheus answered.
func (s *Server) Query(ctx context.Context, q string) (model.Value, error) {
	var out struct {
		Status    string          `json:"status"`
		ErrorType string          `json:"errorType"`
		Error     string          `json:"error"`
		Data      json.RawMessage `json:"data"`
	}
	if err := s.get(ctx, "/api/v1/query", url.Values{"query": {q}}, &out); err != nil {
		return nil, err
	}
	if out.Status != "success" {
		return nil, fmt.Errorf("%s: %s", out.ErrorType, out.Error)
	}
	var data struct {
		Type   model.ValueType `json:"resultType"`
		Result json.RawMessage `json:"result"`
	}
	if err := json.Unmarshal(out.Data, &data); err != nil {
		return nil, err
	}
	var v model.Value
	switch data.Type {
	case model.ValVector:
		v = &model.Vector{}
	case model.ValMatrix:
		v = &model.Matrix{}
	case model.ValScalar:
		v = &model.Scalar{}
	case model.ValString:
		v = &model.String{}
	default:
		return nil, fmt.Errorf("result type %q", data.Type)
	}
	if err := json.Unmarshal(data.Result, v); err != nil {
		return nil, err
	}
	if p, ok := v.(*model.Vector); ok {
		return *p, nil
	}
	if p, ok := v.(*model.Matrix); ok {
		return *p, nil
	}
	return v, nil
}

// get GETs path with query from s and decodes its JSON answer into out,
// whatever its status (the API's errors are JSON too).
func (s *Server) get(ctx context.Context, path string, query url.Values, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.URL+path+"?"+query.Encode(), nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return err
	}
	if err := json.Unmarshal(body, out); err != nil {
		return fmt.Errorf("GET %s: %s: %.200s", path, resp.Status, body)
	}
	return nil
}

// Get GETs one of s's JSON API endpoints (path, with query) and decodes
// the "data" of its answer into out.
func (s *Server) Get(ctx context.Context, path string, query url.Values, out any) error {
	var env struct {
		Status string          `json:"status"`
		Error  string          `json:"error"`
		Data   json.RawMessage `json:"data"`
	}
	if err := s.get(ctx, path, query, &env); err != nil {
		return err
	}
	if env.Status != "success" {
		return fmt.Errorf("GET %s: %s", path, env.Error)
	}
	return json.Unmarshal(env.Data, out)
}

// Eventually calls check every 200 ms until it returns "" or timeout
// passes, and fails the test with check's last answer.
func Eventually(t testing.TB, timeout time.Duration, check func(ctx context.Context) string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		problem := check(ctx)
		cancel()
		if problem == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %s", timeout, problem)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
