// Command cluster measures what running Lookout as a cluster costs: the
// state database's operations per second in steady state, and each
// replica's CPU and memory against a single replica on bbolt running its
// share of the probes.
//
//	go build -o /tmp/lookout ./cmd/lookout
//	go build -o /tmp/clusterbench ./bench/cluster
//	/tmp/clusterbench -lookout /tmp/lookout [-probes 10000] [-replicas 3] [-window 2m] [-warmup 45s] [-compare 1000]
//
// It starts FerretDB (SQLite in files, in a temporary folder) and the
// probes' target in this process, then, one phase after the other:
//
//  1. -replicas `lookout run` with a cluster section (lease 15s) and the
//     same -probes HTTP probes, each replica talking to FerretDB through a
//     proxy of its own that counts the messages it sends, by command;
//     once every replica sees all of them (GET /api/v1/cluster) and
//     -warmup has passed, it measures over -window the database
//     operations, each replica's CPU time (/proc/PID/stat) and its RSS
//     (sampled every 5 s), and the probe runs each made (the target counts
//     requests by the `from` parameter of each replica's probe URLs);
//  2. one `lookout run` without a cluster section (bbolt only) with
//     -probes / -replicas probes (rounded up), measured the same way;
//  3. unless -compare is 0, the cluster again with -compare probes, to
//     show whether database operations grow with probe runs (they should
//     not: a probe's result is not written to the database per run).
//
// Only one phase runs at a time: the machine's cores are not shared
// between the daemons compared.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"
)

type options struct {
	lookout, ferretdb string
	probes, replicas  int
	compare           int
	interval, lease   time.Duration
	warmup, window    time.Duration
	compareWindow     time.Duration
	keep              bool
}

func main() {
	var o options
	flag.StringVar(&o.lookout, "lookout", "/tmp/lookout", "the lookout binary")
	flag.StringVar(&o.ferretdb, "ferretdb", defaultFerretBin(), "the FerretDB binary (default $"+ferretBinEnv+", or where collectors/mongodb/ferretdbtest/build.sh puts it)")
	flag.IntVar(&o.probes, "probes", 10000, "probes of the cluster, spread over its replicas")
	flag.IntVar(&o.replicas, "replicas", 3, "replicas of the cluster")
	flag.IntVar(&o.compare, "compare", 1000, "probes of a second cluster run, to compare database operations with (0: none)")
	flag.DurationVar(&o.interval, "interval", time.Minute, "interval of every probe")
	flag.DurationVar(&o.lease, "lease", 15*time.Second, "cluster.lease")
	flag.DurationVar(&o.warmup, "warmup", 45*time.Second, "time every daemon runs before the window, once the replicas see each other")
	flag.DurationVar(&o.window, "window", 2*time.Minute, "measurement window of the cluster and of the single replica")
	flag.DurationVar(&o.compareWindow, "compare-window", time.Minute, "measurement window of the -compare run (its warm-up is at most 30s)")
	flag.BoolVar(&o.keep, "keep", false, "keep the temporary folders (configs, logs, databases)")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, o, os.Stdout)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "cluster:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, o options, out io.Writer) (err error) {
	if o.probes < o.replicas || o.replicas < 1 || o.compare < 0 || o.window <= 0 || o.interval <= 0 {
		return errors.New("want -replicas ≥ 1, -probes ≥ -replicas, -compare ≥ 0, -window and -interval positive")
	}
	if _, err := os.Stat(o.lookout); err != nil {
		return fmt.Errorf("-lookout: %w (go build -o /tmp/lookout ./cmd/lookout)", err)
	}
	root, err := os.MkdirTemp("", "clusterbench-")
	if err != nil {
		return err
	}
	if o.keep {
		fmt.Fprintf(out, "keeping %s\n", root)
	} else {
		defer os.RemoveAll(root)
	}
	dbDir, err := mkdir(root, "ferretdb")
	if err != nil {
		return err
	}
	db, err := startFerret(ctx, o.ferretdb, dbDir)
	if err != nil {
		return err
	}
	defer db.Stop()
	tgt, err := startTarget()
	if err != nil {
		return err
	}
	defer tgt.Close()
	single := (o.probes + o.replicas - 1) / o.replicas
	total := o.window*2 + 2*o.warmup
	if o.compare > 0 {
		total += min(o.warmup, 30*time.Second) + o.compareWindow
	}
	fmt.Fprintf(out, "cluster: %d replicas × %d HTTP probes every %s (lease %s), against 1 replica on bbolt × %d probes; %s warm-up, %s window; about %s besides start-up\n",
		o.replicas, o.probes, o.interval, o.lease, single, o.warmup, o.window, total.Round(time.Second))
	fmt.Fprintf(out, "FerretDB pid %d on %s (SQLite in %s); target %s in this process\n\n", db.Pid(), db.Addr, dbDir, tgt.URL)

	big, err := runCluster(ctx, o, db, tgt, root, phaseSpec{probes: o.probes, database: "lookout", warmup: o.warmup, window: o.window})
	if err != nil {
		return err
	}
	reportCluster(out, o, big)
	alone, err := runSingle(ctx, o, tgt, root, single)
	if err != nil {
		return err
	}
	reportSingle(out, alone)
	reportRatios(out, big, alone)
	if o.compare == 0 {
		return nil
	}
	small, err := runCluster(ctx, o, db, tgt, root, phaseSpec{probes: o.compare, database: "lookout_compare", warmup: min(o.warmup, 30*time.Second), window: o.compareWindow})
	if err != nil {
		return err
	}
	reportCluster(out, o, small)
	reportScaling(out, o, big, small)
	return nil
}

func mkdir(root, name string) (string, error) {
	dir := filepath.Join(root, name)
	return dir, os.Mkdir(dir, 0o755)
}
