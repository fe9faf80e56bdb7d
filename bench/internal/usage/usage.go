// Package usage reads what the benchmark programs measure about their
// own process.
package usage

import (
	"syscall"
	"time"
)

// CPU is this process's user and system CPU time, all threads; zero if
// the kernel does not say.
func CPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
