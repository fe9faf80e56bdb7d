package cluster_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/lookout-dev/lookout/alerting/cluster"
	"github.com/lookout-dev/lookout/alerting/notify"
	"github.com/lookout-dev/lookout/probes/uptime"
)

// TestOutboxFencedAndCarriedOver: only the leader stores notifications;
// the group state a delivery carries is read back even when the group's
// own document was not written; after a takeover the new leader loads
// what the old one left undelivered, and the old one is refused.
func TestOutboxFencedAndCarriedOver(t *testing.T) {
	db := database(t)
	a := cluster.New(db, cluster.Options{Replica: "lookout-a", Lease: lease})
	b := cluster.New(db, cluster.Options{Replica: "lookout-b", Lease: lease})
	refresh(t, a)
	refresh(t, b)
	if l := leaders(a, b); !slices.Equal(l, []string{"lookout-a"}) {
		t.Fatalf("leaders %v, want lookout-a", l)
	}
	oa, ob := a.Outbox(nil), b.Outbox(nil)
	entry := []notify.Entry{{Key: "n1/slack", Data: []byte(`{"x":1}`)}, {Key: "n1/sentry", Data: []byte(`{"x":2}`)}}
	added, err := oa.Put(entry, &notify.GroupState{Key: "group-1", Value: []byte(`{"firing":["1"]}`)})
	if err != nil || !slices.Equal(added, []bool{true, true}) {
		t.Fatalf("leader's Put = %v, %v; want both stored", added, err)
	}
	if added, err := oa.Put(entry[:1], nil); err != nil || added[0] {
		t.Errorf("second Put of n1/slack = %v, %v; want not stored again", added, err)
	}
	if _, err := ob.Put([]notify.Entry{{Key: "n2/slack", Data: []byte(`{}`)}}, nil); !errors.Is(err, notify.ErrFenced) {
		t.Errorf("a follower's Put = %v, want ErrFenced", err)
	}
	failOpen := b.Outbox(func() bool { return true })
	if _, err := failOpen.Put([]notify.Entry{{Key: "n2/slack", Data: []byte(`{}`)}}, nil); err == nil || errors.Is(err, notify.ErrFenced) {
		t.Errorf("a follower failing open: Put = %v, want a plain error (the outbox then sends from memory)", err)
	}

	// The leader stops without resigning; b takes over after the lease.
	time.Sleep(lease + 200*time.Millisecond)
	refresh(t, b)
	if _, ok := b.Leading(); !ok {
		t.Fatal("b does not lead after a's lease expired")
	}
	if err := oa.Delete("n1/sentry"); err != nil { // delivered just before
		t.Fatal(err)
	}
	got, err := ob.Load()
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Key != "n1/slack" || string(got[0].Data) != `{"x":1}` {
		t.Errorf("the new leader loads %+v, want n1/slack", got)
	}
	states, err := ob.GroupStates(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if string(states["group-1"]) != `{"firing":["1"]}` {
		t.Errorf("group-1's state = %q", states["group-1"])
	}
	if _, err := oa.Put([]notify.Entry{{Key: "n3/slack", Data: []byte(`{}`)}}, nil); !errors.Is(err, notify.ErrFenced) {
		t.Errorf("the deposed leader's Put = %v, want ErrFenced", err)
	}
	// Nothing firing: the new leader deletes the group's state.
	if _, err := ob.Put([]notify.Entry{{Key: "n4/slack", Data: []byte(`{}`)}}, &notify.GroupState{Key: "group-1"}); err != nil {
		t.Fatal(err)
	}
	if err := ob.Delete("n1/slack"); err != nil {
		t.Fatal(err)
	}
	if states, err := ob.GroupStates(t.Context()); err != nil || len(states) != 0 {
		t.Errorf("states after the group resolved = %v, %v; want none", states, err)
	}
}

// TestPublish: each replica's last publication replaces its previous one
// and carries the server's time.
func TestPublish(t *testing.T) {
	db := database(t)
	a := cluster.New(db, cluster.Options{Replica: "lookout-a", Lease: lease})
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := a.Publish(ctx, []byte("1")); err == nil {
		t.Error("Publish before the first refresh worked; want an error (no server time yet)")
	}
	refresh(t, a)
	for _, v := range []string{"1", "2"} {
		if err := a.Publish(ctx, []byte(v)); err != nil {
			t.Fatal(err)
		}
	}
	got, err := a.AllPublished(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Replica != "lookout-a" || string(got[0].Data) != "2" || got[0].Seen.IsZero() {
		t.Errorf("published %+v, want lookout-a's 2 with a time", got)
	}
}

// TestSharedRecords: heartbeat signals saved by two replicas are read
// back per heartbeat; records and buckets written by one replica are read
// by another.
func TestSharedRecords(t *testing.T) {
	db := database(t)
	a := cluster.New(db, cluster.Options{Replica: "lookout-a", Lease: lease})
	b := cluster.New(db, cluster.Options{Replica: "lookout-b", Lease: lease})
	for _, s := range []struct {
		c    *cluster.Cluster
		name string
		v    string
	}{{a, "dump", "a1"}, {a, "dump", "a2"}, {b, "dump", "b1"}, {b, "backup", "b2"}} {
		if err := s.c.Heartbeats().Save(s.name, []byte(s.v)); err != nil {
			t.Fatal(err)
		}
	}
	got, err := a.Heartbeats().Load()
	if err != nil {
		t.Fatal(err)
	}
	var dump []string
	for _, v := range got["dump"] {
		dump = append(dump, string(v))
	}
	slices.Sort(dump)
	if !slices.Equal(dump, []string{"a2", "b1"}) || len(got["backup"]) != 1 || string(got["backup"][0]) != "b2" {
		t.Errorf("check-ins read back: dump %v, backup %q; want a's latest and b's for dump, b's for backup", dump, got["backup"])
	}

	if err := a.Records("slack_threads").Put("group-1", []byte("ts-1")); err != nil {
		t.Fatal(err)
	}
	if v, ok, err := b.Records("slack_threads").Get("group-1"); err != nil || !ok || string(v) != "ts-1" {
		t.Errorf("b reads group-1 = %q, %v, %v; want a's ts-1", v, ok, err)
	}
	if err := b.Records("slack_threads").Delete("group-1"); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := a.Records("slack_threads").Get("group-1"); err != nil || ok {
		t.Errorf("after b deleted it, a reads group-1: %v, %v", ok, err)
	}

	if err := a.Bucket("silences").Write(map[string][]byte{"s1": []byte("x"), "s2": []byte("y")}, nil); err != nil {
		t.Fatal(err)
	}
	if err := b.Bucket("silences").Write(map[string][]byte{"s3": []byte("z")}, []string{"s1"}); err != nil {
		t.Fatal(err)
	}
	if m, err := a.Bucket("silences").Load(); err != nil || len(m) != 2 || string(m["s2"]) != "y" || string(m["s3"]) != "z" {
		t.Errorf("silences read back: %q, %v; want s2 and s3", m, err)
	}
}

// TestSequence: two replicas drawing IDs at once never get the same one.
func TestSequence(t *testing.T) {
	db := database(t)
	a := cluster.New(db, cluster.Options{Replica: "lookout-a", Lease: 3 * time.Second})
	b := cluster.New(db, cluster.Options{Replica: "lookout-b", Lease: 3 * time.Second})
	var mu sync.Mutex
	seen := map[uint64]bool{}
	var wg sync.WaitGroup
	for _, c := range []*cluster.Cluster{a, b, a, b} {
		wg.Go(func() {
			for range 10 {
				id, err := c.Sequence("incidents").NextID()
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				if seen[id] {
					t.Errorf("ID %d drawn twice", id)
				}
				seen[id] = true
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	for id := range uint64(40) {
		if !seen[id+1] {
			t.Errorf("ID %d never drawn; want 1 to 40", id+1)
		}
	}
}

// TestSharedUptime: each replica's periods are saved in one bulk write,
// replaced when saved again, read by the other replicas only, and pruned.
func TestSharedUptime(t *testing.T) {
	db := database(t)
	a := cluster.New(db, cluster.Options{Replica: "lookout-a", Lease: 3 * time.Second})
	b := cluster.New(db, cluster.Options{Replica: "lookout-b", Lease: 3 * time.Second})
	h := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	period := func(start time.Time, up uint32) uptime.SharedPeriod {
		return uptime.SharedPeriod{Probe: "api", Step: uptime.Hour, Period: uptime.Period{Start: start, Millis: uptime.Millis{Up: up}}}
	}
	if err := a.Uptime().Save([]uptime.SharedPeriod{period(h, 1), period(h.Add(time.Hour), 2)}); err != nil {
		t.Fatal(err)
	}
	if err := a.Uptime().Save([]uptime.SharedPeriod{period(h.Add(time.Hour), 3)}); err != nil {
		t.Fatal(err)
	}
	got, err := b.Uptime().Load("api", uptime.Hour, h, h.Add(2*time.Hour))
	if err != nil || len(got) != 2 || got[0].Millis.Up+got[1].Millis.Up != 4 {
		t.Fatalf("b reads %+v, %v; want a's two hours, the second saved again (1 and 3 ms)", got, err)
	}
	if own, err := a.Uptime().Load("api", uptime.Hour, h, h.Add(2*time.Hour)); err != nil || len(own) != 0 {
		t.Errorf("a reads its own periods back: %+v, %v", own, err)
	}
	if err := b.Uptime().Prune(uptime.Hour, h.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if got, err := cluster.New(db, cluster.Options{Replica: "lookout-c", Lease: 3 * time.Second}).Uptime().Load("api", uptime.Hour, h, h.Add(2*time.Hour)); err != nil || len(got) != 1 {
		t.Errorf("after pruning the first hour: %+v, %v; want the second", got, err)
	}
}
