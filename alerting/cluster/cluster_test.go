package cluster_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/lookout-dev/lookout/alerting/cluster"
	"github.com/lookout-dev/lookout/collectors/mongodb/ferretdbtest"
)

const lease = 1500 * time.Millisecond

// database is a fresh database on a real FerretDB.
func database(t *testing.T) *mongo.Database {
	t.Helper()
	srv := ferretdbtest.StartWith(t, ferretdbtest.Options{OnDisk: true})
	client, err := mongo.Connect(options.Client().ApplyURI(srv.URI))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Disconnect(context.Background()) })
	return client.Database("lookout")
}

func refresh(t *testing.T, cs ...*cluster.Cluster) {
	t.Helper()
	for _, c := range cs {
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		err := c.Refresh(ctx, time.Now())
		cancel()
		if err != nil {
			t.Fatalf("refresh %s: %v", c.State().Replica, err)
		}
	}
}

// leaders are the replicas that think they lead.
func leaders(cs ...*cluster.Cluster) []string {
	var out []string
	for _, c := range cs {
		if _, ok := c.Leading(); ok {
			out = append(out, c.State().Replica)
		}
	}
	return out
}

// TestMembershipAndLease: three replicas on one database see one another
// and exactly one of them leads; when the leader stops renewing, another
// takes over once the lease has expired by the server's time, with a
// higher epoch, and the old one's writes are fenced off and it no longer
// thinks it leads; a member that stops beating leaves the live set.
func TestMembershipAndLease(t *testing.T) {
	db := database(t)
	var cs []*cluster.Cluster
	for _, name := range []string{"lookout-a", "lookout-b", "lookout-c"} {
		cs = append(cs, cluster.New(db, cluster.Options{Replica: name, Location: "eu-" + name[len(name)-1:], Lease: lease}))
	}
	refresh(t, cs...)
	refresh(t, cs...) // the first round may have read the members before the last joined
	for _, c := range cs {
		if got := c.Replicas(); len(got) != 0 {
			t.Errorf("%s gives probes to %v at once; want none until half a lease after they joined", c.State().Replica, got)
		}
	}
	time.Sleep(lease / 2)
	for _, c := range cs {
		if got := c.Replicas(); !slices.Equal(got, []string{"lookout-a", "lookout-b", "lookout-c"}) {
			t.Errorf("%s sees %v half a lease later, want all three", c.State().Replica, got)
		}
	}
	if l := leaders(cs...); len(l) != 1 {
		t.Fatalf("leaders %v, want exactly one", l)
	}
	var old *cluster.Cluster
	var rest []*cluster.Cluster
	for _, c := range cs {
		if _, ok := c.Leading(); ok {
			old = c
		} else {
			rest = append(rest, c)
		}
	}
	oldEpoch, _ := old.Leading()
	st := rest[0].State()
	if st.Leader != old.State().Replica || st.Epoch != oldEpoch {
		t.Errorf("a follower sees leader %s epoch %d, want %s %d", st.Leader, st.Epoch, old.State().Replica, oldEpoch)
	}

	// The leader stops (as a paused or killed process): the others go on.
	deadline := time.Now().Add(10 * lease)
	for len(leaders(rest...)) == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("no takeover within %s", 10*lease)
		}
		time.Sleep(lease / 3)
		refresh(t, rest...)
	}
	if l := leaders(rest...); len(l) != 1 {
		t.Fatalf("leaders after the takeover %v, want one", l)
	}
	var next *cluster.Cluster
	for _, c := range rest {
		if _, ok := c.Leading(); ok {
			next = c
		}
	}
	newEpoch, _ := next.Leading()
	if newEpoch <= oldEpoch {
		t.Errorf("epoch %d after the takeover, want more than %d", newEpoch, oldEpoch)
	}
	if _, ok := old.Leading(); ok {
		t.Error("the old leader still thinks it leads a lease after its last renewal")
	}
	if err := old.Fence(t.Context(), oldEpoch); !errors.Is(err, cluster.ErrDeposed) {
		t.Errorf("the old leader's fenced write: %v, want ErrDeposed", err)
	}
	if err := next.Fence(t.Context(), newEpoch); err != nil {
		t.Errorf("the new leader's fenced write: %v", err)
	}
	if got := next.Replicas(); slices.Contains(got, old.State().Replica) {
		t.Errorf("live replicas %v still hold the stopped %s", got, old.State().Replica)
	}

	// The old leader wakes up: it follows, and does not lead again.
	refresh(t, old)
	if _, ok := old.Leading(); ok || old.State().Leader != next.State().Replica {
		t.Errorf("the woken replica leads (%v) or sees leader %s, want it to follow %s", leaders(old), old.State().Leader, next.State().Replica)
	}
}

// TestResignHandsOver: a replica that stops gives its lease up, so another
// takes it at its next refresh rather than a lease later.
func TestResignHandsOver(t *testing.T) {
	db := database(t)
	const lease = 6 * time.Second
	a := cluster.New(db, cluster.Options{Replica: "a", Lease: lease})
	b := cluster.New(db, cluster.Options{Replica: "b", Lease: lease})
	refresh(t, a, b)
	if l := leaders(a, b); !slices.Equal(l, []string{"a"}) {
		t.Fatalf("leaders %v, want a", l)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	start := time.Now()
	go func() { done <- a.Run(ctx) }()
	time.Sleep(200 * time.Millisecond)
	cancel()
	time.Sleep(300 * time.Millisecond) // a resigns at once, then hands its probes over half a lease later
	refresh(t, b)
	if l := leaders(a, b); !slices.Equal(l, []string{"b"}) {
		t.Errorf("leaders %v after a stopped, want b at once (the lease is %s)", l, lease)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took < lease/2 {
		t.Errorf("a's Run returned after %s; want it to probe on until the handover, half a lease (%s) after the stop", took, lease/2)
	}
	time.Sleep(100 * time.Millisecond)
	if got := b.Replicas(); slices.Contains(got, "a") {
		t.Errorf("after the handover b still gives probes to %v", got)
	}
}

// TestAssign: a probe runs on as many replicas as it asks for, distinct;
// probes spread evenly; when a replica leaves, only the probes it ran
// move, and when one joins, it takes probes only from the others.
func TestAssign(t *testing.T) {
	three := []string{"a", "b", "c"}
	count := map[string]int{}
	for i := range 9000 {
		p := fmt.Sprintf("probe-%d", i)
		one := cluster.Assign(p, three, 1)
		two := cluster.Assign(p, three, 2)
		if len(one) != 1 || len(two) != 2 || two[0] == two[1] || two[0] != one[0] {
			t.Fatalf("%s: %v and %v; want one replica, then two distinct starting with it", p, one, two)
		}
		count[one[0]]++
		if got := cluster.Assign(p, three, 0); !slices.Equal(got, three) {
			t.Fatalf("replicas all: %v", got)
		}
		without := cluster.Assign(p, []string{"a", "c"}, 1)
		if one[0] != "b" && without[0] != one[0] {
			t.Fatalf("%s moved from %s to %s when b left", p, one[0], without[0])
		}
		with := cluster.Assign(p, []string{"a", "b", "c", "d"}, 1)
		if with[0] != "d" && with[0] != one[0] {
			t.Fatalf("%s moved from %s to %s when d joined", p, one[0], with[0])
		}
	}
	for r, n := range count {
		if math.Abs(float64(n)-3000) > 300 {
			t.Errorf("%s runs %d of 9000 probes, want about 3000", r, n)
		}
	}
}
