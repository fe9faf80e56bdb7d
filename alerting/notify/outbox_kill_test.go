package notify_test

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// The child process: env names and what it prints once its outbox is
// empty.
const (
	childDB       = "LOOKOUT_NOTIFY_CHILD_DB"
	childURL      = "LOOKOUT_NOTIFY_CHILD_URL"
	childRecorded = "outbox empty"
)

// TestOutboxSurvivesKill runs an outbox in a real child process (this
// test binary again), SIGKILLs it, and runs a new outbox on the same file.
func TestOutboxSurvivesKill(t *testing.T) {
	if os.Getenv(childDB) != "" {
		runChild(t)
		return
	}
	tests := []struct {
		name string
		// hold keeps the first request open until the child is dead;
		// otherwise the child is killed once it says it recorded the
		// delivery.
		hold bool
		want int // requests the webhook gets in all
	}{
		// The send succeeded but was never recorded: it is the one
		// duplicate the outbox allows.
		{name: "killed while the webhook holds the request", hold: true, want: 2},
		// Recorded as delivered: never sent again.
		{name: "killed after the delivery was recorded", want: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			held, release := make(chan struct{}), make(chan struct{})
			var releaseOnce sync.Once
			defer releaseOnce.Do(func() { close(release) })
			h := newHook(t, func(i int, w http.ResponseWriter, r *http.Request) {
				if tt.hold && i == 0 {
					close(held)
					select {
					case <-release:
					case <-r.Context().Done():
					}
				}
			})
			path := filepath.Join(t.TempDir(), "lookout.db")

			child := exec.Command(os.Args[0], "-test.run=^TestOutboxSurvivesKill$", "-test.count=1")
			child.Env = append(os.Environ(), childDB+"="+path, childURL+"="+h.URL+"/hook")
			out, err := child.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			var stderr strings.Builder
			child.Stderr = &stderr
			if err := child.Start(); err != nil {
				t.Fatal(err)
			}
			recorded := make(chan struct{})
			go func() {
				sc := bufio.NewScanner(out)
				for sc.Scan() {
					if sc.Text() == childRecorded {
						close(recorded)
					}
				}
			}()
			ready := held
			if !tt.hold {
				ready = recorded
			}
			select {
			case <-ready:
			case <-time.After(30 * time.Second):
				child.Process.Kill()
				child.Wait()
				t.Fatalf("child never got there; stderr:\n%s", stderr.String())
			}
			if err := child.Process.Kill(); err != nil { // SIGKILL
				t.Fatal(err)
			}
			_ = child.Wait() // "signal: killed"
			releaseOnce.Do(func() { close(release) })

			db := openDB(t, path)
			defer db.Close()
			reg := prometheus.NewRegistry()
			o := newOutbox(t, db, h.URL+"/hook", reg)
			stop := running(t, o)
			settle(t, reg)
			time.Sleep(3 * fast.MaxBackoff)
			stop()

			got := h.got()
			if len(got) != tt.want {
				t.Fatalf("webhook got %d requests, want %d", len(got), tt.want)
			}
			for i, r := range got {
				if r.key != "crash-1" {
					t.Errorf("request %d has Idempotency-Key %q, want crash-1", i, r.key)
				}
			}
			if err := testutil.GatherAndCompare(reg, strings.NewReader(counters(tt.want-1, 0, 0, 0)), "lookout_notifications_total"); err != nil {
				t.Error(err)
			}
		})
	}
}

// runChild enqueues one notification and delivers it, saying when the
// outbox is empty, until it is killed (or gives up after a while).
func runChild(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	db := openDB(t, os.Getenv(childDB))
	defer db.Close()
	reg := prometheus.NewRegistry()
	o := newOutbox(t, db, os.Getenv(childURL), reg)
	if err := o.Enqueue(testNotification("crash-1")); err != nil {
		t.Fatal(err)
	}
	go func() {
		for pending(t, reg) != 0 {
			time.Sleep(5 * time.Millisecond)
		}
		fmt.Println(childRecorded)
	}()
	if err := o.Run(ctx); err != nil {
		t.Fatal(err)
	}
	t.Fatal("child was not killed")
}
