package lake

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
)

// S3Options configures access to an S3-compatible object store. Empty fields
// fall back to the usual AWS_* environment variables (AWS_ENDPOINT_URL_S3,
// AWS_ENDPOINT_URL, AWS_REGION, AWS_DEFAULT_REGION, AWS_ACCESS_KEY_ID,
// AWS_SECRET_ACCESS_KEY) and then to the AWS SDK's default chain.
type S3Options struct {
	// Endpoint is the base URL of a non-AWS store (MinIO, gofakes3, ...).
	Endpoint string
	// Region defaults to us-east-1 when nothing else sets one.
	Region string
	// AccessKeyID and SecretAccessKey are static credentials.
	AccessKeyID     string
	SecretAccessKey string
	// ForcePathStyle addresses buckets as <endpoint>/<bucket>/<key> rather
	// than <bucket>.<endpoint>/<key>; most self-hosted stores need it.
	ForcePathStyle bool
}

// withEnv fills empty fields from the environment.
func (o S3Options) withEnv() S3Options {
	first := func(v string, envs ...string) string {
		if v != "" {
			return v
		}
		for _, e := range envs {
			if s := os.Getenv(e); s != "" {
				return s
			}
		}
		return ""
	}
	o.Endpoint = first(o.Endpoint, "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL", "AWS_S3_ENDPOINT")
	o.Region = first(o.Region, "AWS_REGION", "AWS_DEFAULT_REGION")
	if o.Region == "" {
		o.Region = "us-east-1"
	}
	o.AccessKeyID = first(o.AccessKeyID, "AWS_ACCESS_KEY_ID")
	o.SecretAccessKey = first(o.SecretAccessKey, "AWS_SECRET_ACCESS_KEY")
	if !o.ForcePathStyle && os.Getenv("AWS_S3_FORCE_PATH_STYLE") == "true" {
		o.ForcePathStyle = true
	}
	return o
}

// Location is where a lake lives: a local directory or an S3 prefix.
type Location struct {
	// Local is the absolute directory of a local lake; empty for S3.
	Local string
	// Bucket and Prefix locate an S3 lake (Prefix has no leading or
	// trailing slash and may be empty).
	Bucket string
	Prefix string
	// S3 holds the resolved S3 options (environment fallbacks applied).
	S3 S3Options
}

// IsS3 reports whether the lake is on S3.
func (l Location) IsS3() bool { return l.Bucket != "" }

// URI is the root of the lake as the Iceberg table location: an absolute
// directory or s3://bucket/prefix.
func (l Location) URI() string {
	if !l.IsS3() {
		return l.Local
	}
	if l.Prefix == "" {
		return "s3://" + l.Bucket
	}
	return "s3://" + l.Bucket + "/" + l.Prefix
}

// Join returns the full URI (or absolute path) of a path relative to the
// lake root, using forward slashes.
func (l Location) Join(rel string) string {
	rel = strings.TrimPrefix(rel, "/")
	if !l.IsS3() {
		return filepath.Join(l.Local, filepath.FromSlash(rel))
	}
	return l.URI() + "/" + rel
}

// Rel turns a full URI or absolute path inside the lake back into a path
// relative to the lake root. ok is false for a path outside the lake.
func (l Location) Rel(full string) (rel string, ok bool) {
	if !l.IsS3() {
		full = strings.TrimPrefix(full, "file://")
		r, err := filepath.Rel(l.Local, full)
		if err != nil || r == ".." || strings.HasPrefix(r, ".."+string(filepath.Separator)) {
			return "", false
		}
		return filepath.ToSlash(r), true
	}
	for _, scheme := range []string{"s3://", "s3a://", "s3n://"} {
		root := scheme + l.Bucket + "/"
		if l.Prefix != "" {
			root += l.Prefix + "/"
		}
		if strings.HasPrefix(full, root) {
			return strings.TrimPrefix(full, root), true
		}
	}
	return "", false
}

func (l Location) String() string { return l.URI() }

// ParseLocation parses a lake location: a directory (relative paths are made
// absolute; file:// is accepted) or s3://bucket/prefix. The S3 options are
// only used for s3:// locations, with AWS_* environment fallbacks.
func ParseLocation(path string, s3 S3Options) (Location, error) {
	path = strings.TrimSpace(path)
	if path == "" {
		return Location{}, errors.New("lake location is empty")
	}
	switch {
	case strings.HasPrefix(path, "s3://"), strings.HasPrefix(path, "s3a://"):
		u, err := url.Parse(path)
		if err != nil {
			return Location{}, fmt.Errorf("lake location %q: %w", path, err)
		}
		if u.Host == "" {
			return Location{}, fmt.Errorf("lake location %q: missing bucket", path)
		}
		return Location{Bucket: u.Host, Prefix: strings.Trim(u.Path, "/"), S3: s3.withEnv()}, nil
	case strings.HasPrefix(path, "file://"):
		path = strings.TrimPrefix(path, "file://")
	case strings.Contains(path, "://"):
		return Location{}, fmt.Errorf("lake location %q: unsupported scheme (want a directory or s3://bucket/prefix)", path)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return Location{}, fmt.Errorf("lake location %q: %w", path, err)
	}
	return Location{Local: filepath.Clean(abs)}, nil
}
