package cluster_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/lookout-dev/lookout/alerting/cluster"
	"github.com/lookout-dev/lookout/alerting/notify"
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
