package mongodb

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/lookout-dev/lookout/collectors/mongodb/internal/s3test"
	"github.com/lookout-dev/lookout/config"
)

// TestS3Source lists a bucket of a real S3-compatible server (versitygw)
// holding 2,512 objects under the prefix, over several pages: the newest
// and the previous dump by LastModified, how many, the oldest; objects
// that do not match the pattern, or lie outside the prefix, do not count.
// A wrong secret is an error that names the store's code, never the
// secret.
func TestS3Source(t *testing.T) {
	srv := s3test.Start(t)
	const bucket = "acme-db-backups"
	admin, err := minio.New(strings.TrimPrefix(srv.Endpoint, "http://"), &minio.Options{
		Creds: credentials.NewStaticV4(s3test.AccessKey, s3test.SecretKey, ""),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := admin.MakeBucket(t.Context(), bucket, minio.MakeBucketOptions{}); err != nil {
		t.Fatal(err)
	}

	// The objects are files in the bucket's folder, with the times set.
	now := time.Now().Truncate(time.Second)
	put := func(key string, size int, age time.Duration) {
		t.Helper()
		p := filepath.Join(srv.Root, bucket, filepath.FromSlash(key))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, make([]byte, size), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, now.Add(-age), now.Add(-age)); err != nil {
			t.Fatal(err)
		}
	}
	for day := range 12 {
		put(fmt.Sprintf("mongodump/2026-11-%02d.archive.gz", 30-day), 1000+day, time.Duration(day*24+1)*time.Hour)
	}
	for i := range 2500 { // what else a dump job leaves: not dumps
		put(fmt.Sprintf("mongodump/logs/run-%04d.log", i), 10, time.Minute)
	}
	put("other/2026-12-06.archive.gz", 5, time.Minute) // outside the prefix

	// A proxy in front counts the listing's pages.
	target, _ := url.Parse(srv.Endpoint)
	var lists atomic.Int32
	proxy := httputil.NewSingleHostReverseProxy(target)
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("list-type") == "2" {
			lists.Add(1)
		}
		proxy.ServeHTTP(w, r)
	}))
	defer front.Close()
	endpoint, _ := url.Parse(front.URL)

	cfg := &config.S3Source{Endpoint: front.URL, EndpointURL: endpoint, Bucket: bucket, Prefix: "mongodump/", Region: "us-east-1",
		AccessKeyID: s3test.AccessKey, SecretAccessKey: s3test.SecretKey, Pattern: "*.archive.gz"}
	rep, err := s3Reader(cfg)(t.Context(), nil, now)
	if err != nil {
		t.Fatal(err)
	}
	want := backupReport{
		types:      []backupType{{name: dumpType, lastSuccess: now.Add(-time.Hour), size: 1000, prevSize: 1001}},
		restorable: 12,
		oldest:     now.Add(-(11*24 + 1) * time.Hour),
	}
	got := rep.types[0]
	if len(rep.types) != 1 || got.name != want.types[0].name || !got.lastSuccess.Equal(want.types[0].lastSuccess) ||
		got.size != want.types[0].size || got.prevSize != want.types[0].prevSize {
		t.Errorf("dumps: got %+v, want %+v", rep.types, want.types)
	}
	if rep.restorable != want.restorable || !rep.oldest.Equal(want.oldest) {
		t.Errorf("restorable %d, oldest %s; want %d, %s", rep.restorable, rep.oldest, want.restorable, want.oldest)
	}
	if n := lists.Load(); n < 3 {
		t.Errorf("the listing took %d pages; want every page of the 2,512 objects (at least 3 of 1,000)", n)
	}

	bad := *cfg
	bad.SecretAccessKey = "not-the-secret-9d2e"
	_, err = s3Reader(&bad)(t.Context(), nil, now)
	if err == nil {
		t.Fatal("a wrong secret key listed the bucket")
	}
	if msg := err.Error(); !strings.Contains(msg, "SignatureDoesNotMatch") || strings.Contains(msg, bad.SecretAccessKey) || strings.Contains(msg, s3test.SecretKey) {
		t.Errorf("wrong secret: error %q; want the store's code and no secret", msg)
	}
}

// TestS3SourceBoundedByTimeout: a store that never answers a listing
// does not hold the pass: the read ends with the step's deadline, as an
// error, and the store sees its request cancelled.
func TestS3SourceBoundedByTimeout(t *testing.T) {
	cancelled := make(chan struct{}, 10)
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done()
		cancelled <- struct{}{}
	}))
	defer hang.Close()
	endpoint, _ := url.Parse(hang.URL)
	cfg := &config.S3Source{Endpoint: hang.URL, EndpointURL: endpoint, Bucket: "dumps", AccessKeyID: "AKIAEXAMPLE", SecretAccessKey: "secret-example-1", Pattern: "*"}
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	_, err := s3Reader(cfg)(ctx, nil, time.Now())
	if err == nil || !errors.Is(err, context.DeadlineExceeded) && !strings.Contains(err.Error(), "deadline") {
		t.Fatalf("a listing that never answers: %v; want the deadline's error", err)
	}
	select {
	case <-cancelled:
	case <-time.After(10 * time.Second):
		t.Error("the store's request was never cancelled")
	}
}
