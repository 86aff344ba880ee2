package query

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
)

// fileCache is a read-through cache of remote lake files on local disk. A
// lake's data files are immutable (a new snapshot writes new names), so a
// file cached under its URI never goes stale. The cached path keeps the
// URI's directory layout, so the hive partition keys in it
// (event_date=.../type=...) still reach DuckDB.
type fileCache struct {
	dir   string
	fetch FetchFunc
	// parallel bounds concurrent downloads.
	parallel int
}

// localize maps every file of a snapshot to a local path, downloading the
// remote ones that are not cached yet.
func (c *fileCache) localize(ctx context.Context, files []string) ([]string, error) {
	out := make([]string, len(files))
	type job struct {
		i, k int // file index, job index
		uri  string
	}
	var jobs []job
	for i, f := range files {
		if !isRemote(f) {
			p := strings.TrimPrefix(f, "file://")
			abs, err := filepath.Abs(p)
			if err != nil {
				return nil, err
			}
			out[i] = abs
			continue
		}
		p, err := c.path(f)
		if err != nil {
			return nil, err
		}
		out[i] = p
		if _, err := os.Stat(p); err == nil {
			continue
		}
		jobs = append(jobs, job{i, len(jobs), f})
	}
	if len(jobs) == 0 {
		return out, nil
	}
	if c.fetch == nil {
		return nil, fmt.Errorf("query: snapshot lists remote file %s but no fetch function is configured", jobs[0].uri)
	}
	n := c.parallel
	if n <= 0 {
		n = 4
	}
	ch := make(chan job)
	errs := make([]error, len(jobs))
	var wg sync.WaitGroup
	for w := 0; w < n; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range ch {
				if err := c.download(ctx, j.uri, out[j.i]); err != nil {
					errs[j.k] = err
				}
			}
		}()
	}
	for _, j := range jobs {
		ch <- j
	}
	close(ch)
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return out, nil
}

// path returns the cache path of a remote URI: <dir>/<scheme>/<host>/<path>.
func (c *fileCache) path(uri string) (string, error) {
	u, err := url.Parse(uri)
	if err != nil {
		return "", fmt.Errorf("query: bad file URI %q: %w", uri, err)
	}
	clean := path.Clean("/" + u.Host + "/" + u.Path)
	if strings.Contains(clean, "..") || u.Host == "" {
		return "", fmt.Errorf("query: bad file URI %q", uri)
	}
	return filepath.Join(c.dir, u.Scheme, filepath.FromSlash(clean)), nil
}

// download fetches uri to dst atomically: a temporary file then a rename, so
// a crash or a concurrent reader never sees a partial file.
func (c *fileCache) download(ctx context.Context, uri, dst string) error {
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	r, err := c.fetch(ctx, uri)
	if err != nil {
		return fmt.Errorf("query: fetch %s: %w", uri, err)
	}
	defer r.Close()
	tmp, err := os.CreateTemp(filepath.Dir(dst), ".dl-*")
	if err != nil {
		return err
	}
	_, err = io.Copy(tmp, r)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), dst)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("query: fetch %s: %w", uri, err)
	}
	return nil
}
