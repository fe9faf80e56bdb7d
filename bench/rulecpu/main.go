// Command rulecpu measures the CPU the alerting engine spends on 1,000
// alerting rules over 5,000 of Lookout's own series, evaluated every
// 15 s. The goal of the alerting issue is under 5 % of one core.
//
// It builds an alerting/store.Store fed with probe-shaped series through
// Store.Ingest (then Store.Compact, as the daemon's ingest does), loads a
// generated rule file with rules.Load and evaluates it with
// rules.Manager.Tick at simulated 15 s steps, so no round waits: it first
// fills -history of samples (so range functions read real data), then
// measures -rounds rounds, reading the process's CPU time
// (getrusage(RUSAGE_SELF), all threads, so GC counts) around the ingest
// and around the Tick of each. The share of a core is CPU per round
// divided by the interval.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"text/tabwriter"
	"time"

	"github.com/lookout-dev/lookout/bench/internal/usage"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/lookout-dev/lookout/alerting"
	"github.com/lookout-dev/lookout/alerting/rules"
	"github.com/lookout-dev/lookout/alerting/store"
)

// goalShare is the most of one core rules and ingest may take.
const goalShare = 0.05

type options struct {
	probes, teams int
	rules         int
	perGroup      int
	interval      time.Duration
	history       time.Duration
	rounds        int
	cpuprofile    string
	profileRounds int
	keepRulesFile bool
}

func main() {
	var o options
	flag.IntVar(&o.probes, "probes", 500, "probes; each has 10 series")
	flag.IntVar(&o.teams, "teams", 20, "teams the probes are spread over")
	flag.IntVar(&o.rules, "rules", 1000, "alerting rules")
	flag.IntVar(&o.perGroup, "per-group", 50, "rules per group")
	flag.DurationVar(&o.interval, "interval", 15*time.Second, "evaluation interval (simulated)")
	flag.DurationVar(&o.history, "history", 30*time.Minute, "samples ingested and rules evaluated before measuring")
	flag.IntVar(&o.rounds, "rounds", 20, "measured rounds")
	flag.StringVar(&o.cpuprofile, "cpuprofile", "", "write a CPU profile of -profile-rounds further rounds to this file")
	flag.IntVar(&o.profileRounds, "profile-rounds", 200, "rounds run under the CPU profiler")
	flag.BoolVar(&o.keepRulesFile, "keep-rules", false, "keep the generated rule file and print its path")
	flag.Parse()
	if err := run(o, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "rulecpu:", err)
		os.Exit(1)
	}
}

// bench is the store, the fleet feeding it and the rules reading it.
type bench struct {
	o     options
	fleet *fleet
	store *store.Store
	mgr   *rules.Manager
	reg   *prometheus.Registry
	sent  *countingSender
	start time.Time
	step  int
}

// countingSender stands in for the dispatcher: it counts the alerts of
// each evaluation and keeps none.
type countingSender struct{ firing, resolved int }

var _ rules.Sender = (*countingSender)(nil)

func (c *countingSender) Put(alerts ...alerting.Alert) {
	for i := range alerts {
		if alerts[i].EndsAt.IsZero() {
			c.firing++
		} else {
			c.resolved++
		}
	}
}

func setup(o options, out io.Writer) (*bench, error) {
	dir, err := os.MkdirTemp("", "rulecpu")
	if err != nil {
		return nil, err
	}
	if !o.keepRulesFile {
		defer os.RemoveAll(dir)
	}
	path := filepath.Join(dir, "rules.yml")
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	counts, err := writeRules(f, o.rules, o.perGroup, o.probes, o.teams)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("write rules: %w", err)
	}
	groups, err := rules.Load([]string{path}, nil)
	if err != nil {
		return nil, fmt.Errorf("load rules: %w", err)
	}
	if o.keepRulesFile {
		fmt.Fprintf(out, "rule file: %s\n", path)
	}
	b := &bench{
		o: o, fleet: newFleet(o.probes, o.teams), store: store.New(store.Options{}),
		reg: prometheus.NewRegistry(), sent: &countingSender{},
		start: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC),
	}
	b.mgr = rules.NewManager(rules.Options{
		Storage: b.store, Sender: b.sent, Interval: o.interval,
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError})),
	}, b.reg)
	b.mgr.Update(groups)
	n := 0
	for _, g := range groups {
		n += len(g.Rules)
	}
	fmt.Fprintf(out, "%d series (%d probes × %d, %d teams); %d alerting rules in %d groups: %d per probe, %d per team, %d over the fleet\n",
		o.probes*seriesPerProbe, o.probes, seriesPerProbe, o.teams, n, len(groups), counts["probe"], counts["team"], counts["global"])
	return b, nil
}

// ingest gathers the fleet at the next step, as the daemon's ingest does.
func (b *bench) ingest() time.Time {
	ts := b.start.Add(time.Duration(b.step) * b.o.interval)
	b.fleet.step(b.step)
	b.store.Ingest(ts, b.fleet.mfs)
	b.store.Compact(ts)
	b.step++
	return ts
}

// round is one measured round.
type round struct {
	ingestCPU, rulesCPU   time.Duration
	ingestWall, rulesWall time.Duration
}

func (b *bench) round(ctx context.Context) round {
	var r round
	w0, c0 := time.Now(), usage.CPU()
	ts := b.ingest()
	w1, c1 := time.Now(), usage.CPU()
	b.mgr.Tick(ctx, ts)
	w2, c2 := time.Now(), usage.CPU()
	r.ingestCPU, r.rulesCPU = c1-c0, c2-c1
	r.ingestWall, r.rulesWall = w1.Sub(w0), w2.Sub(w1)
	return r
}

