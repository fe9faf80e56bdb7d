package notify

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.etcd.io/bbolt"

	"github.com/lookout-dev/lookout/alerting"
)

func TestEnqueueCommitsBeforeSend(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		db := tempDB(t)
		f := &fakeNotifier{}
		f.before = func(n *alerting.Notification) {
			if ids := stored(t, db); !slices.Equal(ids, []string{n.ID + "/webhook"}) || n.Integration != "webhook" {
				t.Errorf("at send of %s to %q, the outbox holds %v; want %s/webhook committed", n.ID, n.Integration, ids, n.ID)
			}
		}
		o, err := NewOutbox(db, map[string]map[string]Notifier{"hook": {"webhook": f}}, OutboxOptions{}, prometheus.NewRegistry(), quietLog())
		if err != nil {
			t.Fatal(err)
		}
		stop := running(t, o)
		if err := o.Enqueue(notification("n1", "hook")); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		stop()
		if len(f.attempts()) != 1 {
			t.Errorf("got %d attempts, want 1", len(f.attempts()))
		}
		if ids := stored(t, db); len(ids) != 0 {
			t.Errorf("after delivery the outbox holds %v", ids)
		}
	})
}

func TestEnqueueErrors(t *testing.T) {
	tests := []struct {
		name string
		n    *alerting.Notification
		want string
	}{
		{name: "no id", n: notification("", "hook"), want: "outbox: enqueue: notification has no id"},
		{name: "unknown receiver", n: notification("n1", "nobody"), want: `outbox: enqueue n1: no receiver named "nobody"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db := tempDB(t)
			o, err := NewOutbox(db, map[string]map[string]Notifier{"hook": {"webhook": &fakeNotifier{}}}, OutboxOptions{}, prometheus.NewRegistry(), quietLog())
			if err != nil {
				t.Fatal(err)
			}
			if err := o.Enqueue(tt.n); err == nil || err.Error() != tt.want {
				t.Fatalf("Enqueue = %v, want %q", err, tt.want)
			}
			if ids := stored(t, db); len(ids) != 0 {
				t.Errorf("outbox holds %v", ids)
			}
		})
	}
}

func TestEnqueueSameIDTwice(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		db := tempDB(t)
		f := &fakeNotifier{}
		o, err := NewOutbox(db, map[string]map[string]Notifier{"hook": {"webhook": f}}, OutboxOptions{}, prometheus.NewRegistry(), quietLog())
		if err != nil {
			t.Fatal(err)
		}
		for range 2 {
			if err := o.Enqueue(notification("n1", "hook")); err != nil {
				t.Fatal(err)
			}
		}
		if got := testutil.ToFloat64(o.metrics.pending); got != 1 {
			t.Errorf("pending = %v, want 1", got)
		}
		stop := running(t, o)
		synctest.Wait()
		stop()
		if len(f.attempts()) != 1 {
			t.Errorf("got %d sends, want 1", len(f.attempts()))
		}
	})
}

func TestRunTwice(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		o, err := NewOutbox(tempDB(t), map[string]map[string]Notifier{"hook": {"webhook": &fakeNotifier{}}}, OutboxOptions{}, prometheus.NewRegistry(), quietLog())
		if err != nil {
			t.Fatal(err)
		}
		stop := running(t, o)
		synctest.Wait()
		if err := o.Run(t.Context()); err == nil || err.Error() != "outbox: already running" {
			t.Errorf("second Run = %v, want already running", err)
		}
		stop()
	})
}

// TestShutdownKeepsInFlight: a send cut off by shutdown stays pending and
// is delivered by the next outbox on the same file.
func TestShutdownKeepsInFlight(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "lookout.db")
		db := openDB(t, path)
		hung := &fakeNotifier{block: true}
		o, err := NewOutbox(db, map[string]map[string]Notifier{"hook": {"webhook": hung}}, OutboxOptions{}, prometheus.NewRegistry(), quietLog())
		if err != nil {
			t.Fatal(err)
		}
		stop := running(t, o)
		if err := o.Enqueue(notification("n1", "hook")); err != nil {
			t.Fatal(err)
		}
		synctest.Wait() // the send is in flight
		stop()          // returns only once the worker has
		if n := len(hung.attempts()); n != 1 {
			t.Fatalf("got %d attempts before shutdown, want 1", n)
		}
		if ids := stored(t, db); !slices.Equal(ids, []string{"n1/webhook"}) {
			t.Fatalf("after shutdown the outbox holds %v, want [n1/webhook]", ids)
		}
		for _, res := range results {
			if got := count(o, "hook", "webhook", res); got != 0 {
				t.Errorf("a cancelled send counted as %s", res)
			}
		}
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}

		db = openDB(t, path)
		defer db.Close()
		f := &fakeNotifier{}
		o, err = NewOutbox(db, map[string]map[string]Notifier{"hook": {"webhook": f}}, OutboxOptions{}, prometheus.NewRegistry(), quietLog())
		if err != nil {
			t.Fatal(err)
		}
		if got := testutil.ToFloat64(o.metrics.pending); got != 1 {
			t.Errorf("pending after reopening = %v, want 1", got)
		}
		stop = running(t, o)
		synctest.Wait()
		stop()
		if len(f.attempts()) != 1 || count(o, "hook", "webhook", resultSent) != 1 {
			t.Errorf("after reopening: %d attempts, %v sent; want 1 and 1", len(f.attempts()), count(o, "hook", "webhook", resultSent))
		}
		if ids := stored(t, db); len(ids) != 0 {
			t.Errorf("outbox still holds %v", ids)
		}
	})
}

// TestResume: what is pending when the file is closed is delivered after
// it is reopened, oldest first; expired ones are dropped, and ones for
// receivers or integrations no longer configured are kept until they
// expire.
func TestResume(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "lookout.db")
		db := openDB(t, path)
		notifiers := map[string]map[string]Notifier{
			"hook":     {"webhook": &fakeNotifier{}, "log": &fakeNotifier{}},
			"gone":     {"webhook": &fakeNotifier{}},
			"gone-old": {"webhook": &fakeNotifier{}},
		}
		o, err := NewOutbox(db, notifiers, OutboxOptions{}, prometheus.NewRegistry(), quietLog())
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range []*alerting.Notification{notification("old", "gone-old"), notification("n2", "hook")} {
			if err := o.Enqueue(n); err != nil {
				t.Fatal(err)
			}
		}
		time.Sleep(23 * time.Hour)
		for _, n := range []*alerting.Notification{notification("n1", "hook"), notification("n3", "gone")} {
			if err := o.Enqueue(n); err != nil {
				t.Fatal(err)
			}
		}
		time.Sleep(2 * time.Hour) // "old" and n2 are now over a day old
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}

		db = openDB(t, path)
		defer db.Close()
		f := &fakeNotifier{}
		o, err = NewOutbox(db, map[string]map[string]Notifier{"hook": {"webhook": f}}, OutboxOptions{}, prometheus.NewRegistry(), quietLog())
		if err != nil {
			t.Fatal(err)
		}
		// n2/log is over a day old, for an integration no longer
		// configured: dropped at once.
		if got := testutil.ToFloat64(o.metrics.pending); got != 4 {
			t.Errorf("pending = %v, want 4 (n1, n2, n3 to webhooks, n1 to log)", got)
		}
		stop := running(t, o)
		synctest.Wait()
		stop()
		if !slices.Equal(f.ids, []string{"n1"}) {
			t.Errorf("sent %v, want [n1]", f.ids)
		}
		if got := count(o, "hook", "webhook", resultExpired); got != 1 {
			t.Errorf("expired = %v, want 1 (n2)", got)
		}
		if ids, want := stored(t, db), []string{"n1/log", "n3/webhook"}; !slices.Equal(ids, want) {
			t.Errorf("outbox holds %v, want %v (for an integration and a receiver no longer configured)", ids, want)
		}
	})
}

func TestResumeDropsUndecodable(t *testing.T) {
	db := tempDB(t)
	err := db.Update(func(tx *bbolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bucketName)
		if err != nil {
			return err
		}
		if err := b.Put([]byte("junk"), []byte("{not json")); err != nil {
			return err
		}
		// As stored before deliveries were per integration.
		return b.Put([]byte("n0"), []byte(`{"notification":{"id":"n0","receiver":"hook"},"enqueuedAt":"2030-01-02T03:04:05Z"}`))
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewOutbox(db, nil, OutboxOptions{}, prometheus.NewRegistry(), quietLog()); err != nil {
		t.Fatal(err)
	}
	if ids := stored(t, db); len(ids) != 0 {
		t.Errorf("outbox holds %v", ids)
	}
}

func TestBackoff(t *testing.T) {
	opts := OutboxOptions{}
	opts.setDefaults()
	tests := []struct {
		attempts int
		min, max time.Duration
	}{
		{1, time.Second, 1200 * time.Millisecond},
		{2, 2 * time.Second, 2400 * time.Millisecond},
		{8, 128 * time.Second, 153600 * time.Millisecond},
		{9, 256 * time.Second, 5 * time.Minute},
		{10, 5 * time.Minute, 5 * time.Minute},
		{1000, 5 * time.Minute, 5 * time.Minute},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("after %d failures", tt.attempts), func(t *testing.T) {
			for range 100 {
				if d := opts.backoff(tt.attempts); d < tt.min || d > tt.max {
					t.Fatalf("backoff(%d) = %v, want in [%v, %v]", tt.attempts, d, tt.min, tt.max)
				}
			}
		})
	}
}

// TestEnqueueWith: what also writes commits with the notification's
// entries, or neither does; when the transaction fails, the
// notification is pending in memory all the same (paging fails open) and
// the failure is reported.
func TestEnqueueWith(t *testing.T) {
	other := []byte("dispatch_state")
	tests := []struct {
		name        string
		also        func(tx *bbolt.Tx) error
		wantFailure string
		wantStored  bool
	}{
		{
			name: "both commit",
			also: func(tx *bbolt.Tx) error {
				b, err := tx.CreateBucketIfNotExists(other)
				if err != nil {
					return err
				}
				return b.Put([]byte("group"), []byte("state"))
			},
			wantStored: true,
		},
		{
			name: "neither commits",
			also: func(tx *bbolt.Tx) error {
				if _, err := tx.CreateBucketIfNotExists(other); err != nil {
					return err
				}
				return errors.New("state does not encode")
			},
			wantFailure: "outbox: enqueue n1: state does not encode",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db := tempDB(t)
			var f writeFailures
			o, err := NewOutbox(db, map[string]map[string]Notifier{"hook": {"webhook": &fakeNotifier{}, "log": &fakeNotifier{}}}, OutboxOptions{WriteFailures: &f}, prometheus.NewRegistry(), quietLog())
			if err != nil {
				t.Fatal(err)
			}
			if err := o.EnqueueWith(notification("n1", "hook"), tt.also); err != nil {
				t.Fatalf("EnqueueWith = %v, want nil", err)
			}
			if got := f.String(); got != tt.wantFailure {
				t.Errorf("failures reported: %q, want %q", got, tt.wantFailure)
			}
			var state bool
			db.View(func(tx *bbolt.Tx) error {
				state = tx.Bucket(other) != nil && tx.Bucket(other).Get([]byte("group")) != nil
				return nil
			})
			wantIDs := []string{"n1/log", "n1/webhook"}
			if !tt.wantStored {
				wantIDs = nil
			}
			if state != tt.wantStored {
				t.Errorf("state stored = %v, want %v", state, tt.wantStored)
			}
			if ids := stored(t, db); !slices.Equal(ids, wantIDs) {
				t.Errorf("outbox holds %v, want %v", ids, wantIDs)
			}
			if got := testutil.ToFloat64(o.metrics.pending); got != 2 {
				t.Errorf("pending = %v, want 2 (one per integration, stored or not)", got)
			}
		})
	}
}

// writeFailures records the failures an outbox reports.
type writeFailures struct {
	mu   sync.Mutex
	errs []error
}

func (f *writeFailures) WriteFailed(err error) {
	f.mu.Lock()
	f.errs = append(f.errs, err)
	f.mu.Unlock()
}

func (f *writeFailures) list() []error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.errs)
}

// String joins the failures' messages with "; ".
func (f *writeFailures) String() string {
	var ss []string
	for _, err := range f.list() {
		ss = append(ss, err.Error())
	}
	return strings.Join(ss, "; ")
}
