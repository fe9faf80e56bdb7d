package mongodb

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/lookout-dev/lookout/collectors/mongodb/ferretdbtest"
	"github.com/lookout-dev/lookout/collectors/mongodb/internal/s3test"
	"github.com/lookout-dev/lookout/config"
)

// BenchmarkBackupPass measures a backup pass over 1,000 PBM documents in a
// real FerretDB and the objects of a real S3-compatible server (versitygw):
//
//   - pass/objects=N: the pbm and s3 steps as a pass runs them (each under
//     the target's timeout), with N objects under the prefix: the time, the
//     allocations, and peak-heap-KiB, the most the heap's objects (live,
//     or garbage not yet collected) grew above what was live before it,
//     sampled every millisecond; it must not grow with N, the listing
//     being streamed;
//   - bare/objects=10000: the least a program does for the same facts, in
//     the same run: a Find of every pbmBackups document decoded into
//     bson.Raw, and a ListObjects of the prefix, each object counted;
//   - scrape: the longest /metrics gather of the collector while passes
//     run beside it: the scrape serves the last pass and never waits on one.
//
// Run it alone (it seeds for about half a minute first):
//
//	go test -run - -bench BackupPass -benchtime 5x ./collectors/mongodb
func BenchmarkBackupPass(b *testing.B) {
	mongoSrv, s3 := ferretdbtest.Start(b), s3test.Start(b)
	seedPBM(b, mongoSrv.URI, 1000)
	const bucket = "dumps"
	admin, err := minio.New(strings.TrimPrefix(s3.Endpoint, "http://"), &minio.Options{Creds: credentials.NewStaticV4(s3test.AccessKey, s3test.SecretKey, "")})
	if err != nil {
		b.Fatal(err)
	}
	if err := admin.MakeBucket(b.Context(), bucket, minio.MakeBucketOptions{}); err != nil {
		b.Fatal(err)
	}
	counts := []int{1000, 10000}
	for _, n := range counts {
		dir := filepath.Join(s3.Root, bucket, fmt.Sprintf("objects-%d", n))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			b.Fatal(err)
		}
		for i := range n {
			if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("%06d.archive.gz", i)), []byte("dump"), 0o644); err != nil {
				b.Fatal(err)
			}
		}
	}
	endpoint, _ := url.Parse(s3.Endpoint)
	newCollector := func(prefix string) *Collector {
		cfg := testTarget("bench", mongoSrv.URI, time.Hour, time.Minute)
		cfg.Backups = &config.Backups{
			Expect: config.BackupExpect{Every: config.Duration(24 * time.Hour), Grace: config.Duration(2 * time.Hour)},
			Sources: []config.BackupSource{
				{Name: "pbm", Kind: config.BackupPBM, PBM: &config.PBMSource{}},
				{Name: "s3", Kind: config.BackupS3, S3: &config.S3Source{Endpoint: s3.Endpoint, EndpointURL: endpoint, Bucket: bucket,
					Prefix: prefix, AccessKeyID: s3test.AccessKey, SecretAccessKey: s3test.SecretKey, Pattern: "*.archive.gz"}},
			},
		}
		c, err := New(cfg, nil)
		if err != nil {
			b.Fatal(err)
		}
		return c
	}
	// backupPass runs the backup steps of c as collectOnce does.
	backupPass := func(b *testing.B, c *Collector, client *mongo.Client) {
		p := &pass{target: c.cfg.Name, descs: c.descs, features: map[string]bool{}}
		for _, s := range c.backups.subCollectors() {
			ctx, cancel := context.WithTimeout(b.Context(), c.cfg.Timeout.Std())
			err := s.collect(ctx, client, p)
			cancel()
			if err != nil {
				b.Fatalf("%s: %v", s.name, err)
			}
		}
	}
	for _, n := range counts {
		b.Run(fmt.Sprintf("pass/objects=%d", n), func(b *testing.B) {
			c := newCollector(fmt.Sprintf("objects-%d/", n))
			client := connect(b, c)
			backupPass(b, c, client) // connect and warm up
			if got := c.backups.sources[1].last.restorable; got != n {
				b.Fatalf("the s3 source counted %d objects, want %d", got, n)
			}
			peak := &heapPeak{}
			b.ReportAllocs()
			for b.Loop() {
				peak.start()
				backupPass(b, c, client)
				peak.stop()
			}
			b.ReportMetric(float64(peak.max)/1024, "peak-heap-KiB")
		})
	}
	b.Run("bare/objects=10000", func(b *testing.B) {
		client, err := mongo.Connect(options.Client().ApplyURI(mongoSrv.URI))
		if err != nil {
			b.Fatal(err)
		}
		defer client.Disconnect(context.Background())
		b.ReportAllocs()
		for b.Loop() {
			cur, err := client.Database("admin").Collection("pbmBackups").Find(b.Context(), bson.D{})
			if err != nil {
				b.Fatal(err)
			}
			docs := 0
			for cur.Next(b.Context()) {
				var raw bson.Raw = cur.Current
				_ = raw
				docs++
			}
			cur.Close(b.Context())
			objects := 0
			for obj := range admin.ListObjects(b.Context(), bucket, minio.ListObjectsOptions{Prefix: "objects-10000/", Recursive: true}) {
				if obj.Err != nil {
					b.Fatal(obj.Err)
				}
				objects++
			}
			if docs != 1000 || objects != 10000 {
				b.Fatalf("%d documents and %d objects, want 1000 and 10000", docs, objects)
			}
		}
	})
	b.Run("scrape", func(b *testing.B) {
		c := newCollector("objects-10000/")
		client := connect(b, c)
		c.collectOnce(b.Context(), client)
		ctx, cancel := context.WithCancel(b.Context())
		var wg sync.WaitGroup
		wg.Go(func() {
			for ctx.Err() == nil {
				c.collectOnce(ctx, client)
			}
		})
		var longest time.Duration
		for b.Loop() {
			start := time.Now()
			_ = metricsText(b, c)
			longest = max(longest, time.Since(start))
		}
		cancel()
		wg.Wait()
		b.ReportMetric(float64(longest.Microseconds())/1000, "longest-scrape-ms")
	})
}

