package mongodb

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// memberPoolSize bounds the connections to each member: $indexStats is
// read one collection at a time per member.
const memberPoolSize = 1

// members keeps a direct connection to each replica-set member, because
// $indexStats counts only the accesses of the member it runs on, and an
// index is unused only if no member used it. The connections reuse the
// target's credentials and TLS settings.
type members struct {
	base   *options.ClientOptions
	redact redactor

	mu     sync.Mutex
	byHost map[string]*mongo.Client
}

func newMembers(base *options.ClientOptions, r redactor) *members {
	return &members{base: base, redact: r, byHost: map[string]*mongo.Client{}}
}

// hello is what Lookout reads of the hello reply: a replica-set member
// names its set and the data-bearing members (hosts, and passives of
// priority 0; arbiters hold no data; hidden members serve no reads).
type hello struct {
	SetName  string   `bson:"setName"`
	Hosts    []string `bson:"hosts"`
	Passives []string `bson:"passives"`
}

// dataMembers are the hosts to read $indexStats on: every data-bearing
// member of a replica set, sorted; none for a standalone server.
func (h hello) dataMembers() []string {
	if h.SetName == "" {
		return nil
	}
	return slices.Sorted(slices.Values(append(slices.Clone(h.Hosts), h.Passives...)))
}

// clients returns a client for each member of the target's replica set
// that answers a ping within wait, or none for a standalone server (the
// target's own client then reads it). unreachable names the members that
// did not answer: one down member must not hold the pass up to its
// timeout. Members that left the set are disconnected.
func (m *members) clients(ctx context.Context, client *mongo.Client, wait time.Duration) (reachable []*mongo.Client, unreachable []error, err error) {
	var h hello
	if err := client.Database("admin").RunCommand(ctx, bson.D{{Key: "hello", Value: 1}}).Decode(&h); err != nil {
		return nil, nil, fmt.Errorf("hello: %w", err)
	}
	hosts := h.dataMembers()
	all, err := m.connect(ctx, hosts)
	if err != nil {
		return nil, nil, err
	}
	answered := make([]error, len(all))
	var wg sync.WaitGroup
	for i, c := range all {
		wg.Go(func() {
			pctx, cancel := context.WithTimeout(ctx, wait)
			defer cancel()
			answered[i] = c.Ping(pctx, nil)
		})
	}
	wg.Wait()
	for i, c := range all {
		if answered[i] != nil {
			unreachable = append(unreachable, fmt.Errorf("member %s: %w", hosts[i], m.redact.err(answered[i])))
			continue
		}
		reachable = append(reachable, c)
	}
	return reachable, unreachable, nil
}

// connect returns a client for each host, reusing those of earlier passes
// and disconnecting those of hosts no longer listed.
func (m *members) connect(ctx context.Context, hosts []string) ([]*mongo.Client, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for host, c := range m.byHost {
		if !slices.Contains(hosts, host) {
			_ = c.Disconnect(ctx)
			delete(m.byHost, host)
		}
	}
	out := make([]*mongo.Client, 0, len(hosts))
	for _, host := range hosts {
		c := m.byHost[host]
		if c == nil {
			var err error
			if c, err = mongo.Connect(m.memberOptions(host)); err != nil {
				return nil, fmt.Errorf("connect to member %s: %w", host, m.redact.err(err))
			}
			m.byHost[host] = c
		}
		out = append(out, c)
	}
	return out, nil
}

// memberOptions are the target's options for a direct connection to one
// host. They are built field by field rather than from the URI, which may
// be mongodb+srv:// (no direct connection allowed) or list other hosts.
func (m *members) memberOptions(host string) *options.ClientOptions {
	b := m.base
	o := options.Client().SetHosts([]string{host}).SetDirect(true).SetMaxPoolSize(memberPoolSize).SetAppName("lookout")
	o.Auth, o.TLSConfig, o.Compressors, o.ServerAPIOptions = b.Auth, b.TLSConfig, b.Compressors, b.ServerAPIOptions
	o.ConnectTimeout, o.ServerSelectionTimeout, o.Timeout = b.ConnectTimeout, b.ServerSelectionTimeout, b.Timeout
	o.Dialer = b.Dialer
	return o
}

// close disconnects every member.
func (m *members) close(ctx context.Context) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for host, c := range m.byHost {
		_ = c.Disconnect(ctx)
		delete(m.byHost, host)
	}
}
