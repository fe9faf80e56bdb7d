package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/lookout-dev/lookout/bench/internal/lookoutproc"
)

// ferretBinEnv names the FerretDB binary, as for the MongoDB tests.
const ferretBinEnv = "LOOKOUT_FERRETDB_BIN"

// defaultFerretBin is where collectors/mongodb/ferretdbtest/build.sh puts
// FerretDB, or $LOOKOUT_FERRETDB_BIN when set.
func defaultFerretBin() string {
	if bin := os.Getenv(ferretBinEnv); bin != "" {
		return bin
	}
	cache := os.Getenv("XDG_CACHE_HOME")
	if cache == "" {
		home, _ := os.UserHomeDir()
		cache = filepath.Join(home, ".cache")
	}
	return filepath.Join(cache, "lookout", "ferretdb-v1.24.2", "ferretdb")
}

// ferret is a running FerretDB with its SQLite databases in files: its
// in-memory SQLite never answers an update of a document that exists,
// and every heartbeat is one.
type ferret struct {
	// Addr is its MongoDB listener, Debug its debug HTTP listener
	// (/debug/metrics).
	Addr, Debug string
	cmd         *exec.Cmd
	exited      chan error
}

// startFerret starts FerretDB on 127.0.0.1 with its data in dir and waits
// until it accepts connections.
func startFerret(ctx context.Context, bin, dir string) (*ferret, error) {
	addr, err := lookoutproc.FreeAddr()
	if err != nil {
		return nil, err
	}
	debug, err := lookoutproc.FreeAddr()
	if err != nil {
		return nil, err
	}
	if debug == addr {
		return nil, errors.New("ferretdb: the same port was free twice; run again")
	}
	log, err := os.Create(filepath.Join(dir, "ferretdb.log"))
	if err != nil {
		return nil, err
	}
	defer log.Close()
	cmd := exec.Command(bin,
		"--listen-addr="+addr,
		"--debug-addr="+debug,
		"--handler=sqlite",
		"--sqlite-url=file:"+dir+"/",
		"--state-dir="+dir,
		"--telemetry=disable",
		"--log-level=ERROR",
	)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("ferretdb: start %s: %w (build it with collectors/mongodb/ferretdbtest/build.sh, or set -ferretdb)", bin, err)
	}
	f := &ferret{Addr: addr, Debug: debug, cmd: cmd, exited: make(chan error, 1)}
	go func() { f.exited <- cmd.Wait() }()
	deadline := time.Now().Add(20 * time.Second)
	for {
		conn, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			conn.Close()
			return f, nil
		}
		select {
		case err := <-f.exited:
			return nil, fmt.Errorf("ferretdb: exited before listening on %s: %v (log: %s)", addr, err, log.Name())
		case <-ctx.Done():
			f.Stop()
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			f.Stop()
			return nil, fmt.Errorf("ferretdb: not listening on %s after 20s", addr)
		}
	}
}

// Pid is FerretDB's process ID.
func (f *ferret) Pid() int { return f.cmd.Process.Pid }

// Stop kills FerretDB and waits for it to exit.
func (f *ferret) Stop() {
	_ = f.cmd.Process.Kill()
	<-f.exited
}

// ferretCounts is what FerretDB counted of its clients' messages.
type ferretCounts struct {
	// Requests is ferretdb_client_requests_total, all labels summed.
	Requests float64
	// Failed is ferretdb_client_responses_total with a result other than
	// "ok", by command and result.
	Failed map[string]float64
}

// Counts reads FerretDB's request and response counters from its debug
// listener.
func (f *ferret) Counts(ctx context.Context) (ferretCounts, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+f.Debug+"/debug/metrics", nil)
	if err != nil {
		return ferretCounts{}, err
	}
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		return ferretCounts{}, fmt.Errorf("ferretdb metrics: %w", err)
	}
	defer resp.Body.Close()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		return ferretCounts{}, fmt.Errorf("ferretdb metrics: %w", err)
	}
	c := ferretCounts{Failed: map[string]float64{}}
	if fam := fams["ferretdb_client_requests_total"]; fam != nil {
		for _, m := range fam.GetMetric() {
			c.Requests += m.GetCounter().GetValue()
		}
	}
	if fam := fams["ferretdb_client_responses_total"]; fam != nil {
		for _, m := range fam.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["result"] != "ok" {
				c.Failed[labels["command"]+" "+labels["result"]] += m.GetCounter().GetValue()
			}
		}
	}
	return c, nil
}
