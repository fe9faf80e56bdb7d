// Command alertlatency measures how long an alert takes from the
// evaluation at which its `for` elapses to its webhook request arriving,
// through the daemon's whole alerting path in one process, in real time:
// a store fed at each evaluation, rules.Manager.Run, the dispatcher, the
// outbox on a bbolt file and the webhook receiver, POSTing to an HTTP
// server on 127.0.0.1. The goal of the alerting issue is under 1 s,
// group_wait excluded.
//
// -alerts alerts, each with its own alert_id label, start every -every
// evaluations; each stays for `for` plus two intervals, then resolves.
// For each it records the start of the evaluation at which it turned
// firing (Options.Ingest runs first in each Tick), when the rule manager
// handed it to the dispatcher, when the outbox committed its
// notification, and when the request reached the server.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sync"
	"time"
)

// goal is the most an alert may take from its evaluation to the webhook.
const goal = time.Second

type options struct {
	alerts        int
	every         int
	interval      time.Duration
	forDur        time.Duration
	groupWait     time.Duration
	groupInterval time.Duration
	dir           string
}

func main() {
	var o options
	flag.IntVar(&o.alerts, "alerts", 20, "alerts to fire, one after the other")
	flag.IntVar(&o.every, "every", 3, "evaluations between the starts of two alerts")
	flag.DurationVar(&o.interval, "interval", time.Second, "evaluation_interval")
	flag.DurationVar(&o.forDur, "for", 3*time.Second, "the rule's for")
	flag.DurationVar(&o.groupWait, "group-wait", 0, "group_wait of the route (0: none; the dispatcher gets 1ns, since it takes 0 as \"inherit 30s\")")
	flag.DurationVar(&o.groupInterval, "group-interval", time.Second, "group_interval of the route")
	flag.StringVar(&o.dir, "dir", "", "directory for the bbolt file (default: a new temporary directory); its disk's fsync is measured")
	flag.Parse()
	if err := run(o, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "alertlatency:", err)
		os.Exit(1)
	}
}

func run(o options, out io.Writer) error {
	if o.alerts < 1 || o.every < 1 || o.interval <= 0 || o.forDur < 0 {
		return errors.New("need -alerts and -every ≥ 1, -interval > 0, -for ≥ 0")
	}
	dir, err := os.MkdirTemp(o.dir, "alertlatency")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	rec := newRecorder(o.alerts)
	srv := &http.Server{Handler: rec, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second, WriteTimeout: 10 * time.Second}
	c, err := newChain(o, dir, "http://"+ln.Addr().String()+"/hook", rec)
	if err != nil {
		ln.Close()
		return err
	}
	defer c.db.Close()
	fmt.Fprintf(out, "%d alerts, one every %d evaluations; evaluation_interval %s, for %s, group_wait %s, group_interval %s; bbolt in %s\n",
		o.alerts, o.every, o.interval, o.forDur, o.groupWait, o.groupInterval, dir)

	limit := time.Duration(o.alerts*o.every+10)*o.interval + o.forDur
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	var wg sync.WaitGroup
	wg.Go(func() { _ = c.outbox.Run(ctx) })
	wg.Go(func() { _ = c.disp.Run(ctx) })
	wg.Go(func() { _ = c.mgr.Run(ctx) })
	wg.Go(func() {
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			fmt.Fprintln(os.Stderr, "alertlatency: serve:", err)
		}
	})
	start := time.Now()
	select {
	case <-rec.allIn:
	case <-ctx.Done():
	}
	took := time.Since(start)
	cancel()
	sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer scancel()
	_ = srv.Shutdown(sctx)
	wg.Wait()
	fmt.Fprintf(out, "ran %s\n\n", took.Round(time.Millisecond))
	return report(out, rec, o)
}
