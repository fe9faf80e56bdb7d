//go:build linux

package browserprobe

import (
	"bytes"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"time"

	"github.com/chromedp/chromedp"
)

// processOptions start Chromium in a process group of its own, so that
// closing it kills its helpers (zygote, renderers, GPU process) with it,
// and with SIGKILL sent by the kernel when Lookout dies, even killed.
// chromedp starts the process from a goroutine locked to its OS thread,
// as Pdeathsig, tied to the thread, needs.
func processOptions() []chromedp.ExecAllocatorOption {
	return []chromedp.ExecAllocatorOption{chromedp.ModifyCmdFunc(func(cmd *exec.Cmd) {
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	})}
}

// killGroup kills Chromium's process group; pid is the group's leader,
// which must not have been reaped yet, so that the group is surely ours.
func killGroup(pid int) {
	if pid > 0 {
		_ = syscall.Kill(-pid, syscall.SIGKILL)
	}
}

// killLeftovers kills the processes still running with the user data
// directory dir (every Chromium process gets it on its command line),
// whatever their group, until none has shown up for a few passes.
func killLeftovers(dir string) {
	deadline := time.Now().Add(2 * time.Second)
	for quiet := 0; quiet < 3 && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if n := len(processesUsing(dir, true)); n == 0 {
			quiet++
		} else {
			quiet = 0
		}
	}
}

// processesUsing lists the processes with --user-data-dir=dir on their
// command line; with kill, it also kills them. Chromium's helpers rewrite
// their command line as one string, the arguments joined by spaces.
func processesUsing(dir string, kill bool) []int {
	want := []byte("--user-data-dir=" + dir)
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		cmdline, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err != nil {
			continue
		}
		if hasArg(cmdline, want) {
			pids = append(pids, pid)
			if kill {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	}
	return pids
}

// hasArg reports whether the command line holds the argument want, as
// the kernel keeps it (NUL-separated) or as a rewritten title
// (space-separated).
func hasArg(cmdline, want []byte) bool {
	line := append(append([]byte{' '}, bytes.ReplaceAll(cmdline, []byte{0}, []byte{' '})...), ' ')
	return bytes.Contains(line, append(append([]byte{' '}, want...), ' '))
}
