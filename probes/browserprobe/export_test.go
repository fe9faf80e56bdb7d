package browserprobe

// Process is the running Chromium's process ID and user data directory,
// or zeros when none runs (or it is remote).
func (b *Browser) Process() (pid int, dir string) {
	b.mu.Lock()
	inst := b.cur
	b.mu.Unlock()
	if inst == nil || !inst.started() {
		return 0, ""
	}
	return inst.pid, inst.dir
}

// ProcessesUsing lists the processes running with the user data
// directory dir.
func ProcessesUsing(dir string) []int { return processesUsing(dir, false) }
