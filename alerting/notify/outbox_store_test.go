package notify

import (
	"errors"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"

	"github.com/prometheus/client_golang/prometheus"
)

// memStore is a Store in memory, as the cluster's shared database is one
// outside the process; fenced makes it refuse writes.
type memStore struct {
	mu      sync.Mutex
	entries map[string][]byte
	states  map[string][]byte
	fenced  bool
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
