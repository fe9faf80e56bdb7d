package mongodb

import (
	"context"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"golang.org/x/sync/errgroup"

	"github.com/lookout-dev/lookout/collectors/mongodb/ferretdbtest"
	"github.com/lookout-dev/lookout/config"
)

// benchCollections and benchIndexes are the size the issue asks a pass to
// be measured at: 1,000 collections of 4 indexes each (_id and three more).
const (
	benchCollections = 1000
	benchDatabases   = 10
)

// BenchmarkPass1000Collections measures, against a real FerretDB holding
// 1,000 collections × 4 indexes in 10 databases:
//
//   - pass: one full pass of the collector (every step), its time and
//     allocations, and the connections its pool ever opened;
//   - bare: the least a collector could do for the same facts, in the same
//     run: listIndexes then $collStats for each collection, one after the
//     other, decoded into bson.M; the pass's time over this is its ratio;
//   - metrics: a /metrics scrape of the loaded collector (gather and
//     text-encode its last pass);
//   - timeout: a pass under a timeout far shorter than it needs, which must
//     end at the timeout, reporting an error rather than running on.
//
// Run it alone (it seeds for about a minute first):
//
//	go test -run - -bench Pass1000 -benchtime 5x ./collectors/mongodb
func BenchmarkPass1000Collections(b *testing.B) {
	srv := ferretdbtest.Start(b)
	seedBench(b, srv.URI)
	cfg := testTarget("bench", srv.URI, time.Hour, 5*time.Minute)
	cfg.Databases.Include = []string{"bench*"}

	var c *Collector
	b.Run("pass", func(b *testing.B) {
		var err error
		if c, err = New(cfg, nil); err != nil {
			b.Fatal(err)
		}
		client, err := c.connect()
		if err != nil {
			b.Fatal(err)
		}
		defer c.disconnect(context.Background(), client)
		b.ReportAllocs()
		for b.Loop() {
			c.collectOnce(b.Context(), client)
		}
		if n := strings.Count(metricsText(b, c), "\nmongodb_index_size_bytes{"); n != benchCollections*4 {
			b.Fatalf("%d index sizes, want %d", n, benchCollections*4)
		}
		c.pools.mu.Lock()
		b.ReportMetric(c.pools.created, "conns-opened")
		c.pools.mu.Unlock()
	})
	b.Run("bare", func(b *testing.B) {
		client, err := mongo.Connect(options.Client().ApplyURI(srv.URI))
		if err != nil {
			b.Fatal(err)
		}
		defer client.Disconnect(context.Background())
		b.ReportAllocs()
		for b.Loop() {
			bareIndexPass(b, client)
		}
	})
	b.Run("metrics", func(b *testing.B) {
		reg := prometheus.NewRegistry()
		reg.MustRegister(c)
		b.ReportAllocs()
		for b.Loop() {
			mfs, err := reg.Gather()
			if err != nil {
				b.Fatal(err)
			}
			enc := expfmt.NewEncoder(io.Discard, expfmt.NewFormat(expfmt.TypeTextPlain))
			for _, mf := range mfs {
				if err := enc.Encode(mf); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
	b.Run("timeout", func(b *testing.B) {
		short := cfg
		short.Timeout = config.Duration(200 * time.Millisecond)
		tc, err := New(short, nil)
		if err != nil {
			b.Fatal(err)
		}
		client, err := tc.connect()
		if err != nil {
			b.Fatal(err)
		}
		defer tc.disconnect(context.Background(), client)
		var longest time.Duration
		for b.Loop() {
			start := time.Now()
			tc.collectOnce(b.Context(), client)
			longest = max(longest, time.Since(start))
		}
		if tc.errs["mongodb_indexes"] == 0 {
			b.Fatal("a pass under a 200ms timeout reported no error from the index step")
		}
		b.ReportMetric(longest.Seconds()/short.Timeout.Std().Seconds(), "longest/timeout")
	})
}

// bareIndexPass reads what the index step reads, as plainly as possible.
func bareIndexPass(b *testing.B, client *mongo.Client) {
	ctx := b.Context()
	for db := range benchDatabases {
		d := client.Database(fmt.Sprintf("bench%02d", db))
		names, err := d.ListCollectionNames(ctx, bson.D{})
		if err != nil {
			b.Fatal(err)
		}
		for _, name := range names {
			coll := d.Collection(name)
			cur, err := coll.Indexes().List(ctx)
			if err != nil {
				b.Fatal(err)
			}
			var specs []bson.M
			if err := cur.All(ctx, &specs); err != nil {
				b.Fatal(err)
			}
			cur, err = coll.Aggregate(ctx, mongo.Pipeline{{{Key: "$collStats", Value: bson.D{{Key: "storageStats", Value: bson.D{}}}}}})
			if err != nil {
				b.Fatal(err)
			}
			var stats []bson.M
			if err := cur.All(ctx, &stats); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// seedBench creates benchCollections collections in benchDatabases
// databases, each with a document and three indexes besides _id.
func seedBench(b *testing.B, uri string) {
	b.Helper()
	client, err := mongo.Connect(options.Client().ApplyURI(uri))
	if err != nil {
		b.Fatal(err)
	}
	defer client.Disconnect(context.Background())
	start := time.Now()
	g, ctx := errgroup.WithContext(b.Context())
	g.SetLimit(4)
	for i := range benchCollections {
		g.Go(func() error {
			coll := client.Database(fmt.Sprintf("bench%02d", i%benchDatabases)).Collection(fmt.Sprintf("coll%04d", i))
			if _, err := coll.InsertOne(ctx, bson.D{{Key: "a", Value: i}, {Key: "b", Value: "x"}, {Key: "c", Value: i * 2}}); err != nil {
				return err
			}
			_, err := coll.Indexes().CreateMany(ctx, []mongo.IndexModel{
				{Keys: bson.D{{Key: "a", Value: 1}}},
				{Keys: bson.D{{Key: "a", Value: 1}, {Key: "b", Value: 1}}},
				{Keys: bson.D{{Key: "c", Value: -1}}},
			})
			return err
		})
	}
	if err := g.Wait(); err != nil {
		b.Fatalf("seed: %v", err)
	}
	b.Logf("seeded %d collections × 4 indexes in %s", benchCollections, time.Since(start).Round(time.Second))
}
