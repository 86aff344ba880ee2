package lake

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/feature/s3/transfermanager"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"gocloud.dev/blob"
	"gocloud.dev/blob/s3blob"
	"gocloud.dev/gcerrors"
)

// s3MaxAttempts is how often one S3 request is tried before its error
// surfaces; the committer then retries the whole step with its own backoff.
const s3MaxAttempts = 10

// s3PartSize is the upload buffer: objects below it go up in one PUT,
// larger ones as a multipart upload of parts this size.
const s3PartSize = 5 << 20

// awsConfig builds the AWS SDK configuration shared by the data files
// (gocloud blob) and the Iceberg metadata (iceberg-go's S3 IO reads it from
// the context): static or default credentials, a generous retryer without a
// retry quota, and checksums only where S3 requires them, which keeps
// S3-compatible stores happy.
func awsConfig(ctx context.Context, o S3Options) (*aws.Config, error) {
	opts := []func(*config.LoadOptions) error{
		config.WithRegion(o.Region),
		config.WithRetryer(func() aws.Retryer {
			return retry.NewStandard(func(so *retry.StandardOptions) {
				so.MaxAttempts = s3MaxAttempts
				so.MaxBackoff = 5 * time.Second
				so.RateLimiter = ratelimit.None
				so.Backoff = quickBackoff{max: so.MaxBackoff}
			})
		}),
		config.WithRequestChecksumCalculation(aws.RequestChecksumCalculationWhenRequired),
		config.WithResponseChecksumValidation(aws.ResponseChecksumValidationWhenRequired),
	}
	if o.AccessKeyID != "" {
		opts = append(opts, config.WithCredentialsProvider(
			credentials.NewStaticCredentialsProvider(o.AccessKeyID, o.SecretAccessKey, "")))
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("aws config: %w", err)
	}
	return &cfg, nil
}

// quickBackoff retries after 50ms, 100ms, 200ms… with full jitter, up to
// max: transient 5xx and throttling clear fast, and a commit waits on it.
type quickBackoff struct{ max time.Duration }

func (b quickBackoff) BackoffDelay(attempt int, _ error) (time.Duration, error) {
	d := 50 * time.Millisecond << min(attempt, 10)
	d = min(d, b.max)
	return d/2 + rand.N(d/2+1), nil
}

func newS3Client(cfg *aws.Config, o S3Options) *s3.Client {
	return s3.NewFromConfig(*cfg, func(so *s3.Options) {
		if o.Endpoint != "" {
			so.BaseEndpoint = aws.String(o.Endpoint)
		}
		so.UsePathStyle = o.ForcePathStyle
		so.DisableLogOutputChecksumValidationSkipped = true
	})
}

// s3Storage keeps the lake under s3://bucket/prefix through gocloud's blob
// API: an object appears only when its upload completes, small objects are
// one PUT and large ones a multipart upload, and every request is retried
// with backoff by the AWS SDK.
type s3Storage struct {
	loc    Location
	bucket *blob.Bucket
	client *s3.Client
}

func newS3Storage(ctx context.Context, loc Location) (*s3Storage, error) {
	cfg, err := awsConfig(ctx, loc.S3)
	if err != nil {
		return nil, err
	}
	client := newS3Client(cfg, loc.S3)
	b, err := s3blob.OpenBucket(ctx, client, loc.Bucket, nil)
	if err != nil {
		return nil, err
	}
	return &s3Storage{loc: loc, bucket: b, client: client}, nil
}

func (s *s3Storage) key(path string) string {
	path = strings.TrimPrefix(path, "/")
	if s.loc.Prefix == "" {
		return path
	}
	return s.loc.Prefix + "/" + path
}

func (s *s3Storage) URI(path string) string { return s.loc.Join(path) }
func (s *s3Storage) Close() error           { return s.bucket.Close() }

func (s *s3Storage) Create(ctx context.Context, path string) (FileWriter, error) {
	wctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	w, err := s.bucket.NewWriter(wctx, s.key(path), &blob.WriterOptions{
		BufferSize:  s3PartSize,
		ContentType: "application/vnd.apache.parquet",
		// gocloud's transfer manager switches to multipart at 16 MiB;
		// lower the threshold to the part size.
		BeforeWrite: func(as func(any) bool) error {
			var tm *transfermanager.Client
			if as(&tm) && tm != nil {
				*tm = *transfermanager.New(s.client, func(o *transfermanager.Options) {
					o.PartSizeBytes = s3PartSize
					o.MultipartUploadThreshold = s3PartSize
				})
			}
			return nil
		},
	})
	if err != nil {
		cancel()
		return nil, err
	}
	return &s3Writer{w: w, cancel: cancel}, nil
}

type s3Writer struct {
	w      *blob.Writer
	cancel context.CancelFunc
	once   sync.Once
	err    error
}

func (w *s3Writer) Write(p []byte) (int, error) { return w.w.Write(p) }

func (w *s3Writer) Close() error {
	w.once.Do(func() {
		w.err = w.w.Close()
		w.cancel()
	})
	return w.err
}

// Abort cancels the upload's context before Close, which gocloud defines as
// discarding the object (an unfinished multipart upload is aborted).
func (w *s3Writer) Abort() error {
	w.once.Do(func() {
		w.cancel()
		_ = w.w.Close()
		w.err = errors.New("lake: upload aborted")
	})
	return nil
}

type s3Reader struct {
	ctx    context.Context
	bucket *blob.Bucket
	key    string
	size   int64
}

func (r *s3Reader) Size() int64  { return r.size }
func (r *s3Reader) Close() error { return nil }

func (r *s3Reader) ReadAt(p []byte, off int64) (int, error) {
	if off >= r.size {
		return 0, io.EOF
	}
	n := int64(len(p))
	if off+n > r.size {
		n = r.size - off
	}
	rr, err := r.bucket.NewRangeReader(r.ctx, r.key, off, n, nil)
	if err != nil {
		return 0, err
	}
	defer rr.Close()
	got, err := io.ReadFull(rr, p[:n])
	if err == nil && int64(got) < int64(len(p)) {
		err = io.EOF
	}
	return got, err
}

func (s *s3Storage) Open(ctx context.Context, path string) (FileReader, error) {
	attrs, err := s.bucket.Attributes(ctx, s.key(path))
	if err != nil {
		return nil, err
	}
	return &s3Reader{ctx: ctx, bucket: s.bucket, key: s.key(path), size: attrs.Size}, nil
}

func (s *s3Storage) List(ctx context.Context, prefix string) ([]ObjectInfo, error) {
	it := s.bucket.List(&blob.ListOptions{Prefix: s.key(prefix)})
	var out []ObjectInfo
	for {
		obj, err := it.Next(ctx)
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		if obj.IsDir {
			continue
		}
		rel := obj.Key
		if s.loc.Prefix != "" {
			rel = strings.TrimPrefix(rel, s.loc.Prefix+"/")
		}
		out = append(out, ObjectInfo{Path: rel, Size: obj.Size, ModTime: obj.ModTime})
	}
}

func (s *s3Storage) Delete(ctx context.Context, path string) error {
	err := s.bucket.Delete(ctx, s.key(path))
	if gcerrors.Code(err) == gcerrors.NotFound {
		return nil
	}
	return err
}
