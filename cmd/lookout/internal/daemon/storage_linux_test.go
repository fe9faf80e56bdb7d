package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	bolt "go.etcd.io/bbolt"
)

// capability bits of capset(2) for the file permission checks root skips.
const (
	capDACOverride   = 1
	capDACReadSearch = 2
	capFowner        = 3
)

// withoutFileCapabilities runs f on an OS thread that lacks the
// capabilities that let root ignore file permissions, so a root test
// meets "permission denied" as any other user would. The thread ends with
// f.
func withoutFileCapabilities(t *testing.T, f func()) {
	t.Helper()
	type header struct {
		version uint32
		pid     int32
	}
	type data struct{ effective, permitted, inheritable uint32 }
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread exits with this goroutine
		hdr := header{version: 0x20080522}
		var caps [2]data
		if _, _, e := syscall.RawSyscall(syscall.SYS_CAPGET, uintptr(unsafe.Pointer(&hdr)), uintptr(unsafe.Pointer(&caps[0])), 0); e != 0 {
			done <- fmt.Errorf("capget: %w", e)
			return
		}
		caps[0].effective &^= 1<<capDACOverride | 1<<capDACReadSearch | 1<<capFowner
		if _, _, e := syscall.RawSyscall(syscall.SYS_CAPSET, uintptr(unsafe.Pointer(&hdr)), uintptr(unsafe.Pointer(&caps[0])), 0); e != 0 {
			done <- fmt.Errorf("capset: %w", e)
			return
		}
		f()
		done <- nil
	}()
	if err := <-done; err != nil {
		t.Skipf("cannot drop capabilities on this thread: %v", err)
	}
}

// mountTmpfs mounts a tmpfs with the given options on a new directory and
// returns it; it skips the test where mounting is not permitted.
func mountTmpfs(t *testing.T, options string) string {
	t.Helper()
	dir := t.TempDir()
	flags := uintptr(0)
	if strings.HasPrefix(options, "ro,") {
		flags, options = syscall.MS_RDONLY, strings.TrimPrefix(options, "ro,")
	}
	if err := syscall.Mount("tmpfs", dir, "tmpfs", flags, options); err != nil {
		t.Skipf("cannot mount a tmpfs here (needs root or CAP_SYS_ADMIN): %v", err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, 0); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	return dir
}

// TestStorageAtStart: a storage.path Lookout cannot write, or whose
// database another process holds, stops the start with a message that
// names the cause and what to do.
func TestStorageAtStart(t *testing.T) {
	tests := []struct {
		name string
		// path makes the storage.path; run runs what opens it.
		path func(t *testing.T) string
		run  func(t *testing.T, f func())
		want string // a regexp
	}{
		{
			name: "another Lookout holds the lock",
			path: func(t *testing.T) string {
				dir := t.TempDir()
				db, err := bolt.Open(filepath.Join(dir, "lookout.db"), 0o600, nil)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { db.Close() })
				return dir
			},
			want: `^storage.path ".*": another process holds the lock on .*/lookout.db, most likely another Lookout with this storage.path \(waited 2s for it\): timeout; stop that one, or give each Lookout its own storage.path$`,
		},
		{
			name: "read-only file system",
			path: func(t *testing.T) string { return mountTmpfs(t, "ro,size=64k") },
			want: `^storage.path ".*": cannot open .*/lookout.db for writing: open .*/lookout.db: read-only file system; the file system is read-only: mount it read-write, or set storage.path to a writable directory$`,
		},
		{
			name: "read-only file system, directory to create",
			path: func(t *testing.T) string { return filepath.Join(mountTmpfs(t, "ro,size=64k"), "data") },
			want: `^storage.path ".*/data": cannot create it: mkdir .*/data: read-only file system; the file system is read-only: mount it read-write, or set storage.path to a writable directory$`,
		},
		{
			name: "permission denied",
			path: func(t *testing.T) string {
				dir := t.TempDir()
				if err := os.Chmod(dir, 0o500); err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { os.Chmod(dir, 0o700) })
				return dir
			},
			run: func(t *testing.T, f func()) {
				if os.Geteuid() == 0 {
					withoutFileCapabilities(t, f)
					return
				}
				f()
			},
			want: `^storage.path ".*": cannot open .*/lookout.db for writing: open .*/lookout.db: permission denied; user \S+ \(uid \d+\) may not write there: give it write access to the directory and lookout.db, or set storage.path to a directory it owns$`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := tt.path(t)
			var err error
			open := func() {
				var db *bolt.DB
				if db, err = openStorage(path); err == nil {
					db.Close()
				}
			}
			if tt.run != nil {
				tt.run(t, open)
			} else {
				open()
			}
			if err == nil || !regexp.MustCompile(tt.want).MatchString(err.Error()) {
				t.Errorf("got %v\nwant %s", err, tt.want)
			}
		})
	}
	t.Run("the daemon stops with it", func(t *testing.T) {
		dir := t.TempDir()
		db, err := bolt.Open(filepath.Join(dir, "lookout.db"), 0o600, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		cfg := filepath.Join(t.TempDir(), "lookout.yml")
		writeConfig(t, cfg, fmt.Sprintf("server: {listen: \"127.0.0.1:0\"}\nstorage: {path: %q}\n", dir))
		err = Run(context.Background(), Options{Kinds: allKinds(), ConfigFile: cfg, Version: "test", Logger: slog.New(slog.DiscardHandler)})
		if err == nil || !strings.Contains(err.Error(), "another process holds the lock on "+filepath.Join(dir, "lookout.db")) {
			t.Errorf("Run = %v, want the lock named", err)
		}
	})
}

