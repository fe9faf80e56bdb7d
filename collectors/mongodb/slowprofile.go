package mongodb

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/lookout-dev/lookout/config"
)

// Reading the profiler.
//
// Each selected database's system.profile is read in ts order, from the
// newest entry already counted: entries at or after that ts whose millis is
// at least the threshold, at most maxPerPass new ones per database per pass
// (the rest are read by the next passes). ts has millisecond resolution, so
// several entries may share one; the reader keeps the ts of the last entry
// counted and the SHA-256 of the raw bytes of every entry counted at exactly
// that ts, asks for ts >= it, and skips those it knows. So no entry is
// counted twice, and two byte-identical entries at the same ts count once:
// they cannot be told apart.
//
// The first pass only finds the newest entry of each database that already
// has a profile and counts nothing. A database that had no profile then,
// or that appears later, is read from its first entry: it was written
// while Lookout watched.
//
// Limits: an entry written with a ts older than the newest one already
// counted (two operations ending in the same instant, written out of
// order) is missed; reading is per database, one listCollections and one
// find for a database with a profile, one listCollections for the others.

// defaultProfilePerPass is how many new entries a pass counts at most per
// database.
const defaultProfilePerPass = 1000

// profileCollection is where the profiler writes. FerretDB, which the tests
// run against, lets a test insert into it, so the tests use it too.
const profileCollection = "system.profile"

// profileMark is where reading a database's profile resumes.
type profileMark struct {
	primed bool          // false until a read has found the newest entry without counting
	has    bool          // whether last is set
	last   bson.DateTime // ts of the newest entry counted
	seen   map[[sha256.Size]byte]bool
}

// profileReader reads the profiler of the selected databases. It is used
// only by the goroutine running passes.
type profileReader struct {
	maxPerPass int
	minMillis  float64
	started    bool // whether a pass has listed the databases
	marks      map[string]*profileMark
}

func newProfileReader(threshold time.Duration) *profileReader {
	return &profileReader{
		maxPerPass: defaultProfilePerPass,
		minMillis:  float64(threshold) / float64(time.Millisecond),
		marks:      map[string]*profileMark{},
	}
}

// read counts the new entries of every selected database into sink and
// reports whether any database has a profile that Lookout can read.
func (r *profileReader) read(ctx context.Context, client *mongo.Client, cfg config.MongoDB, p *pass, sink slowSink) error {
	dbs, err := p.databases(ctx, client, cfg)
	if err != nil {
		return err
	}
	first := !r.started
	r.started = true
	listed := make(map[string]bool, len(dbs))
	found := false
	var errs []error
	for _, db := range dbs {
		listed[db] = true
		m := r.marks[db]
		if m == nil {
			m = &profileMark{primed: !first}
			r.marks[db] = m
		}
		ok, err := r.readDatabase(ctx, client.Database(db), m, sink)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s.%s: %w", db, profileCollection, err))
		}
		found = found || ok
	}
	for db := range r.marks {
		if !listed[db] {
			delete(r.marks, db) // dropped or no longer selected
		}
	}
	if len(errs) == 0 || found {
		p.feature(featureProfile, found)
	}
	return errors.Join(errs...)
}

// refused tells whether err is the server declining to show a profile:
// it lacks the command or the user may not read it.
func refused(err error) bool {
	return isUnsupported(err) || isCode(err, codeUnauthorized)
}

// readDatabase reads one database's profile; ok is false when it has none,
// or none that Lookout may read.
func (r *profileReader) readDatabase(ctx context.Context, db *mongo.Database, m *profileMark, sink slowSink) (ok bool, err error) {
	names, err := db.ListCollectionNames(ctx, bson.D{{Key: "name", Value: profileCollection}})
	switch {
	case refused(err):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("listCollections: %w", err)
	case len(names) == 0:
		m.primed = true // a profile that appears later is read from its start
		return false, nil
	}
	coll := db.Collection(profileCollection)
	if !m.primed {
		err = r.prime(ctx, coll, m)
	} else {
		err = r.readNew(ctx, coll, m, sink)
	}
	if refused(err) {
		return false, nil
	}
	return true, err
}

// slowFilter selects the entries from the mark on that reach the
// threshold.
func (r *profileReader) slowFilter(m *profileMark) bson.D {
	f := bson.D{{Key: "millis", Value: bson.D{{Key: "$gte", Value: r.minMillis}}}}
	if m.has {
		f = append(f, bson.E{Key: "ts", Value: bson.D{{Key: "$gte", Value: m.last}}})
	}
	return f
}

// prime sets the mark at the newest entry without counting anything.
func (r *profileReader) prime(ctx context.Context, coll *mongo.Collection, m *profileMark) error {
	raw, err := coll.FindOne(ctx, r.slowFilter(m), options.FindOne().
		SetSort(bson.D{{Key: "ts", Value: -1}}).
		SetProjection(bson.D{{Key: "ts", Value: 1}})).Raw()
	switch {
	case errors.Is(err, mongo.ErrNoDocuments):
		m.primed = true
		return nil
	case err != nil:
		return fmt.Errorf("find newest: %w", err)
	}
	ts, ok := raw.Lookup("ts").DateTimeOK()
	if !ok {
		return errors.New("find newest: ts is not a date")
	}
	m.primed, m.has, m.last, m.seen = true, true, bson.DateTime(ts), map[[sha256.Size]byte]bool{}
	// Remember the entries at that ts, so that the next pass skips them.
	return r.readNew(ctx, coll, m, nil)
}

// readNew counts, into sink, at most maxPerPass entries that are not yet
// counted, and moves the mark past them; a nil sink only moves the mark.
func (r *profileReader) readNew(ctx context.Context, coll *mongo.Collection, m *profileMark, sink slowSink) error {
	// Every entry in seen matches the filter and is skipped, so this limit
	// leaves room for maxPerPass new ones.
	opts := options.Find().SetSort(bson.D{{Key: "ts", Value: 1}}).SetLimit(int64(r.maxPerPass + len(m.seen)))
	cur, err := coll.Find(ctx, r.slowFilter(m), opts)
	if err != nil {
		return fmt.Errorf("find: %w", err)
	}
	defer cur.Close(ctx)
	for n := 0; n < r.maxPerPass && cur.Next(ctx); {
		doc := cur.Current
		if doc.Validate() != nil {
			// The driver checks what it reads, so this does not happen;
			// such an entry could not be marked as counted either.
			continue
		}
		raw, ok := doc.Lookup("ts").DateTimeOK()
		ts := bson.DateTime(raw)
		if !ok || (m.has && ts < m.last) {
			// Not selected by the filter: a server that ignored it.
			continue
		}
		sum := sha256.Sum256(doc)
		if m.has && ts == m.last && m.seen[sum] {
			continue
		}
		if !m.has || ts > m.last {
			m.has, m.last, m.seen = true, ts, map[[sha256.Size]byte]bool{}
		}
		m.seen[sum] = true
		n++
		if sink == nil {
			continue
		}
		if op, err := profileOp(doc); err != nil {
			sink.skip()
		} else {
			sink.add(op)
		}
	}
	if err := cur.Err(); err != nil {
		return fmt.Errorf("find: %w", err)
	}
	return nil
}