func run(o options, out io.Writer) error {
	if o.probes < 1 || o.teams < 1 || o.rules < 1 || o.perGroup < 1 || o.rounds < 1 || o.interval <= 0 {
		return fmt.Errorf("need -probes, -teams, -rules, -per-group and -rounds ≥ 1, and -interval > 0")
	}
	b, err := setup(o, out)
	if err != nil {
		return err
	}
	ctx := context.Background()
	warm := int(o.history / o.interval)
	w0, c0 := time.Now(), usage.CPU()
	for range warm {
		b.mgr.Tick(ctx, b.ingest())
	}
	fmt.Fprintf(out, "history: %d rounds (%s at %s) in %s wall, %s CPU\n", warm, o.history, o.interval,
		time.Since(w0).Round(time.Millisecond), (usage.CPU() - c0).Round(time.Millisecond))
	runtime.GC()
	var ms0, ms1 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	sent0 := *b.sent
	rs := make([]round, o.rounds)
	for i := range rs {
		rs[i] = b.round(ctx)
	}
	runtime.ReadMemStats(&ms1)
	fired, resolved := b.sent.firing-sent0.firing, b.sent.resolved-sent0.resolved
	report(out, b, rs, ms1.TotalAlloc-ms0.TotalAlloc, fired, resolved)
	if o.cpuprofile != "" {
		return b.profile(ctx, out)
	}
	return nil
}

// profile runs more rounds under the CPU profiler.
func (b *bench) profile(ctx context.Context, out io.Writer) error {
	f, err := os.Create(b.o.cpuprofile)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := pprof.StartCPUProfile(f); err != nil {
		return err
	}
	for range b.o.profileRounds {
		b.round(ctx)
	}
	pprof.StopCPUProfile()
	fmt.Fprintf(out, "\nCPU profile of %d rounds: %s\n", b.o.profileRounds, b.o.cpuprofile)
	return nil
}

func report(out io.Writer, b *bench, rs []round, alloc uint64, fired, resolved int) {
	n := len(rs)
	var sum round
	for _, r := range rs {
		sum.ingestCPU += r.ingestCPU
		sum.rulesCPU += r.rulesCPU
		sum.ingestWall += r.ingestWall
		sum.rulesWall += r.rulesWall
	}
	med := func(f func(round) time.Duration) time.Duration {
		ds := make([]time.Duration, n)
		for i, r := range rs {
			ds[i] = f(r)
		}
		slices.Sort(ds)
		return ds[n/2]
	}
	mean := func(d time.Duration) time.Duration { return d / time.Duration(n) }
	share := func(d time.Duration) float64 { return 100 * d.Seconds() / b.o.interval.Seconds() }
	st := b.store.Stats()
	fmt.Fprintf(out, "store: %d series (ALERTS and ALERTS_FOR_STATE included), %d samples; alerts handed to the sender per round: %.0f firing, %.0f resolved\n",
		st.Series, st.Samples, float64(fired)/float64(n), float64(resolved)/float64(n))
	pending, firing := alertStates(b.mgr)
	fmt.Fprintf(out, "alerts now: %d pending, %d firing; rule evaluation failures: %.0f\n\n", pending, firing, failures(b.reg))

	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "%d rounds\tCPU/round mean\tmedian\tshare of a core at %s\twall/round mean\t\n", n, b.o.interval)
	total := sum.ingestCPU + sum.rulesCPU
	rows := []struct {
		name     string
		cpu, med time.Duration
		wall     time.Duration
	}{
		{"ingest + compact", sum.ingestCPU, med(func(r round) time.Duration { return r.ingestCPU }), sum.ingestWall},
		{"rules (Tick)", sum.rulesCPU, med(func(r round) time.Duration { return r.rulesCPU }), sum.rulesWall},
		{"total", total, med(func(r round) time.Duration { return r.ingestCPU + r.rulesCPU }), sum.ingestWall + sum.rulesWall},
	}
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%.2f %%\t%s\t\n", r.name, ms(mean(r.cpu)), ms(r.med), share(mean(r.cpu)), ms(mean(r.wall)))
	}
	tw.Flush()
	rulesN := b.o.rules
	fmt.Fprintf(out, "\nper rule: %.1f µs CPU; allocated per round: %.1f MiB (%.1f KiB per rule)\n",
		float64(mean(sum.rulesCPU).Microseconds())/float64(rulesN),
		float64(alloc)/float64(n)/(1<<20), float64(alloc)/float64(n)/float64(rulesN)/1024)
	verdict := "met"
	if share(mean(total)) >= 100*goalShare {
		verdict = "NOT met"
	}
	fmt.Fprintf(out, "goal < %.0f %% of one core (ingest + rules, mean): %s (%.2f %%)\n", 100*goalShare, verdict, share(mean(total)))
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d.Microseconds())/1000) }

func alertStates(m *rules.Manager) (pending, firing int) {
	for _, g := range m.Groups() {
		for _, r := range g.Rules {
			ar, ok := r.(*rules.AlertingRule)
			if !ok {
				continue
			}
			for _, a := range ar.Alerts() {
				switch a.State {
				case rules.StatePending:
					pending++
				case rules.StateFiring:
					firing++
				}
			}
		}
	}
	return pending, firing
}

// failures sums lookout_rule_evaluation_failures_total.
func failures(reg *prometheus.Registry) float64 {
	mfs, _ := reg.Gather()
	total := 0.0
	for _, mf := range mfs {
		if mf.GetName() != "lookout_rule_evaluation_failures_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			total += m.GetCounter().GetValue()
		}
	}
	return total
}
