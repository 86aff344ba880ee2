package lake

import (
	"context"
	"io"
	"time"
)

// Storage is the lake's object store: the local filesystem or an S3 bucket.
// Paths are relative to the lake root and use forward slashes, for example
// "data/event_date=2024-05-01/type=payment/part-….parquet".
type Storage interface {
	// Create starts writing path. Nothing is visible at path until the
	// writer's Close returns nil; Abort discards everything written.
	Create(ctx context.Context, path string) (FileWriter, error)
	// Open opens path for random access reads.
	Open(ctx context.Context, path string) (FileReader, error)
	// List returns every object under prefix (recursively), in no
	// particular order. In-progress local writes are not listed.
	List(ctx context.Context, prefix string) ([]ObjectInfo, error)
	// Delete removes path. Deleting a missing path is not an error.
	Delete(ctx context.Context, path string) error
	// URI returns the full URI (s3://…) or absolute local path of path:
	// the form data files are referenced by in the Iceberg table.
	URI(path string) string
	// Close releases the store's resources.
	Close() error
}

// FileWriter writes one object that becomes visible atomically on Close.
type FileWriter interface {
	io.Writer
	// Close flushes, makes the object durable and publishes it under its
	// final name. After an error nothing is published.
	Close() error
	// Abort discards the object. It is safe to call after Close.
	Abort() error
}

// FileReader reads one object at random offsets.
type FileReader interface {
	io.ReaderAt
	io.Closer
	// Size is the object's length in bytes.
	Size() int64
}

// ObjectInfo describes one stored object.
type ObjectInfo struct {
	// Path is relative to the lake root.
	Path    string
	Size    int64
	ModTime time.Time
}

// NewStorage opens the object store behind a lake location.
func NewStorage(ctx context.Context, loc Location) (Storage, error) {
	if loc.IsS3() {
		return newS3Storage(ctx, loc)
	}
	return &localStorage{loc: loc}, nil
}
