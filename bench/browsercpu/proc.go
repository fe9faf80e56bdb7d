package main

import (
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// clockTick is the unit of the times in /proc/PID/stat (USER_HZ, 100 on
// every Linux Go runs on).
const clockTick = 10 * time.Millisecond

// procStat is what the benchmark reads of one process in /proc/PID/stat.
type procStat struct {
	ppid int
	// cpu is the process's user and system time plus that of its children
	// it has waited for (a renderer that exited still counts).
	cpu time.Duration
	rss int64 // bytes
}

// readStat reads /proc/PID/stat; false when the process is gone.
func readStat(pid int) (procStat, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return procStat{}, false
	}
	// The command name, in parentheses, may hold spaces: the fields
	// start after its last ')'.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return procStat{}, false
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 22 {
		return procStat{}, false
	}
	n := func(k int) int64 { v, _ := strconv.ParseInt(f[k], 10, 64); return v }
	// f[0] is field 3 (state): ppid is field 4, utime..cstime 14..17,
	// rss (pages) 24.
	return procStat{
		ppid: int(n(1)),
		cpu:  time.Duration(n(11)+n(12)+n(13)+n(14)) * clockTick,
		rss:  n(21) * int64(os.Getpagesize()),
	}, true
}

// tree is the processes descended from this one (Chromium and its
// helpers), not this process itself.
type tree struct {
	procs int
	cpu   time.Duration
	// rss adds up each process's resident set, so the pages Chromium's
	// processes share count once per process; pss shares them out.
	rss, pss int64
}

// descendants sums the CPU time and resident memory of every process
// whose parent chain leads to this process.
func descendants() tree {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return tree{}
	}
	stats := map[int]procStat{}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if s, ok := readStat(pid); ok {
			stats[pid] = s
		}
	}
	self := os.Getpid()
	var t tree
	for pid, s := range stats {
		for p, hops := s.ppid, 0; p > 1 && hops < 64; p, hops = stats[p].ppid, hops+1 {
			if p == self {
				t.procs++
				t.cpu += s.cpu
				t.rss += s.rss
				t.pss += pss(pid)
				break
			}
			if _, ok := stats[p]; !ok {
				break
			}
		}
	}
	return t
}

// cpuTotal is the CPU time of this process, of its children it has
// waited for, and of its live descendants: getrusage counts a child only
// once it has been waited for, and Chromium lives for the whole run.
func cpuTotal() time.Duration {
	var self, children syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &self)
	_ = syscall.Getrusage(syscall.RUSAGE_CHILDREN, &children)
	d := self.Utime.Nano() + self.Stime.Nano() + children.Utime.Nano() + children.Stime.Nano()
	return time.Duration(d) + descendants().cpu
}

// pss is a process's proportional set size (its resident pages, each
// shared one divided by the processes sharing it), in bytes; 0 when
// /proc does not say.
func pss(pid int) int64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/smaps_rollup")
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "Pss:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}
