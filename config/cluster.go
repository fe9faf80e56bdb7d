package config

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Cluster is the `cluster:` section: several Lookout replicas share one
// MongoDB state store, hold membership and leadership by lease there, and
// split the probes among themselves (each probe's replicas and quorum).
// Without it (nil) Lookout is a single replica on its local bbolt store.
type Cluster struct {
	// Replica is this replica's unique name, like ${HOSTNAME}: the
	// replica label on Lookout's own metrics, and its document id in
	// the state store.
	Replica string `yaml:"replica"`
	// Location is this replica's vantage point, like eu-west: a label on
	// probe metrics. Optional.
	Location string       `yaml:"location"`
	MongoDB  ClusterStore `yaml:"mongodb"`
	// Lease is how long membership and leadership hold without being
	// renewed: a replica that stops is replaced after about this long.
	Lease Duration `yaml:"lease"`
	// FailOpenAfter is how long the state store may be unreachable
	// before each replica pages on its own, without dedupe.
	FailOpenAfter Duration `yaml:"fail_open_after"`
}

// ClusterStore is the MongoDB deployment the replicas share their state
// in; a small one of its own is best.
type ClusterStore struct {
	// URI is mongodb:// or mongodb+srv://; put credentials in it through
	// ${VAR}. It never appears in errors.
	URI      string `yaml:"uri"`
	Database string `yaml:"database"`
}

// Defaults of the cluster section and of a probe's replicas and quorum.
const (
	DefaultClusterLease    = Duration(15 * time.Second)
	DefaultClusterDatabase = "lookout"
	// DefaultClusterLocation is none: probe metrics carry no vantage point.
	DefaultClusterLocation = ""
	// DefaultFailOpenAfter is the default of fail_open_after, or twice the
	// lease when that is longer.
	DefaultFailOpenAfter = Duration(2 * time.Minute)
	// DefaultReplicas: a probe runs on one live replica.
	DefaultReplicas = 1
	// DefaultQuorum: a probe is down when one replica running it sees it
	// down.
	DefaultQuorum = 1
)

// Bounds of the cluster section.
const (
	MinClusterLease = Duration(2 * time.Second)
	MaxClusterLease = Duration(5 * time.Minute)
	// MaxReplicaName is the longest replica name or location.
	MaxReplicaName = 63
)

// ReplicasAll is how replicas: is written for every replica.
const ReplicasAll = "all"

// Replicas is how many replicas of a cluster run a probe: N of them (at
// least 1), or all of them, each from its own location. Written as a
// count or as "all"; after Load it is never the zero value.
type Replicas struct {
	All bool
	N   int
}

func (r *Replicas) parseScalar(s string) error {
	if s == ReplicasAll {
		*r = Replicas{All: true}
		return nil
	}
	n, err := strconv.Atoi(s)
	switch {
	case err != nil:
		return fmt.Errorf("%q is not a number of replicas%s; want a count of 1 or more, or %s", s, suggest(s, []string{ReplicasAll}), ReplicasAll)
	case n < 1:
		return fmt.Errorf("%d is below 1; want how many replicas run the probe, or %s", n, ReplicasAll)
	}
	*r = Replicas{N: n}
	return nil
}

// MarshalText writes replicas as they are written in config.
func (r Replicas) MarshalText() ([]byte, error) { return []byte(r.String()), nil }

func (r Replicas) String() string {
	if r.All {
		return ReplicasAll
	}
	return strconv.Itoa(r.N)
}

// checkCluster applies the rules of the cluster section, and of each
// probe's replicas and quorum. Those are allowed without a cluster: a
// single replica runs every probe.
func (c *Config) checkCluster(d *decoder) {
	for i := range c.Probes {
		c.Probes[i].checkReplicas(d, fmt.Sprintf("probes[%d]", i))
	}
	if c.Cluster != nil {
		c.Cluster.check(d, "cluster")
		c.labelLocation(d)
	}
}

// LocationLabel is the label cluster.location puts on every probe, so
// that a probe run from several locations has a series, a state and an
// alert per location.
const LocationLabel = "location"

// labelLocation gives every probe the replica's location as a label; a
// probe's own label of that name would be overwritten, so it is refused.
func (c *Config) labelLocation(d *decoder) {
	loc := c.Cluster.Location
	if loc == "" {
		return
	}
	for i := range c.Probes {
		p := &c.Probes[i]
		if _, taken := p.Labels[LocationLabel]; taken {
			d.errorAtKey(fmt.Sprintf("probes[%d].labels.%s", i, LocationLabel), "%q is set by cluster.location on every probe; choose another label name, or leave cluster.location out", LocationLabel)
			continue
		}
		labels := make(map[string]string, len(p.Labels)+1)
		for k, v := range p.Labels {
			labels[k] = v
		}
		labels[LocationLabel] = loc
		p.Labels = labels
	}
}

// checkReplicas fills the probe's replicas and quorum defaults and checks
// that its quorum can be met by the replicas that run it.
func (p *Probe) checkReplicas(d *decoder, at string) {
	if p.Replicas == (Replicas{}) {
		p.Replicas.N = DefaultReplicas
	}
	q := at + ".quorum"
	switch {
	case !d.has(q):
		p.Quorum = DefaultQuorum
	case d.hasErrorAt(q):
	case p.Quorum < 1:
		d.errorAt(q, "%d is below 1; want how many of the replicas running the probe must see it down for it to be down", p.Quorum)
	case d.hasErrorAt(at + ".replicas"):
	case !p.Replicas.All && p.Replicas.N == 1:
		d.errorAt(q, "is set, but the probe runs on one replica (replicas: 1%s); want replicas: %s or a count above 1 beside a quorum, or no quorum", defaultNote(d, at+".replicas"), ReplicasAll)
	case !p.Replicas.All && p.Quorum > p.Replicas.N:
		d.errorAt(q, "%d is more than the %d replicas that run the probe; want at most %d, or replicas: %s", p.Quorum, p.Replicas.N, p.Replicas.N, ReplicasAll)
	}
}

