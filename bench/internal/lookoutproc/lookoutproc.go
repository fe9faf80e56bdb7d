// Package lookoutproc runs the real `lookout run` binary in a child
// process for the benchmarks that measure the whole daemon from outside.
package lookoutproc

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// Proc is a running `lookout run`.
type Proc struct {
	// Base is the daemon's address as a URL: http://127.0.0.1:PORT.
	Base string
	// Public is the public listener's URL, when Options.Public opened it.
	Public string
	// Exited receives how the process ended.
	Exited <-chan error
	cmd    *exec.Cmd
	log    string
}

// Options are what StartWith adds to the config's server section.
type Options struct {
	// Public, when set, opens server.public on a free port with these
	// settings besides its listen address (the inside of a YAML flow
	// mapping, like "trusted_proxies: [127.0.0.1]"); "{}" opens it bare.
	Public string
}

// Start writes cfg (a config without server.listen and storage.path,
// which it adds) to dir/lookout.yml, starts `lookout run` on it with its
// log in dir/lookout.log, and waits until /readyz answers, for up to two
// minutes (10,000 probes take seconds to load).
func Start(ctx context.Context, binary, dir, cfg string) (*Proc, error) {
	return StartWith(ctx, binary, dir, cfg, Options{})
}

// StartWith is Start with the public listener.
func StartWith(ctx context.Context, binary, dir, cfg string, o Options) (*Proc, error) {
	addr, err := FreeAddr()
	if err != nil {
		return nil, err
	}
	server := "server:\n  listen: " + addr + "\n"
	public := ""
	if o.Public != "" {
		paddr, err := FreeAddr()
		if err != nil {
			return nil, err
		}
		settings := strings.Trim(strings.TrimSpace(o.Public), "{}")
		if settings != "" {
			settings = ", " + settings
		}
		server += fmt.Sprintf("  public: {listen: %q%s}\n", paddr, settings)
		public = "http://" + paddr
	}
	cfgFile := filepath.Join(dir, "lookout.yml")
	cfg = fmt.Sprintf("%sstorage:\n  path: %s\n%s", server, filepath.Join(dir, "data"), cfg)
	if err := os.WriteFile(cfgFile, []byte(cfg), 0o600); err != nil {
		return nil, err
	}
	logFile, err := os.Create(filepath.Join(dir, "lookout.log"))
	if err != nil {
		return nil, err
	}
	defer logFile.Close()
	cmd := exec.CommandContext(ctx, binary, "run", "--config", cfgFile, "--log.level", "warn")
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", binary, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	p := &Proc{Base: "http://" + addr, Public: public, Exited: exited, cmd: cmd, log: logFile.Name()}
	if err := p.waitReady(ctx); err != nil {
		_ = cmd.Process.Kill()
		return nil, fmt.Errorf("%w (log: %s)", err, p.LogTail())
	}
	return p, nil
}

// Pid is the daemon's process ID.
func (p *Proc) Pid() int { return p.cmd.Process.Pid }

// Stop sends SIGTERM and waits up to 30 s for the daemon to exit; it
// returns how long that took.
func (p *Proc) Stop() (time.Duration, error) {
	start := time.Now()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-p.Exited:
		if err != nil {
			return 0, fmt.Errorf("lookout stopped with %v (log: %s)", err, p.LogTail())
		}
		return time.Since(start), nil
	case <-time.After(30 * time.Second):
		_ = p.cmd.Process.Kill()
		return 0, errors.New("lookout did not stop within 30s of SIGTERM")
	}
}

func (p *Proc) waitReady(ctx context.Context) error {
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		select {
		case err := <-p.Exited:
			return fmt.Errorf("lookout exited before it was ready: %v", err)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		resp, err := http.Get(p.Base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
	}
	return errors.New("lookout not ready within 2 minutes")
}

// LogTail is the last lines of the daemon's log, for an error message.
func (p *Proc) LogTail() string {
	b, err := os.ReadFile(p.log)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return strings.Join(lines[max(0, len(lines)-5):], "\n")
}

// FreeAddr is a 127.0.0.1 address with a port free a moment ago.
func FreeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}
