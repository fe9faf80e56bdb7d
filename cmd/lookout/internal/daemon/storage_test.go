package daemon

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	bolt "go.etcd.io/bbolt"
)

// TestStorageReason: each cause of a failed write gets its reason,
// wrapped or, as bbolt words a failed resize, only in the text.
func TestStorageReason(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"full disk", &os.PathError{Op: "write", Path: "lookout.db", Err: syscall.ENOSPC}, "no_space"},
		{"quota", fmt.Errorf("outbox: enqueue n1: %w", &os.PathError{Op: "write", Path: "lookout.db", Err: syscall.EDQUOT}), "no_space"},
		{"failed resize", errors.New("file resize error: truncate lookout.db: no space left on device"), "no_space"},
		{"read-only file system", &os.PathError{Op: "write", Path: "lookout.db", Err: syscall.EROFS}, "read_only"},
		{"read-only database", bolt.ErrDatabaseReadOnly, "read_only"},
		{"permissions", &os.PathError{Op: "open", Path: "lookout.db", Err: syscall.EACCES}, "permission_denied"},
		{"disk error", &os.PathError{Op: "write", Path: "lookout.db", Err: syscall.EIO}, "io_error"},
		{"closed database", bolt.ErrDatabaseNotOpen, "other"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := storageReason(tt.err); got != tt.want {
				t.Errorf("storageReason(%v) = %q, want %q", tt.err, got, tt.want)
			}
		})
	}
}

// TestStorageFaultsLogOncePerMinute: every failed write is counted by
// component and reason, but each component logs at most one line a
// minute, which says how many it did not log.
func TestStorageFaultsLogOncePerMinute(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var logs syncBuffer
		reg := prometheus.NewRegistry()
		f, err := newStorageFaults(reg, slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{
			ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
				if a.Key == slog.TimeKey {
					return slog.Attr{}
				}
				return a
			},
		})))
		if err != nil {
			t.Fatal(err)
		}
		outbox := f.component(storageOutbox, "notifications are sent from memory")
		sils := f.component(storageSilences, "silences cannot be created")
		full := &os.PathError{Op: "write", Path: "lookout.db", Err: syscall.ENOSPC}
		for range 1500 { // 10 failures a second for 2.5 minutes
			outbox.WriteFailed(full)
			time.Sleep(100 * time.Millisecond)
		}
		sils.WriteFailed(bolt.ErrDatabaseNotOpen)
		want := `level=ERROR msg="storage write failed; notifications are sent from memory (logged at most once a minute)" component=outbox err="write lookout.db: no space left on device" failures_not_logged=0
level=ERROR msg="storage write failed; notifications are sent from memory (logged at most once a minute)" component=outbox err="write lookout.db: no space left on device" failures_not_logged=599
level=ERROR msg="storage write failed; notifications are sent from memory (logged at most once a minute)" component=outbox err="write lookout.db: no space left on device" failures_not_logged=599
level=ERROR msg="storage write failed; silences cannot be created (logged at most once a minute)" component=silences err="database not open" failures_not_logged=0
`
		if got := logs.String(); got != want {
			t.Errorf("log:\n%s\nwant:\n%s", got, want)
		}
		for _, c := range []struct {
			component, reason string
			want              float64
		}{
			{"outbox", "no_space", 1500}, {"silences", "other", 1}, {"alert_state", "no_space", 0},
		} {
			if got := testutil.ToFloat64(f.failures.WithLabelValues(c.component, c.reason)); got != c.want {
				t.Errorf("failures{%s,%s} = %v, want %v", c.component, c.reason, got, c.want)
			}
		}
	})
}
