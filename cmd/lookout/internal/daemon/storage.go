package daemon

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	bolt "go.etcd.io/bbolt"

	"github.com/lookout-dev/lookout/alerting/notify"
	"github.com/lookout-dev/lookout/alerting/silences"
	"github.com/lookout-dev/lookout/probes/heartbeat"
)

// lockTimeout is how long a start waits for another process to release
// lookout.db.
const lockTimeout = 2 * time.Second

// openStorage opens lookout.db in storage.path, creating both if need be.
// Its errors name the cause and what to do: a read-only file system,
// permissions, a full disk, or another process holding the lock.
func openStorage(path string) (*bolt.DB, error) {
	if err := os.MkdirAll(path, 0o700); err != nil {
		return nil, fmt.Errorf("storage.path %q: cannot create it: %w%s", path, err, storageAdvice(err))
	}
	file := filepath.Join(path, "lookout.db")
	db, err := bolt.Open(file, 0o600, &bolt.Options{Timeout: lockTimeout})
	if errors.Is(err, bolt.ErrTimeout) {
		return nil, fmt.Errorf("storage.path %q: another process holds the lock on %s, most likely another Lookout with this storage.path (waited %s for it): %w; stop that one, or give each Lookout its own storage.path", path, file, lockTimeout, err)
	}
	if err != nil {
		return nil, fmt.Errorf("storage.path %q: cannot open %s for writing: %w%s", path, file, err, storageAdvice(err))
	}
	return db, nil
}

// storageAdvice says what to do about a cause openStorage knows.
func storageAdvice(err error) string {
	switch storageReason(err) {
	case "read_only":
		return "; the file system is read-only: mount it read-write, or set storage.path to a writable directory"
	case "permission_denied":
		who := "this user"
		if u, uerr := user.Current(); uerr == nil {
			who = fmt.Sprintf("user %s (uid %s)", u.Username, u.Uid)
		}
		return "; " + who + " may not write there: give it write access to the directory and lookout.db, or set storage.path to a directory it owns"
	case "no_space":
		return "; the disk is full: free some space, or set storage.path to another disk"
	}
	return ""
}

// storageReasons are the causes of failed writes, the values of
// lookout_storage_write_failures_total's reason label, with the errors
// that mean each; any other error is "other".
var storageReasons = []struct {
	reason string
	errs   []error
}{
	{"no_space", []error{syscall.ENOSPC, syscall.EDQUOT, syscall.EFBIG}},
	{"read_only", []error{syscall.EROFS, bolt.ErrDatabaseReadOnly}},
	{"permission_denied", []error{syscall.EACCES, syscall.EPERM}},
	{"io_error", []error{syscall.EIO}},
}

// storageReason names the cause of a failed write. bbolt wraps some
// causes with %s (a failed resize), so their text is read too.
func storageReason(err error) string {
	for _, r := range storageReasons {
		for _, e := range r.errs {
			if errors.Is(err, e) || strings.Contains(err.Error(), e.Error()) {
				return r.reason
			}
		}
	}
	return "other"
}

// Components that write to storage, the values of
// lookout_storage_write_failures_total's component label.
const (
	storageOutbox     = "outbox"      // notifications and their group's state
	storageSilences   = "silences"    // silences created or expired
	storageAlertState = "alert_state" // the rules' alerts, after each evaluation
	storageSlack      = "slack"       // Slack threads and acknowledgements
	storageHeartbeats = "heartbeats"  // heartbeats' check-ins
)

// storageFaults counts failed writes to lookout.db in
// lookout_storage_write_failures_total{component,reason}, every series
// at 0 from the start, and logs them: at most one line a minute per
// component, which counts the failures it did not log.
type storageFaults struct {
	failures *prometheus.CounterVec
	log      *slog.Logger

	mu       sync.Mutex
	logged   map[string]time.Time // when each component last logged
	unlogged map[string]int       // failures since
}

func newStorageFaults(reg prometheus.Registerer, log *slog.Logger) (*storageFaults, error) {
	f := &storageFaults{
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lookout_storage_write_failures_total",
			Help: "Writes to Lookout's database (storage.path) that failed, by component (outbox, silences, alert_state, slack, heartbeats, uptime, incidents, remote_write) and reason (no_space, read_only, permission_denied, io_error, other).",
		}, []string{"component", "reason"}),
		log: log, logged: map[string]time.Time{}, unlogged: map[string]int{},
	}
	for _, c := range []string{storageOutbox, storageSilences, storageAlertState, storageSlack, storageHeartbeats, storageUptime, storageIncidents, storageRemoteWrite} {
		for _, r := range storageReasons {
			f.failures.WithLabelValues(c, r.reason)
		}
		f.failures.WithLabelValues(c, "other")
	}
	if err := reg.Register(f.failures); err != nil {
		return nil, fmt.Errorf("storage: register metrics: %w", err)
	}
	return f, nil
}

// component is where one component reports its failed writes;
// consequence says in the log what a failure costs.
func (f *storageFaults) component(name, consequence string) storageComponent {
	return storageComponent{f: f, name: name, consequence: consequence}
}

func (f *storageFaults) failed(c storageComponent, err error) {
	f.failures.WithLabelValues(c.name, storageReason(err)).Inc()
	now := time.Now()
	f.mu.Lock()
	if last, ok := f.logged[c.name]; ok && now.Sub(last) < time.Minute {
		f.unlogged[c.name]++
		f.mu.Unlock()
		return
	}
	unlogged := f.unlogged[c.name]
	f.logged[c.name], f.unlogged[c.name] = now, 0
	f.mu.Unlock()
	f.log.Error("storage write failed; "+c.consequence+" (logged at most once a minute)",
		"component", c.name, "err", err, "failures_not_logged", unlogged)
}

// storageComponent reports one component's failed writes.
type storageComponent struct {
	f           *storageFaults
	name        string
	consequence string
}

var (
	_ notify.WriteFailures    = storageComponent{}
	_ silences.WriteFailures  = storageComponent{}
	_ heartbeat.WriteFailures = storageComponent{}
)

// WriteFailed counts and logs a failed write.
func (c storageComponent) WriteFailed(err error) { c.f.failed(c, err) }
