package mongodb

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"golang.org/x/sync/errgroup"

	"github.com/lookout-dev/lookout/config"
)

// Features of the index step.
const (
	featureIndexStats = "$indexStats"
	featureCollStats  = "$collStats"
)

// maxNamespaceErrors bounds the per-collection errors one pass reports;
// the rest are counted.
const maxNamespaceErrors = 5

// indexStep reports every index of the selected collections: its size,
// its accesses on each replica-set member, and whether it is unused,
// redundant or hidden.
type indexStep struct {
	cfg     config.MongoDB
	members *members
	now     func() time.Time
}

// collectionIndexes is what one collection's indexes look like in a pass.
type collectionIndexes struct {
	ns    namespace
	specs []indexSpec
	sizes map[string]float64 // by index name; nil when unknown
	// stats are the $indexStats documents of the members asked; nil when
	// the server has no $indexStats or a member's answer failed.
	stats []indexStat
	// allMembers is whether every member was asked: only then can an
	// index be judged unused.
	allMembers bool
}

// memberWait bounds how long a pass waits for a replica-set member to
// answer a ping before leaving it out of the pass.
func memberWait(timeout time.Duration) time.Duration {
	return min(5*time.Second, timeout/4)
}

func (s *indexStep) collect(ctx context.Context, client *mongo.Client, p *pass) error {
	dbs, err := p.databases(ctx, client, s.cfg)
	if err != nil {
		p.gauge(p.descs.collectionsSkipped, 0)
		return err
	}
	nss, skipped, err := namespaces(ctx, client, s.cfg, dbs)
	p.gauge(p.descs.collectionsSkipped, float64(skipped))
	if err != nil {
		return err
	}
	memberClients, unreachable, err := s.members.clients(ctx, client, memberWait(s.cfg.Timeout.Std()))
	if err != nil {
		return err
	}
	results := make([]collectionIndexes, len(nss))
	var (
		mu       sync.Mutex
		errs     []error
		failures int
		support  = map[string]bool{}
	)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(config.MongoMaxPoolSize) // each collection holds one connection at a time
	for i, ns := range nss {
		g.Go(func() error {
			ci, features, err := readCollection(gctx, client, memberClients, ns)
			ci.allMembers = len(unreachable) == 0
			mu.Lock()
			defer mu.Unlock()
			for f, ok := range features {
				support[f] = ok
			}
			if err != nil {
				if failures++; len(errs) < maxNamespaceErrors {
					errs = append(errs, fmt.Errorf("%s: %w", ns, err))
				}
			}
			results[i] = ci
			return nil
		})
	}
	_ = g.Wait() // the goroutines return no error: each collection's is kept
	for f, ok := range support {
		p.feature(f, ok)
	}
	now := s.now()
	for _, ci := range results {
		addIndexes(p, ci, now, s.cfg.UnusedIndexAfter.Std())
	}
	if failures > len(errs) {
		errs = append(errs, fmt.Errorf("and %d more collections failed", failures-len(errs)))
	}
	if len(unreachable) > 0 {
		errs = append(errs, fmt.Errorf("index usage not judged in this pass: %w", errors.Join(unreachable...)))
	}
	return errors.Join(errs...)
}

// readCollection reads one collection's index specs, sizes and usage. A
// feature the server lacks is reported, not returned as an error.
func readCollection(ctx context.Context, client *mongo.Client, memberClients []*mongo.Client, ns namespace) (collectionIndexes, map[string]bool, error) {
	ci := collectionIndexes{ns: ns}
	features := map[string]bool{}
	coll := client.Database(ns.Database).Collection(ns.Collection)
	specs, err := listIndexes(ctx, coll)
	if err != nil {
		return ci, features, fmt.Errorf("listIndexes: %w", err)
	}
	ci.specs = specs
	var errs []error
	switch sizes, err := indexSizes(ctx, coll); {
	case isUnsupported(err):
		features[featureCollStats] = false
	case err != nil:
		errs = append(errs, fmt.Errorf("$collStats: %w", err))
	default:
		features[featureCollStats] = true
		ci.sizes = sizes
	}
	if len(memberClients) == 0 {
		memberClients = []*mongo.Client{client}
	}
	var stats []indexStat
	for _, mc := range memberClients {
		st, err := indexStats(ctx, mc.Database(ns.Database).Collection(ns.Collection))
		if isUnsupported(err) {
			features[featureIndexStats] = false
			stats = nil
			break
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("$indexStats: %w", err))
			stats = nil // usage is only judged on every member's counts
			break
		}
		features[featureIndexStats] = true
		stats = append(stats, st...)
	}
	ci.stats = stats
	return ci, features, errors.Join(errs...)
}

func listIndexes(ctx context.Context, coll *mongo.Collection) ([]indexSpec, error) {
	cur, err := coll.Indexes().List(ctx)
	if err != nil {
		return nil, err
	}
	var raws []bson.Raw
	if err := cur.All(ctx, &raws); err != nil {
		return nil, err
	}
	return decodeIndexSpecs(raws)
}

// indexSizes reads storageStats.indexSizes through $collStats.
func indexSizes(ctx context.Context, coll *mongo.Collection) (map[string]float64, error) {
	cur, err := coll.Aggregate(ctx, mongo.Pipeline{{{Key: "$collStats", Value: bson.D{{Key: "storageStats", Value: bson.D{}}}}}})
	if err != nil {
		return nil, err
	}
	var raws []bson.Raw
	if err := cur.All(ctx, &raws); err != nil {
		return nil, err
	}
	return decodeIndexSizes(raws)
}

func indexStats(ctx context.Context, coll *mongo.Collection) ([]indexStat, error) {
	cur, err := coll.Aggregate(ctx, mongo.Pipeline{{{Key: "$indexStats", Value: bson.D{}}}})
	if err != nil {
		return nil, err
	}
	var raws []bson.Raw
	if err := cur.All(ctx, &raws); err != nil {
		return nil, err
	}
	return decodeIndexStats(raws)
}

// addIndexes adds the metrics of one collection's indexes.
func addIndexes(p *pass, ci collectionIndexes, now time.Time, unusedAfter time.Duration) {
	if len(ci.specs) == 0 {
		return
	}
	redundant := redundantIndexes(ci.specs)
	unused := unusedIndexes(ci.specs, ci.stats, now, unusedAfter)
	db, coll := ci.ns.Database, ci.ns.Collection
	for _, spec := range ci.specs {
		if size, ok := ci.sizes[spec.Name]; ok {
			p.gauge(p.descs.indexSize, size, db, coll, spec.Name)
		}
		p.gauge(p.descs.indexRedundant, boolValue(redundant[spec.Name] != ""), db, coll, spec.Name)
		p.gauge(p.descs.indexHidden, boolValue(spec.Hidden), db, coll, spec.Name)
		if ci.stats != nil && ci.allMembers {
			p.gauge(p.descs.indexUnused, boolValue(unused[spec.Name]), db, coll, spec.Name)
		}
	}
	for _, st := range ci.stats {
		p.counter(p.descs.indexAccesses, float64(st.Ops), db, coll, st.Name, st.Host)
		if !st.Since.IsZero() {
			p.gauge(p.descs.indexAccessesSince, float64(st.Since.UnixMilli())/1e3, db, coll, st.Name, st.Host)
		}
	}
}
