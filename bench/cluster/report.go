package main

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// reportCluster prints a cluster phase: per replica its probes, runs,
// database operations, CPU and memory; then the operations by command.
func reportCluster(out io.Writer, o options, ph *phase) {
	w := ph.win
	secs := w.elapsed.Seconds()
	fmt.Fprintf(out, "== %d replicas, %d probes every %s ==\n", len(ph.daemons), ph.probes, o.interval)
	fmt.Fprintf(out, "started in %s; every replica saw all %d after %s more; leader %s (epoch %d) before the window, %s (epoch %d) after; window %s\n",
		ph.startup.Round(100*time.Millisecond), len(ph.daemons), ph.settled.Round(100*time.Millisecond), ph.leader, ph.epoch, ph.leaderAfter, ph.epochAfter, w.elapsed.Round(100*time.Millisecond))
	tw := table(out)
	fmt.Fprintf(tw, "daemon\tprobes here\tprobe runs/s\tDB ops\tDB ops/s\tconns opened\tCPU cores\tRSS mean MB\tRSS max MB\tVmHWM MB\t\n")
	var probes int
	var runs, ops uint64
	var cpu, rss float64
	for _, d := range ph.daemons {
		u := w.procs[d.name]
		n := sum(w.ops[d.name])
		role := d.name
		if d.name == ph.leader {
			role += " (leader)"
		}
		fmt.Fprintf(tw, "%s\t%d\t%.1f\t%d\t%.2f\t%d\t%.3f\t%.1f\t%.1f\t%.1f\t\n", role, d.assigned, float64(w.runs[d.name])/secs, n, float64(n)/secs,
			w.opened[d.name], u.cpu.Seconds()/secs, u.RSSMean()/1e6, float64(u.rssMax)/1e6, float64(u.hwm)/1e6)
		probes += d.assigned
		runs += w.runs[d.name]
		ops += n
		cpu += u.cpu.Seconds() / secs
		rss += u.RSSMean()
	}
	fmt.Fprintf(tw, "all replicas\t%d\t%.1f\t%d\t%.2f\t\t%.3f\t%.1f\t\t\t\n", probes, float64(runs)/secs, ops, float64(ops)/secs, cpu, rss/1e6)
	if f := w.procs["ferretdb"]; f != nil {
		fmt.Fprintf(tw, "FerretDB\t\t\t\t\t\t%.3f\t%.1f\t%.1f\t%.1f\t\n", f.cpu.Seconds()/secs, f.RSSMean()/1e6, float64(f.rssMax)/1e6, float64(f.hwm)/1e6)
	}
	_ = tw.Flush()
	fmt.Fprintf(out, "FerretDB counted %.0f requests over the window (the proxies %d)", w.dbRequests, ops)
	if len(w.dbFailed) > 0 {
		fmt.Fprintf(out, "; answered other than ok: %s", formatFloats(w.dbFailed))
	}
	fmt.Fprintln(out)
	fmt.Fprintf(out, "probe runs over the window: %d (%.1f/s) for %.1f/s planned (%d probes / %s)\n\n", runs, float64(runs)/secs, float64(ph.probes)/o.interval.Seconds(), ph.probes, o.interval)

	commands := map[string]bool{}
	for _, byCmd := range w.ops {
		for c := range byCmd {
			commands[c] = true
		}
	}
	fmt.Fprintf(out, "DB operations over the window by command (driver's own: the handshake and monitoring on admin, OP_QUERY):\n")
	tw = table(out)
	fmt.Fprintf(tw, "command\t")
	for _, d := range ph.daemons {
		fmt.Fprintf(tw, "%s\t", d.name)
	}
	fmt.Fprintf(tw, "total\tper second\tper replica per minute\t\n")
	for _, c := range slices.Sorted(maps.Keys(commands)) {
		fmt.Fprintf(tw, "%s\t", c)
		var total uint64
		for _, d := range ph.daemons {
			fmt.Fprintf(tw, "%d\t", w.ops[d.name][c])
			total += w.ops[d.name][c]
		}
		fmt.Fprintf(tw, "%d\t%.2f\t%.1f\t\n", total, float64(total)/secs, float64(total)/secs*60/float64(len(ph.daemons)))
	}
	_ = tw.Flush()
	var driver uint64
	for _, byCmd := range w.ops {
		for c, n := range byCmd {
			if driverCommand(c) {
				driver += n
			}
		}
	}
	fmt.Fprintf(out, "of which Lookout's own: %.2f/s, the driver's: %.2f/s\n", float64(ops-driver)/secs, float64(driver)/secs)
	for _, d := range ph.daemons {
		if f := w.failed[d.name]; len(f) > 0 {
			fmt.Fprintf(out, "answers that were errors, %s: %s\n", d.name, formatCounts(f))
		}
	}
	reportLogs(out, ph)
	fmt.Fprintln(out)
}

// driverCommand reports whether a command is the driver's rather than
// Lookout's: its handshake (OP_QUERY) and server monitoring, on admin.
func driverCommand(c string) bool {
	return strings.HasPrefix(c, "OP_QUERY ") || strings.HasSuffix(c, "(admin)")
}

