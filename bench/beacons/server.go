package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/lookout-dev/lookout/bench/internal/usage"
	"github.com/lookout-dev/lookout/collectors/webvitals"
	"github.com/lookout-dev/lookout/config"
)

// benchOrigin is the page origin the beacons come from, allowed by the config.
const benchOrigin = "https://www.example.com"

// collectorConfig is what both server modes run: realistic templates, the
// default max_routes, and a rate limit no loopback client reaches (every
// beacon comes from 127.0.0.1, one bucket).
func collectorConfig(maxRoutes int) config.WebVitals {
	return config.WebVitals{
		AllowedOrigins: []string{benchOrigin, "https://*.example.com"},
		Routes:         []string{"/blog/*", "/users/:id", "/docs/*"},
		MaxRoutes:      maxRoutes,
		RateLimit:      config.RateLimit{PerIP: 1e9, Burst: 1e9},
	}.WithDefaults()
}

// bareHandler is the baseline: read the body, answer 204.
func bareHandler(w http.ResponseWriter, r *http.Request) {
	_, _ = io.Copy(io.Discard, r.Body)
	w.WriteHeader(http.StatusNoContent)
}

// serverReport is what the server child reports when asked.
type serverReport struct {
	VmRSS, VmHWM int64 // bytes, from /proc/self/status
	HeapInuse    uint64
	Routes       int                // distinct route label values in webvitals_reports_total
	Accepted     float64            // sum of webvitals_reports_total
	Rejected     map[string]float64 // lookout_webvitals_rejected_total by reason, non-zero only
}

// serve is the server child: Lookout's collector and, unless memOnly, the
// bare handler, each on its own 127.0.0.1 listener. It prints
// "lookout-addr bare-addr" as one line, then answers each "stats" line on
// stdin with a JSON line, and exits at EOF.
func serve(ctx context.Context, maxRoutes int) error {
	reg := prometheus.NewRegistry()
	col, err := webvitals.New(collectorConfig(maxRoutes), nil, reg, slog.New(slog.DiscardHandler))
	if err != nil {
		return err
	}
	look, err := listen(ctx, col)
	if err != nil {
		return err
	}
	defer look.Close()
	bare, err := listen(ctx, http.HandlerFunc(bareHandler))
	if err != nil {
		return err
	}
	defer bare.Close()
	fmt.Printf("%s %s\n", look.Addr, bare.Addr)
	in := bufio.NewScanner(os.Stdin)
	enc := json.NewEncoder(os.Stdout)
	for in.Scan() {
		if in.Text() != "stats" {
			continue
		}
		if err := enc.Encode(readStats(reg)); err != nil {
			return fmt.Errorf("write stats: %w", err)
		}
	}
	return nil
}

func listen(ctx context.Context, h http.Handler) (*http.Server, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	srv := &http.Server{
		Addr:              ln.Addr().String(),
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      10 * time.Second,
		IdleTimeout:       60 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return ctx },
	}
	go func() {
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			fmt.Fprintf(os.Stderr, "beacons: serve: %v\n", err)
		}
	}()
	return srv, nil
}

// readStats reads the RSS first, so that gathering does not count.
func readStats(reg *prometheus.Registry) serverReport {
	var s serverReport
	mem := usage.ReadMemory(0)
	s.VmRSS, s.VmHWM = mem.RSS, mem.HWM
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	s.HeapInuse = ms.HeapInuse
	s.Rejected = map[string]float64{}
	mfs, err := reg.Gather()
	if err != nil {
		fmt.Fprintf(os.Stderr, "beacons: gather: %v\n", err)
	}
	routes := map[string]bool{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			switch mf.GetName() {
			case "webvitals_reports_total":
				s.Accepted += m.GetCounter().GetValue()
				for _, l := range m.GetLabel() {
					if l.GetName() == "route" {
						routes[l.GetValue()] = true
					}
				}
			case "lookout_webvitals_rejected_total":
				if v := m.GetCounter().GetValue(); v > 0 {
					s.Rejected[m.GetLabel()[0].GetValue()] = v
				}
			}
		}
	}
	s.Routes = len(routes)
	return s
}

// serverChild is a server running in a child process.
type serverChild struct {
	lookout, bare string
	cmd           *exec.Cmd
	stdin         io.WriteCloser
	out           *bufio.Reader
}

func startServer(ctx context.Context, maxRoutes int) (*serverChild, error) {
	cmd, err := child(ctx, "-serve", fmt.Sprintf("-max-routes=%d", maxRoutes))
	if err != nil {
		return nil, err
	}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("server: stdin pipe: %w", err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("server: stdout pipe: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("server: start: %w", err)
	}
	s := &serverChild{cmd: cmd, stdin: stdin, out: bufio.NewReader(stdout)}
	line, err := s.readLine(10 * time.Second)
	if err == nil {
		_, err = fmt.Sscan(line, &s.lookout, &s.bare)
	}
	if err != nil {
		s.stop()
		return nil, fmt.Errorf("server: address: %w", err)
	}
	return s, nil
}

func (s *serverChild) readLine(timeout time.Duration) (string, error) {
	type result struct {
		line string
		err  error
	}
	c := make(chan result, 1)
	go func() {
		line, err := s.out.ReadString('\n')
		c <- result{line, err}
	}()
	select {
	case r := <-c:
		return r.line, r.err
	case <-time.After(timeout):
		return "", fmt.Errorf("no answer within %v", timeout)
	}
}

func (s *serverChild) stats() (serverReport, error) {
	var st serverReport
	if _, err := io.WriteString(s.stdin, "stats\n"); err != nil {
		return st, fmt.Errorf("server: ask stats: %w", err)
	}
	line, err := s.readLine(30 * time.Second)
	if err != nil {
		return st, fmt.Errorf("server: stats: %w", err)
	}
	if err := json.Unmarshal([]byte(line), &st); err != nil {
		return st, fmt.Errorf("server: stats: %w", err)
	}
	return st, nil
}

// stop closes the child's stdin and waits up to 10s for it to exit.
func (s *serverChild) stop() {
	_ = s.stdin.Close()
	done := make(chan error, 1)
	go func() { done <- s.cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = s.cmd.Process.Kill()
		<-done
	}
}

// child is this binary re-executed with args, killed if the parent dies.
func child(ctx context.Context, args ...string) (*exec.Cmd, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("find own binary: %w", err)
	}
	cmd := exec.CommandContext(ctx, exe, args...)
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	return cmd, nil
}
