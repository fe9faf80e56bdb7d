package mongodb

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/lookout-dev/lookout/config"
)

// s3MaxObjects bounds the objects one read lists under the prefix; a
// bucket with more is an error that says to narrow the prefix, not a pass
// that never ends.
const s3MaxObjects = 1_000_000

// s3Reader reads the dumps in an S3 bucket (or an S3-compatible store)
// under the prefix: the objects whose name (after the last /) matches the
// pattern, by LastModified. The listing is ListObjectsV2, 1,000 keys a
// page, streamed: memory does not grow with the object count.
//
// The client is minio-go: it speaks S3's signature v4 and pagination and
// brings no cloud SDK with it (the AWS SDK for Go would bring dozens of
// modules for this one listing).
func s3Reader(cfg *config.S3Source) func(context.Context, *mongo.Client, time.Time) (*backupReport, error) {
	var client *minio.Client // built at the first read, then kept with its connections
	return func(ctx context.Context, _ *mongo.Client, _ time.Time) (*backupReport, error) {
		if client == nil {
			c, err := newS3Client(cfg)
			if err != nil {
				return nil, err
			}
			client = c
		}
		ctx, cancel := context.WithCancel(ctx) // stops the listing's goroutine on return
		defer cancel()
		var set dumpSet
		seen := 0
		for obj := range client.ListObjects(ctx, cfg.Bucket, minio.ListObjectsOptions{Prefix: cfg.Prefix, Recursive: true}) {
			if obj.Err != nil {
				return nil, s3Error(cfg, obj.Err)
			}
			if seen++; seen > s3MaxObjects {
				return nil, fmt.Errorf("s3: bucket %s holds more than %d objects under prefix %q; narrow the prefix to the dumps", cfg.Bucket, s3MaxObjects, cfg.Prefix)
			}
			name := obj.Key[strings.LastIndex(obj.Key, "/")+1:]
			if ok, _ := path.Match(cfg.Pattern, name); !ok || strings.HasSuffix(obj.Key, "/") {
				continue
			}
			set.add(obj.Key, obj.LastModified, obj.Size)
		}
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("s3: list bucket %s: %w", cfg.Bucket, err)
		}
		return set.report(), nil
	}
}

// newS3Client builds the client; it does no I/O.
func newS3Client(cfg *config.S3Source) (*minio.Client, error) {
	u := cfg.EndpointURL
	var creds *credentials.Credentials
	if cfg.AccessKeyID != "" {
		creds = credentials.NewStaticV4(cfg.AccessKeyID, cfg.SecretAccessKey, "")
	} else {
		creds = credentials.New(&credentials.Static{}) // anonymous: a public bucket
	}
	client, err := minio.New(u.Host, &minio.Options{
		Creds:     creds,
		Secure:    u.Scheme == "https",
		Region:    cfg.Region,
		Transport: http.DefaultTransport.(*http.Transport).Clone(),
		// Retries stay within the pass's timeout: the context bounds them.
		MaxRetries: 2,
	})
	if err != nil {
		return nil, fmt.Errorf("s3: endpoint %s: %w", u.Host, err)
	}
	return client, nil
}

// s3Error is a listing's error as the store said it (its code and
// message, which never hold the secret key), with the bucket.
func s3Error(cfg *config.S3Source, err error) error {
	var resp minio.ErrorResponse
	if errors.As(err, &resp) && resp.Code != "" {
		return fmt.Errorf("s3: list bucket %s: %s: %s", cfg.Bucket, resp.Code, resp.Message)
	}
	return fmt.Errorf("s3: list bucket %s: %w", cfg.Bucket, err)
}
