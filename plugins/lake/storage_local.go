package lake

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// localStorage keeps the lake in a directory. Writes go to a hidden temporary
// file next to the target, are fsynced, then renamed into place, and the
// directory is fsynced: a crash leaves either the whole file or none of it.
type localStorage struct {
	loc Location
}

func (s *localStorage) URI(path string) string { return s.loc.Join(path) }
func (s *localStorage) Close() error           { return nil }

// tmpPrefix marks in-progress writes; List skips them and CleanOrphans
// removes stale ones.
const tmpPrefix = ".tmp-"

func (s *localStorage) Create(_ context.Context, path string) (FileWriter, error) {
	final := s.loc.Join(path)
	dir := filepath.Dir(final)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	f, err := os.CreateTemp(dir, tmpPrefix+filepath.Base(final)+"-*")
	if err != nil {
		return nil, err
	}
	return &localWriter{f: f, final: final}, nil
}

type localWriter struct {
	f     *os.File
	final string
	done  bool
}

func (w *localWriter) Write(p []byte) (int, error) { return w.f.Write(p) }

func (w *localWriter) Close() error {
	if w.done {
		return errors.New("lake: file already closed")
	}
	w.done = true
	tmp := w.f.Name()
	err := w.f.Sync()
	if cerr := w.f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, w.final)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return err
	}
	return syncDir(filepath.Dir(w.final))
}

func (w *localWriter) Abort() error {
	if w.done {
		return nil
	}
	w.done = true
	_ = w.f.Close()
	return os.Remove(w.f.Name())
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, os.ErrInvalid) {
		return err
	}
	return nil
}

type localReader struct {
	*os.File
	size int64
}

func (r *localReader) Size() int64 { return r.size }

func (s *localStorage) Open(_ context.Context, path string) (FileReader, error) {
	f, err := os.Open(s.loc.Join(path))
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	return &localReader{File: f, size: st.Size()}, nil
}

func (s *localStorage) List(_ context.Context, prefix string) ([]ObjectInfo, error) {
	return s.list(prefix, false)
}

// list walks prefix; withTemp includes in-progress temporary files.
func (s *localStorage) list(prefix string, withTemp bool) ([]ObjectInfo, error) {
	root := s.loc.Join(prefix)
	var out []ObjectInfo
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if d.IsDir() {
			return nil
		}
		if !withTemp && strings.HasPrefix(d.Name(), tmpPrefix) {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		rel, _ := s.loc.Rel(p)
		out = append(out, ObjectInfo{Path: rel, Size: info.Size(), ModTime: info.ModTime()})
		return nil
	})
	return out, err
}

func (s *localStorage) Delete(_ context.Context, path string) error {
	err := os.Remove(s.loc.Join(path))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}