// seedPBM writes n backups into admin.pbmBackups, of every status.
func seedPBM(b *testing.B, uri string, n int) {
	b.Helper()
	client, err := mongo.Connect(options.Client().ApplyURI(uri))
	if err != nil {
		b.Fatal(err)
	}
	defer client.Disconnect(context.Background())
	now := time.Now().Unix()
	statuses := []string{"done", "done", "done", "error", "cancelled"}
	types := []string{"logical", "physical", "incremental"}
	docs := make([]any, n)
	for i := range n {
		start := now - int64(i)*3600
		docs[i] = bson.D{{Key: "name", Value: fmt.Sprint(start)}, {Key: "type", Value: types[i%3]}, {Key: "status", Value: statuses[i%5]},
			{Key: "start_ts", Value: start}, {Key: "last_transition_ts", Value: start + 600},
			{Key: "last_write_ts", Value: bson.Timestamp{T: uint32(start + 590)}}, {Key: "hb", Value: bson.Timestamp{T: uint32(start + 600)}},
			{Key: "size", Value: int64(1 << 30)}, {Key: "replsets", Value: bson.A{bson.D{{Key: "name", Value: "rs0"}, {Key: "status", Value: statuses[i%5]}}}}}
	}
	if _, err := client.Database("admin").Collection("pbmBackups").InsertMany(context.Background(), docs); err != nil {
		b.Fatal(err)
	}
}

// heapPeak samples the heap's objects every millisecond between start and
// stop, and keeps the most above what was live at start.
type heapPeak struct {
	max  uint64
	done chan struct{}
	wg   sync.WaitGroup
}

func heapObjects() uint64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

func (h *heapPeak) start() {
	runtime.GC()
	base := heapObjects()
	h.done = make(chan struct{})
	h.wg.Go(func() {
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-h.done:
				return
			case <-t.C:
				if v := heapObjects(); v > base {
					h.max = max(h.max, v-base)
				}
			}
		}
	})
}

func (h *heapPeak) stop() {
	close(h.done)
	h.wg.Wait()
}