// defaultNote is ", the default" when the field at path was not written.
func defaultNote(d *decoder, path string) string {
	if d.has(path) {
		return ""
	}
	return ", the default"
}

func (c *Cluster) check(d *decoder, at string) {
	const wantReplica = "want this replica's unique name, like ${HOSTNAME}"
	switch p := at + ".replica"; {
	case d.hasErrorAt(p):
	case !d.has(p):
		d.errorAt(p, "missing; %s", wantReplica)
	default:
		checkReplicaName(d, p, c.Replica, wantReplica)
	}
	if p := at + ".location"; c.Location != DefaultClusterLocation && !d.hasErrorAt(p) {
		checkReplicaName(d, p, c.Location, "want this replica's vantage point, like eu-west, or no location")
	}
	c.MongoDB.check(d, at+".mongodb")

	lease := at + ".lease"
	switch {
	case d.hasErrorAt(lease):
	case !d.has(lease):
		c.Lease = DefaultClusterLease
	case c.Lease < MinClusterLease || c.Lease > MaxClusterLease:
		d.errorAt(lease, "%s is not between %s and %s; want how long membership and leadership hold without renewal, like %s",
			c.Lease.Std(), MinClusterLease.Std(), MaxClusterLease.Std(), DefaultClusterLease.Std())
	}
	failOpen := at + ".fail_open_after"
	switch {
	case d.hasErrorAt(failOpen):
	case !d.has(failOpen):
		c.FailOpenAfter = max(DefaultFailOpenAfter, 2*c.Lease)
	case d.hasErrorAt(lease):
	case c.FailOpenAfter < 2*c.Lease:
		d.errorAt(failOpen, "%s is less than twice the lease (%s); want at least %s, so that a renewal missed once does not make every replica page on its own",
			c.FailOpenAfter.Std(), c.Lease.Std(), (2 * c.Lease).Std())
	}
}

// checkReplicaName checks a replica name or location: it becomes a label
// value and a document id, so it is at most MaxReplicaName letters,
// digits, '-', '_' and '.'.
func checkReplicaName(d *decoder, path, name, want string) {
	n := d.nodes[path]
	switch i := strings.IndexFunc(name, func(r rune) bool { return !replicaNameRune(r) }); {
	case name == "" && n != nil && strings.Contains(n.Value, "${"):
		d.errorAt(path, "is empty once %s is expanded; %s", n.Value, want)
	case name == "":
		d.errorAt(path, "is empty; %s", want)
	case i >= 0:
		at := n
		if n != nil && n.Value == name {
			at = d.at(n, i) // point at the character itself
		}
		d.errorf(at, path, "%q holds %q; want letters, digits, '-', '_' and '.' only (it is a label value and a document id)", name, []rune(name[i:])[0])
	case len(name) > MaxReplicaName:
		d.errorAt(path, "%q is %d characters long; want at most %d (it is a label value and a document id)", name, len(name), MaxReplicaName)
	}
}

func replicaNameRune(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.'
}

func (s *ClusterStore) check(d *decoder, at string) {
	switch p := at + ".uri"; {
	case d.hasErrorAt(p):
	case s.URI == "":
		d.errorAt(p, "missing; want the state store's mongodb:// or mongodb+srv:// URI, like ${LOOKOUT_STATE_URI}")
	default:
		checkMongoURI(d, p, s.URI)
	}
	switch p := at + ".database"; {
	case d.hasErrorAt(p):
	case !d.has(p):
		s.Database = DefaultClusterDatabase
	default:
		if problem := mongoDatabaseProblem(s.Database); problem != "" {
			d.errorAt(p, "%s; want a database of Lookout's own, like %s", problem, DefaultClusterDatabase)
		}
	}
}

// checkMongoURI checks a MongoDB URI as mongodb[].uri is checked: its
// scheme and host, and the options the driver would refuse. The error
// never shows the URI, which may hold a password.
func checkMongoURI(d *decoder, path, uri string) {
	u, err := url.Parse(uri)
	if err != nil || (u.Scheme != "mongodb" && u.Scheme != "mongodb+srv") || u.Host == "" {
		d.errorAt(path, "is not a MongoDB URI; want mongodb://HOST[:PORT]/... or mongodb+srv://HOST/... %s", mongoURIValueNotShownMsg)
		return
	}
	if err := checkMongoURIOptions(u); err != nil {
		d.errorAt(path, "%v %s", err, mongoURIValueNotShownMsg)
	}
}

// mongoDatabaseProblem says what MongoDB would refuse of a database name
// (on any platform), or that it is one of MongoDB's own; "" when nothing.
func mongoDatabaseProblem(name string) string {
	switch i := strings.IndexAny(name, "/\\. \"$*<>:|?\x00"); {
	case name == "":
		return "is empty"
	case i >= 0:
		return fmt.Sprintf("%q holds %q, which MongoDB does not take in a database name", name, name[i:i+1])
	case len(name) >= 64:
		return fmt.Sprintf("%q is %d bytes long; MongoDB takes fewer than 64", name, len(name))
	}
	for _, own := range []string{"admin", "local", "config"} {
		if strings.EqualFold(name, own) {
			return fmt.Sprintf("%q is MongoDB's own database (local is not even replicated)", name)
		}
	}
	return ""
}
