package query

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Source lists the data files of the lake's current snapshot. The engine
// builds the transactions view over exactly this list, so a reader never sees
// a half-written or half-compacted state: files appear and disappear only when
// a new snapshot is committed.
//
// Files returns local paths or remote URIs (s3://bucket/key). Remote files
// are read through a local cache and need a fetch function: either the
// Source implements Fetcher or Options.Fetch is set.
type Source interface {
	Files(ctx context.Context) ([]string, error)
}

// FetchFunc opens a remote file for reading.
type FetchFunc func(ctx context.Context, uri string) (io.ReadCloser, error)

// Fetcher is implemented by sources that can download their own remote files.
type Fetcher interface {
	Fetch(ctx context.Context, uri string) (io.ReadCloser, error)
}

// SourceFunc adapts a function to Source.
type SourceFunc func(ctx context.Context) ([]string, error)

// Files implements Source.
func (f SourceFunc) Files(ctx context.Context) ([]string, error) { return f(ctx) }

// GlobSource lists every Parquet file under <dir>/data, recursively, in
// lexical order. It is the fallback for a lake without a table catalog and
// the source used in tests; it sees files that a writer has not finished, so
// writers must write to a temporary name and rename.
func GlobSource(dir string) Source { return globSource{dir: dir} }

type globSource struct{ dir string }

func (g globSource) Files(ctx context.Context) ([]string, error) {
	root := filepath.Join(g.dir, "data")
	files, err := globParquet(root)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	return files, err
}

// globParquet walks root for *.parquet files, skipping hidden and temporary
// names (".x", "_x", "*.tmp").
func globParquet(root string) ([]string, error) {
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(abs); err != nil {
		return nil, err
	}
	var files []string
	err = filepath.WalkDir(abs, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil // removed while walking (compaction)
			}
			return err
		}
		name := d.Name()
		if p != abs && (strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_")) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if !d.IsDir() && strings.HasSuffix(name, ".parquet") {
			files = append(files, p)
		}
		return nil
	})
	sort.Strings(files)
	return files, err
}

// isRemote reports whether a file name is a URI with a scheme other than file.
func isRemote(name string) bool {
	i := strings.Index(name, "://")
	if i <= 0 {
		return false
	}
	return name[:i] != "file"
}
