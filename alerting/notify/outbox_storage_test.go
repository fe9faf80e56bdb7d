package notify_test

import (
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"
	"go.etcd.io/bbolt"

	"github.com/lookout-dev/lookout/alerting"
	"github.com/lookout-dev/lookout/alerting/notify"
	"github.com/lookout-dev/lookout/alerting/notify/webhook"
)

// faults records the write failures an outbox reports.
type faults struct {
	mu   sync.Mutex
	errs []error
}

var _ notify.WriteFailures = (*faults)(nil)

func (f *faults) WriteFailed(err error) {
	f.mu.Lock()
	f.errs = append(f.errs, err)
	f.mu.Unlock()
}

func (f *faults) list() []error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]error(nil), f.errs...)
}

// fill writes to a file in dir until the file system is full.
func fill(t *testing.T, dir string) {
	t.Helper()
	f, err := os.Create(filepath.Join(dir, "filler"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 4096)
	for {
		if _, err := f.Write(buf); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("filling %s: %v, want ENOSPC", dir, err)
			}
			return
		}
	}
}

func newOutboxWith(t *testing.T, db *bbolt.DB, url string, reg prometheus.Registerer, f *faults) *notify.Outbox {
	t.Helper()
	w := webhook.New(hookConfig(t, url), webhook.Options{})
	opts := fast
	opts.WriteFailures = f
	o, err := notify.NewOutbox(db, map[string]map[string]notify.Notifier{"team": {"webhook": w}}, opts, reg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	return o
}

// TestStorageFailsOpen: when the database will not take a notification,
// Enqueue still succeeds, the notification reaches a real webhook from
// memory, once even when enqueued twice, and each failed write is
// reported with its cause.
func TestStorageFailsOpen(t *testing.T) {
	tests := []struct {
		name string
		// open returns the outbox's database and what makes its writes
		// fail from then on.
		open  func(t *testing.T) (*bbolt.DB, func())
		n     *alerting.Notification
		cause error
	}{
		{
			name: "closed database",
			open: func(t *testing.T) (*bbolt.DB, func()) {
				db := openDB(t, filepath.Join(t.TempDir(), "lookout.db"))
				return db, func() { db.Close() }
			},
			n:     testNotification("n1"),
			cause: bbolt.ErrDatabaseNotOpen,
		},
		{
			name: "full tmpfs",
			open: func(t *testing.T) (*bbolt.DB, func()) {
				dir := mountTmpfs(t, "128k")
				db := openDB(t, filepath.Join(dir, "lookout.db"))
				t.Cleanup(func() { db.Close() })
				return db, func() { fill(t, dir) }
			},
			// Larger than the file system: it cannot fit in pages
			// the database file already has.
			n: func() *alerting.Notification {
				n := testNotification("n1")
				n.Alerts[0].Annotations = model.LabelSet{"description": model.LabelValue(strings.Repeat("d", 256<<10))}
				return n
			}(),
			cause: syscall.ENOSPC,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHook(t, nil)
			db, breakIt := tt.open(t)
			reg := prometheus.NewRegistry()
			var f faults
			o := newOutboxWith(t, db, h.URL+"/hook", reg, &f)
			breakIt()
			for range 2 {
				if err := o.Enqueue(tt.n); err != nil {
					t.Fatalf("Enqueue = %v, want nil: paging fails open", err)
				}
			}
			if got := pending(t, reg); got != 1 {
				t.Errorf("pending = %v, want 1 (the same ID twice is one delivery)", got)
			}
			stop := running(t, o)
			settle(t, reg)
			stop()
			if got := h.got(); len(got) != 1 || got[0].key != "n1" {
				t.Errorf("webhook got %d requests (%+v), want n1 once", len(got), got)
			}
			errs := f.list()
			if len(errs) != 2 {
				t.Fatalf("reported %d failures (%v), want one per Enqueue", len(errs), errs)
			}
			for _, err := range errs {
				if !errors.Is(err, tt.cause) || !strings.HasPrefix(err.Error(), "outbox: enqueue n1: ") {
					t.Errorf("reported %q, want an enqueue of n1 failing with %v", err, tt.cause)
				}
			}
		})
	}
}

// TestRemoveFails: a notification stored before the database failed is
// delivered; that its entry cannot be removed is reported, and the entry
// is still there for the next start.
func TestRemoveFails(t *testing.T) {
	h := newHook(t, nil)
	path := filepath.Join(t.TempDir(), "lookout.db")
	db := openDB(t, path)
	reg := prometheus.NewRegistry()
	var f faults
	o := newOutboxWith(t, db, h.URL+"/hook", reg, &f)
	if err := o.Enqueue(testNotification("n1")); err != nil {
		t.Fatal(err)
	}
	db.Close()
	stop := running(t, o)
	settle(t, reg)
	stop()
	if got := h.got(); len(got) != 1 || got[0].key != "n1" {
		t.Errorf("webhook got %+v, want n1 once", got)
	}
	const want = "outbox: remove sent notification n1/webhook (it may be sent again after a restart): database not open"
	if errs := f.list(); len(errs) != 1 || errs[0].Error() != want || !errors.Is(errs[0], bbolt.ErrDatabaseNotOpen) {
		t.Errorf("reported %v, want %q", errs, want)
	}
	db = openDB(t, path)
	defer db.Close()
	var kept bool
	db.View(func(tx *bbolt.Tx) error {
		kept = tx.Bucket([]byte("notify_outbox")).Get([]byte("n1/webhook")) != nil
		return nil
	})
	if !kept {
		t.Error("the delivered entry is gone from the file; removing it failed, so it should still be there")
	}
}