// reportSingle prints the single replica's phase.
func reportSingle(out io.Writer, ph *phase) {
	d := ph.daemons[0]
	w := ph.win
	u := w.procs[d.name]
	secs := w.elapsed.Seconds()
	fmt.Fprintf(out, "== 1 replica, bbolt only (no cluster section), %d probes ==\n", ph.probes)
	fmt.Fprintf(out, "started in %s; window %s\n", ph.startup.Round(100*time.Millisecond), w.elapsed.Round(100*time.Millisecond))
	tw := table(out)
	fmt.Fprintf(tw, "daemon\tprobes\tprobe runs/s\tCPU cores\tRSS mean MB\tRSS max MB\tVmHWM MB\t\n")
	fmt.Fprintf(tw, "%s\t%d\t%.1f\t%.3f\t%.1f\t%.1f\t%.1f\t\n", d.name, ph.probes, float64(w.runs[d.name])/secs,
		u.cpu.Seconds()/secs, u.RSSMean()/1e6, float64(u.rssMax)/1e6, float64(u.hwm)/1e6)
	_ = tw.Flush()
	reportLogs(out, ph)
	fmt.Fprintln(out)
}

// reportRatios prints each replica's CPU and RSS over the single
// replica's.
func reportRatios(out io.Writer, cl, single *phase) {
	s := single.win.procs[single.daemons[0].name]
	scpu := s.cpu.Seconds() / single.win.elapsed.Seconds()
	fmt.Fprintf(out, "== each replica of %d probes against the single replica of %d, same window ==\n", cl.probes, single.probes)
	tw := table(out)
	fmt.Fprintf(tw, "replica\tprobe runs ratio\tCPU ratio\tRSS mean ratio\tRSS max ratio\t\n")
	var cpuSum, rssSum float64
	for _, d := range cl.daemons {
		u := cl.win.procs[d.name]
		runs := float64(cl.win.runs[d.name]) / cl.win.elapsed.Seconds() / (float64(single.win.runs["single"]) / single.win.elapsed.Seconds())
		cpu := u.cpu.Seconds() / cl.win.elapsed.Seconds() / scpu
		rss := u.RSSMean() / s.RSSMean()
		cpuSum += cpu
		rssSum += rss
		fmt.Fprintf(tw, "%s\t%.2f\t%.2f\t%.2f\t%.2f\t\n", d.name, runs, cpu, rss, float64(u.rssMax)/float64(s.rssMax))
	}
	n := float64(len(cl.daemons))
	fmt.Fprintf(tw, "mean\t\t%.2f\t%.2f\t\t\n", cpuSum/n, rssSum/n)
	_ = tw.Flush()
	fmt.Fprintln(out)
}

// reportScaling compares the database operations of the two cluster runs
// with their probe runs.
func reportScaling(out io.Writer, o options, big, small *phase) {
	fmt.Fprintf(out, "== do database operations follow probe runs? ==\n")
	tw := table(out)
	fmt.Fprintf(tw, "probes\tprobe runs/s\tDB ops/s\tLookout's own ops/s\tDB ops per probe run\t\n")
	rate := func(ph *phase) (runs, ops, own float64) {
		secs := ph.win.elapsed.Seconds()
		var r, n, driver uint64
		for _, d := range ph.daemons {
			r += ph.win.runs[d.name]
			for c, k := range ph.win.ops[d.name] {
				n += k
				if driverCommand(c) {
					driver += k
				}
			}
		}
		return float64(r) / secs, float64(n) / secs, float64(n-driver) / secs
	}
	for _, ph := range []*phase{big, small} {
		runs, ops, own := rate(ph)
		fmt.Fprintf(tw, "%d\t%.1f\t%.2f\t%.2f\t%.4f\t\n", ph.probes, runs, ops, own, ops/runs)
	}
	_ = tw.Flush()
	bRuns, bOps, _ := rate(big)
	sRuns, sOps, _ := rate(small)
	fmt.Fprintf(out, "%.1f× the probe runs, %.2f× the database operations", bRuns/sRuns, bOps/sOps)
	if bOps/sOps < 1.5 {
		fmt.Fprintf(out, ": they do not follow probe runs (no write per run)\n")
	} else {
		fmt.Fprintf(out, ": they GROW with probe runs; see the commands above\n")
	}
}

// reportLogs prints how many lines each daemon logged (at warn and above)
// and the last few.
func reportLogs(out io.Writer, ph *phase) {
	for _, d := range ph.daemons {
		lines := ph.logs[d.name]
		if len(lines) == 0 {
			continue
		}
		fmt.Fprintf(out, "%s logged %d lines (warn and above), the last:\n", d.name, len(lines))
		for _, l := range lines[max(0, len(lines)-3):] {
			fmt.Fprintf(out, "    %s\n", truncate(l, 300))
		}
	}
}

func table(out io.Writer) *tabwriter.Writer {
	return tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
}

func sum(m map[string]uint64) uint64 {
	var n uint64
	for _, v := range m {
		n += v
	}
	return n
}

func formatCounts(m map[string]uint64) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%s ×%d", k, m[k]))
	}
	return strings.Join(parts, ", ")
}

func formatFloats(m map[string]float64) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%s %.0f", k, m[k]))
	}
	return strings.Join(parts, ", ")
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