// readOnlyDescriptor points the daemon's open lookout.db at a read-only
// descriptor of the same file: bbolt still reads it through its mapping,
// and every write fails (bad file descriptor), as on a failing disk.
func readOnlyDescriptor(t *testing.T, dbPath string) {
	t.Helper()
	want, err := filepath.EvalSymlinks(dbPath)
	if err != nil {
		t.Fatal(err)
	}
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("no /proc/self/fd to find the database's descriptor: %v", err)
	}
	fd := -1
	for _, e := range fds {
		if l, err := os.Readlink(filepath.Join("/proc/self/fd", e.Name())); err == nil && l == want {
			fmt.Sscan(e.Name(), &fd)
		}
	}
	if fd < 0 {
		t.Fatalf("no open descriptor of %s", want)
	}
	ro, err := os.Open(dbPath)
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	if err := syscall.Dup3(int(ro.Fd()), fd, syscall.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
}

// fill writes to a file in dir until its file system is full.
func fill(t *testing.T, dir string) {
	t.Helper()
	f, err := os.Create(filepath.Join(dir, "filler"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 64<<10)
	for {
		if _, err := f.Write(buf); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("filling %s: %v, want ENOSPC", dir, err)
			}
			return
		}
	}
}

// storageConfig writes a config whose probe "api" watches target, whose
// ProbeDown (for: 0s) and the built-in LookoutStorageFailing page hook,
// with silences up to 1 MiB, and returns its path.
func storageConfig(t *testing.T, storagePath, target, hook string) string {
	t.Helper()
	dir := t.TempDir()
	writeConfig(t, filepath.Join(dir, "rules.yml"), `groups:
  - name: test
    rules:
      - alert: ProbeDown
        expr: lookout_probe_state == 2
        labels: {severity: page}
        annotations: {summary: "Probe {{ $labels.probe }} is down"}
`)
	path := filepath.Join(dir, "lookout.yml")
	writeConfig(t, path, fmt.Sprintf(`server: {listen: "127.0.0.1:0"}
storage: {path: %q}
alerting:
  evaluation_interval: 100ms
  rule_files: [rules.yml]
  silences: {max_size: 1MiB}
  route: {receiver: hook, group_by: [alertname, probe], group_wait: 0s, group_interval: 200ms, repeat_interval: 1h}
  receivers:
    - name: hook
      webhook: {url: %q}
probes:
  - name: api
    interval: 100ms
    timeout: 80ms
    http: {url: %q}
`, storagePath, hook, target))
	return path
}

// TestPagingFailsOpen: with Lookout's storage failing under it, a probe
// that goes down still pages a real webhook, LookoutStorageFailing pages
// too, naming what failed and why, and creating a silence answers 507
// with the cause.
func TestPagingFailsOpen(t *testing.T) {
	tests := []struct {
		name string
		// storage makes storage.path; fail makes its writes fail.
		storage func(t *testing.T) string
		fail    func(t *testing.T, storagePath string)
		// comment is the size of a silence's comment; the
		// LookoutStorageFailing alert that must page, and the cause the
		// 507 names.
		comment                  int
		component, reason, cause string
	}{
		{
			name:      "lookout.db failing under bbolt",
			storage:   func(t *testing.T) string { return t.TempDir() },
			fail:      func(t *testing.T, path string) { readOnlyDescriptor(t, filepath.Join(path, "lookout.db")) },
			comment:   10,
			component: storageOutbox, reason: "other", cause: "bad file descriptor",
		},
		{
			// A full disk fails the writes that need pages lookout.db
			// does not have yet: the 600 KiB silence always does.
			name:      "full tmpfs",
			storage:   func(t *testing.T) string { return mountTmpfs(t, "size=4m") },
			fail:      fill,
			comment:   600 << 10,
			component: storageSilences, reason: "no_space", cause: "no space left on device",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			target, hook := newFlappingTarget(t), newHookServer(t)
			storagePath := tt.storage(t)
			d := startDaemon(t, storageConfig(t, storagePath, target.srv.URL, hook.srv.URL))
			defer d.stop(t)
			d.waitRuns(t, 2)

			tt.fail(t, storagePath)
			body := fmt.Sprintf(`{"matchers":["alertname=\"ProbeDown\""],"duration":"1h","createdBy":"alice","comment":%q}`, strings.Repeat("c", tt.comment))
			resp, answer := d.post(t, "/api/v1/silences", body)
			if resp.StatusCode != http.StatusInsufficientStorage || !strings.HasPrefix(answer, "silence: write to storage: ") || !strings.Contains(answer, tt.cause) {
				t.Errorf("creating a silence: %d %q, want 507 naming %q", resp.StatusCode, answer, tt.cause)
			}

			target.down.Store(true)
			probeDown, storageFailing := false, false
			deadline := time.After(30 * time.Second)
			for !probeDown || !storageFailing {
				select {
				case m := <-hook.got:
					for _, a := range m.Alerts {
						l := a.Labels
						probeDown = probeDown || (a.Status == "firing" && l["alertname"] == "ProbeDown" && l["probe"] == "api")
						storageFailing = storageFailing || (a.Status == "firing" && l["alertname"] == "LookoutStorageFailing" &&
							l["component"] == tt.component && l["reason"] == tt.reason && a.Annotations["summary"] ==
							fmt.Sprintf("Lookout cannot write its %s to storage.path (%s)", tt.component, tt.reason))
					}
				case <-deadline:
					t.Fatalf("within 30s: ProbeDown paged %v, LookoutStorageFailing{component=%q,reason=%q} paged %v\nlog:\n%s",
						probeDown, tt.component, tt.reason, storageFailing, d.logs.String())
				}
			}
			if !strings.Contains(d.logs.String(), "storage write failed; ") {
				t.Errorf("the log does not say that storage writes fail:\n%s", d.logs.String())
			}
		})
	}
}
