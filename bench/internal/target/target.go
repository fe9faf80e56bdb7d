// Package target is the HTTP server the benchmarks probe. It runs in a
// child process, the benchmark binary re-executed with -serve-target, so
// that its CPU time and memory are not counted against the benchmark.
package target

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Flag is the command-line flag, without its dash, that makes a benchmark
// binary serve as the target.
const Flag = "serve-target"

// Body is what the target answers to every HTTP request but those of its
// OTLP receiver (OTLPPath).
const Body = `{"status":"UP"}`

// Serve listens on 127.0.0.1:0 (HTTP over TCP, and DNS over UDP on the
// same port number; OTLP/HTTP trace exports at OTLPPath on the HTTP
// listener), writes the address as one line to out,
// and serves until ctx is done or in reaches EOF (the parent closed the
// pipe or died).
func Serve(ctx context.Context, in io.Reader, out io.Writer) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		_, _ = io.Copy(io.Discard, in)
		cancel()
	}()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("target: listen: %w", err)
	}
	body := []byte(Body)
	length := []string{strconv.Itoa(len(body))}
	jsonType := []string{"application/json"}
	otlp := &otlpReceiver{}
	srv := &http.Server{
		Handler: otlp.route(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			h := w.Header()
			h["Content-Type"] = jsonType
			h["Content-Length"] = length
			_, _ = w.Write(body)
		})),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      10 * time.Second,
		IdleTimeout:       30 * time.Second,
	}
	dnsSrv, err := serveDNS(ln.Addr())
	if err != nil {
		_ = ln.Close()
		return err
	}
	defer func() { _ = dnsSrv.Shutdown() }()
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	if _, err := fmt.Fprintln(out, ln.Addr().String()); err != nil {
		_ = srv.Close()
		return fmt.Errorf("target: write address: %w", err)
	}
	select {
	case err := <-errc:
		return fmt.Errorf("target: serve: %w", err)
	case <-ctx.Done():
	}
	sctx, scancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer scancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("target: shutdown: %w", err)
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("target: serve: %w", err)
	}
	return nil
}

// Child is a target running in a child process.
type Child struct {
	// Addr is the host:port the target listens on.
	Addr  string
	cmd   *exec.Cmd
	stdin io.WriteCloser
}

// Start re-executes the running binary with -serve-target and waits up to
// ten seconds for the address it listens on.
func Start(ctx context.Context) (*Child, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("target: find own binary: %w", err)
	}
	cmd := exec.CommandContext(ctx, exe, "-"+Flag)
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("target: stdin pipe: %w", err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("target: stdout pipe: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("target: start %s: %w", exe, err)
	}
	c := &Child{cmd: cmd, stdin: stdin}
	addrc := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(stdout).ReadString('\n')
		addrc <- strings.TrimSpace(line)
	}()
	select {
	case c.Addr = <-addrc:
	case <-time.After(10 * time.Second):
	}
	if c.Addr == "" {
		_ = c.Stop()
		return nil, errors.New("target: child printed no address within 10s")
	}
	return c, nil
}

// Pid is the child's process id.
func (c *Child) Pid() int { return c.cmd.Process.Pid }

// Stop closes the child's stdin, which makes it shut down, and waits for
// it to exit.
func (c *Child) Stop() error {
	_ = c.stdin.Close()
	done := make(chan error, 1)
	go func() { done <- c.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			return fmt.Errorf("target: child: %w", err)
		}
		return nil
	case <-time.After(10 * time.Second):
		_ = c.cmd.Process.Kill()
		<-done
		return errors.New("target: child did not exit within 10s; killed")
	}
}

// Main ends a benchmark program's main: as the target child process when
// serve is set, else run; it exits 1 when either fails.
func Main(name string, serve bool, run func(ctx context.Context) error) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	var err error
	if serve {
		err = Serve(ctx, os.Stdin, os.Stdout)
	} else {
		err = run(ctx)
	}
	stop()
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
		os.Exit(1)
	}
}
