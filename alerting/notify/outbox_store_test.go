package notify

import (
	"encoding/json"
	"errors"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// memStore is a Store in memory, as the cluster's shared database is one
// outside the process; fenced makes it refuse writes.
type memStore struct {
	mu         sync.Mutex
	entries    map[string][]byte
	states     map[string][]byte
	fenced     bool
	failDelete bool
}

func (s *memStore) setFailDelete(v bool) {
	s.mu.Lock()
	s.failDelete = v
	s.mu.Unlock()
}

func (s *memStore) remove(key string) {
	s.mu.Lock()
	delete(s.entries, key)
	s.mu.Unlock()
}

// Has implements Checker.
func (s *memStore) Has(key string) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.entries[key]
	return ok, nil
}

// mustEncode is a stored record of notification id for hook's webhook.
func mustEncode(t *testing.T, id string) []byte {
	n := *notification(id, "hook")
	n.Integration = "webhook"
	data, err := json.Marshal(record{Notification: n, EnqueuedAt: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func newMemStore() *memStore {
	return &memStore{entries: map[string][]byte{}, states: map[string][]byte{}}
}

func (s *memStore) Put(entries []Entry, state *GroupState) ([]bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fenced {
		return nil, ErrFenced
	}
	added := make([]bool, len(entries))
	for i, e := range entries {
		if _, ok := s.entries[e.Key]; !ok {
			s.entries[e.Key], added[i] = e.Data, true
		}
	}
	if state != nil {
		s.states[state.Key] = state.Value
	}
	return added, nil
}

func (s *memStore) Delete(key string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failDelete {
		return errors.New("the database went away")
	}
	delete(s.entries, key)
	return nil
}

func (s *memStore) Load() ([]Entry, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Entry
	for k, v := range s.entries {
		out = append(out, Entry{Key: k, Data: v})
	}
	return out, nil
}

func (s *memStore) keys() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Sorted(maps.Keys(s.entries))
}

// TestMaySend: a replica that may not send leaves what it stored to the
// one that may, which sends it once after Resume and removes it.
func TestMaySend(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store := newMemStore()
		var leads atomic.Bool
		f := &fakeNotifier{}
		o, err := NewOutbox(nil, map[string]map[string]Notifier{"hook": {"webhook": f}},
			OutboxOptions{Store: store, MaySend: leads.Load}, prometheus.NewRegistry(), quietLog())
		if err != nil {
			t.Fatal(err)
		}
		stop := running(t, o)
		defer stop()
		if err := o.EnqueueWithState(notification("n1", "hook"), "group", []byte(`{}`)); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		if n := len(f.attempts()); n != 0 {
			t.Fatalf("a replica that may not send made %d attempts", n)
		}
		if got := store.keys(); !slices.Equal(got, []string{"n1/webhook"}) {
			t.Fatalf("store holds %v, want n1/webhook kept for the leader", got)
		}
		if string(store.states["group"]) != `{}` {
			t.Errorf("group state stored = %q", store.states["group"])
		}
		leads.Store(true)
		if err := o.Resume(); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		if n := len(f.attempts()); n != 1 {
			t.Errorf("after taking over: %d attempts, want 1", n)
		}
		if got := store.keys(); len(got) != 0 {
			t.Errorf("after delivery the store holds %v", got)
		}
	})
}

// TestFencedEnqueue: a store that refuses the write (another replica
// leads) makes Enqueue fail and nothing is sent from memory, unlike a
// store that fails.
func TestFencedEnqueue(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store := newMemStore()
		store.fenced = true
		f := &fakeNotifier{}
		o, err := NewOutbox(nil, map[string]map[string]Notifier{"hook": {"webhook": f}},
			OutboxOptions{Store: store}, prometheus.NewRegistry(), quietLog())
		if err != nil {
			t.Fatal(err)
		}
		stop := running(t, o)
		defer stop()
		if err := o.Enqueue(notification("n1", "hook")); !errors.Is(err, ErrFenced) {
			t.Errorf("Enqueue = %v, want ErrFenced", err)
		}
		synctest.Wait()
		if n := len(f.attempts()); n != 0 {
			t.Errorf("a fenced replica made %d attempts", n)
		}
	})
}

// TestResumeAfter: a new leader sends what the old one left only if it is
// still stored when its wait is over: the old leader, back in touch with
// the database, removes what it delivered meanwhile (RetryRemovals).
func TestResumeAfter(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store := newMemStore()
		old, next := &fakeNotifier{}, &fakeNotifier{}
		oldBox, err := NewOutbox(nil, map[string]map[string]Notifier{"hook": {"webhook": old}}, OutboxOptions{Store: store}, prometheus.NewRegistry(), quietLog())
		if err != nil {
			t.Fatal(err)
		}
		nextBox, err := NewOutbox(nil, map[string]map[string]Notifier{"hook": {"webhook": next}}, OutboxOptions{Store: store}, prometheus.NewRegistry(), quietLog())
		if err != nil {
			t.Fatal(err)
		}
		stopOld, stopNext := running(t, oldBox), running(t, nextBox)
		defer stopOld()
		defer stopNext()
		store.setFailDelete(true) // the database goes away as the old leader delivers
		for _, id := range []string{"n1", "n2"} {
			if err := oldBox.Enqueue(notification(id, "hook")); err != nil {
				t.Fatal(err)
			}
		}
		synctest.Wait()
		if len(old.attempts()) != 2 || len(store.keys()) != 2 {
			t.Fatalf("old leader: %d sent, store holds %v; want both sent and still stored", len(old.attempts()), store.keys())
		}
		if err := nextBox.ResumeAfter(2 * time.Second); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Second)
		store.setFailDelete(false)
		store.remove("n2/webhook") // only n1 is left for the old leader to remove
		if left := oldBox.RetryRemovals(); left != 0 {
			t.Fatalf("%d removals still failing", left)
		}
		if _, err := store.Put([]Entry{{Key: "n2/webhook", Data: mustEncode(t, "n2")}}, nil); err != nil {
			t.Fatal(err) // n2: the old leader never sent it after all
		}
		time.Sleep(2 * time.Second)
		synctest.Wait()
		next.mu.Lock()
		ids := slices.Clone(next.ids)
		next.mu.Unlock()
		if !slices.Equal(ids, []string{"n2"}) {
			t.Errorf("the new leader sent %v; want n2 only (n1 was delivered and removed by the old one)", ids)
		}
	})
}
