package ferretdbtest

import "syscall"

// childAttr makes FerretDB die with the test binary, even when a timeout
// or a signal ends it before its cleanups run: an orphan would keep its
// port, and whatever file descriptors it inherited (the CI's build lock).
func childAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
