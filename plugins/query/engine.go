// Package query runs read-only SQL over the lake with DuckDB: the engine
// behind `trstream sql`, `trstream serve`, its HTTP API and web editor.
//
// The transactions view is built over the exact file list of the lake's
// current snapshot (never a glob), user SQL must be exactly one SELECT-type
// statement as judged by DuckDB's own parser, the database is locked down to
// reading the lake and cache directories, and every query has a timeout that
// interrupts DuckDB and a row cap.
package query

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	duckdb "github.com/duckdb/duckdb-go/v2"
	"github.com/parquet-go/parquet-go"

	"github.com/trstream/trstream/plugins/txn"
)

// Defaults.
const (
	DefaultPoolSize = 4
	DefaultTimeout  = 30 * time.Second
	DefaultMaxRows  = 10000
)

// TransactionsView and DLQView are the names of the built-in views.
const (
	TransactionsView = "transactions"
	DLQView          = "dlq"
)

// Options configures an Engine.
type Options struct {
	// Source lists the current snapshot's data files. Required.
	Source Source
	// Fetch downloads remote files into the cache. If nil and Source
	// implements Fetcher, the source's Fetch is used.
	Fetch FetchFunc
	// LakeDir is the local lake root: DuckDB may read under it, and its
	// dlq/ directory becomes the dlq view. Empty for a remote lake.
	LakeDir string
	// StateDir holds saved.json (saved queries) and, by default, the cache.
	// Default <LakeDir>/_query.
	StateDir string
	// CacheDir holds local copies of remote files. Default <StateDir>/cache.
	CacheDir string
	// PoolSize is the number of DuckDB connections (concurrent queries).
	PoolSize int
	// Timeout bounds every query; DuckDB is interrupted when it passes.
	Timeout time.Duration
	// MaxRows caps the rows of a buffered result (Query).
	MaxRows int
	// Threads and MemoryLimit tune DuckDB (0 / "" keep DuckDB's defaults).
	Threads     int
	MemoryLimit string
	// Logger receives warnings (saved views that fail to load...).
	Logger *slog.Logger
}

// Engine runs read-only queries over the lake. It is safe for concurrent use.
type Engine struct {
	opts      Options
	connector *duckdb.Connector
	db        *sql.DB
	parser    *parser
	cache     *fileCache
	emptyFile string
	saved     *savedStore
	log       *slog.Logger

	mu      sync.Mutex // serialises catalog changes
	snapKey string     // hash of the snapshot's file list
	files   []string   // local paths of the snapshot's files
	dlqKey  string
	hasDLQ  bool
}

// Open starts an engine.
func Open(ctx context.Context, opts Options) (*Engine, error) {
	if opts.Source == nil {
		return nil, errors.New("query: no source")
	}
	if opts.PoolSize <= 0 {
		opts.PoolSize = DefaultPoolSize
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.MaxRows <= 0 {
		opts.MaxRows = DefaultMaxRows
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Fetch == nil {
		if f, ok := opts.Source.(Fetcher); ok {
			opts.Fetch = f.Fetch
		}
	}
	var err error
	if opts.LakeDir != "" {
		if opts.LakeDir, err = filepath.Abs(opts.LakeDir); err != nil {
			return nil, err
		}
	}
	if opts.StateDir == "" {
		if opts.LakeDir == "" {
			return nil, errors.New("query: a remote lake needs a state directory")
		}
		opts.StateDir = filepath.Join(opts.LakeDir, "_query")
	}
	if opts.StateDir, err = filepath.Abs(opts.StateDir); err != nil {
		return nil, err
	}
	if opts.CacheDir == "" {
		opts.CacheDir = filepath.Join(opts.StateDir, "cache")
	}
	if opts.CacheDir, err = filepath.Abs(opts.CacheDir); err != nil {
		return nil, err
	}
	for _, d := range []string{opts.StateDir, opts.CacheDir, filepath.Join(opts.CacheDir, "_tmp")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("query: %w", err)
		}
	}
	e := &Engine{
		opts:  opts,
		log:   opts.Logger,
		cache: &fileCache{dir: opts.CacheDir, fetch: opts.Fetch},
		saved: &savedStore{path: filepath.Join(opts.StateDir, "saved.json")},
	}
	if e.emptyFile, err = writeEmptyFile(opts.CacheDir); err != nil {
		return nil, err
	}
	if e.parser, err = newParser(); err != nil {
		return nil, err
	}
	if e.connector, err = duckdb.NewConnector("", nil); err != nil {
		e.parser.close()
		return nil, fmt.Errorf("query: open duckdb: %w", err)
	}
	e.db = sql.OpenDB(e.connector)
	e.db.SetMaxOpenConns(opts.PoolSize)
	e.db.SetMaxIdleConns(opts.PoolSize)
	e.db.SetConnMaxLifetime(0)
	e.db.SetConnMaxIdleTime(0)
	if err := e.init(ctx); err != nil {
		e.Close()
		return nil, err
	}
	return e, nil
}

// init locks the database down, builds the views and loads saved queries.
func (e *Engine) init(ctx context.Context) error {
	conn, err := e.db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	allowed := []string{sqlString(e.opts.CacheDir + string(filepath.Separator))}
	if e.opts.LakeDir != "" {
		allowed = append(allowed, sqlString(e.opts.LakeDir+string(filepath.Separator)))
	}
	stmts := []string{
		// Spill files stay inside the cache directory.
		"SET temp_directory=" + sqlString(filepath.Join(e.opts.CacheDir, "_tmp")),
		"SET autoinstall_known_extensions=false",
		// Snapshot files are immutable: keep their footers in memory, so
		// binding the view (union_by_name reads every schema) stays cheap.
		"SET parquet_metadata_cache=true",
		"SET autoload_known_extensions=false",
		// Must precede enable_external_access=false, which freezes it.
		"SET allowed_directories=[" + strings.Join(allowed, ",") + "]",
		"SET enable_external_access=false",
	}
	if e.opts.Threads > 0 {
		stmts = append(stmts, fmt.Sprintf("SET threads=%d", e.opts.Threads))
	}
	if e.opts.MemoryLimit != "" {
		stmts = append(stmts, "SET memory_limit="+sqlString(e.opts.MemoryLimit))
	}
	// Last: no statement may change any setting from here on.
	stmts = append(stmts, "SET lock_configuration=true")
	for _, s := range stmts {
		if _, err := conn.ExecContext(ctx, s); err != nil {
			return fmt.Errorf("query: %s: %w", s, err)
		}
	}
	if err := e.refresh(ctx, conn); err != nil {
		return err
	}
	return e.loadSaved(ctx, conn)
}

// Close releases the engine.
func (e *Engine) Close() error {
	var err error
	if e.db != nil {
		err = e.db.Close()
	}
	if e.parser != nil {
		e.parser.close()
	}
	return err
}

// Options returns the engine's effective options.
func (e *Engine) Options() Options { return e.opts }

// Ping checks that DuckDB answers.
func (e *Engine) Ping(ctx context.Context) error {
	var one int
	return e.db.QueryRowContext(ctx, "SELECT 1").Scan(&one)
}

// refresh rebuilds the transactions and dlq views if the snapshot changed.
// Listing the snapshot is the cheap check; the views are replaced only when
// the file list differs.
func (e *Engine) refresh(ctx context.Context, conn *sql.Conn) error {
	files, err := e.opts.Source.Files(ctx)
	if err != nil {
		return fmt.Errorf("query: list snapshot files: %w", err)
	}
	key := hashList(files)
	var dlqFiles []string
	if e.opts.LakeDir != "" {
		dlqFiles, _ = dlqList(filepath.Join(e.opts.LakeDir, "dlq"))
	}
	dlqKey := hashList(dlqFiles)

	e.mu.Lock()
	defer e.mu.Unlock()
	if key != e.snapKey {
		local, err := e.cache.localize(ctx, files)
		if err != nil {
			return err
		}
		if _, err := conn.ExecContext(ctx, e.transactionsSQL(local)); err != nil {
			return fmt.Errorf("query: build transactions view: %w", err)
		}
		e.snapKey, e.files = key, local
	}
	if dlqKey != e.dlqKey {
		q := "DROP VIEW IF EXISTS " + DLQView
		if len(dlqFiles) > 0 {
			q = dlqSQL(dlqFiles)
		}
		if _, err := conn.ExecContext(ctx, q); err != nil {
			e.log.Warn("query: dlq view", "error", err)
		} else {
			e.dlqKey, e.hasDLQ = dlqKey, len(dlqFiles) > 0
		}
	}
	return nil
}

// transactionsSQL is the view over exactly the snapshot's files; with no
// files, an empty table of the transaction schema.
func (e *Engine) transactionsSQL(files []string) string {
	if len(files) == 0 {
		return "CREATE OR REPLACE VIEW " + TransactionsView + " AS SELECT *, CAST(NULL AS DATE) AS event_date FROM read_parquet(" +
			sqlString(e.emptyFile) + ")"
	}
	return "CREATE OR REPLACE VIEW " + TransactionsView + " AS SELECT * FROM read_parquet(" + sqlList(files) +
		", hive_partitioning=true, union_by_name=true)"
}

func dlqSQL(files []string) string {
	var pq, js []string
	for _, f := range files {
		if strings.HasSuffix(f, ".parquet") {
			pq = append(pq, f)
		} else {
			js = append(js, f)
		}
	}
	if len(pq) > 0 {
		return "CREATE OR REPLACE VIEW " + DLQView + " AS SELECT * FROM read_parquet(" + sqlList(pq) +
			", hive_partitioning=true, union_by_name=true)"
	}
	return "CREATE OR REPLACE VIEW " + DLQView + " AS SELECT * FROM read_json_auto(" + sqlList(js) + ", union_by_name=true)"
}

// dlqList lists dead-letter files: Parquet, or JSON lines.
func dlqList(dir string) ([]string, error) {
	files, err := globParquet(dir)
	if err != nil || len(files) > 0 {
		return files, err
	}
	var out []string
	for _, pat := range []string{"*.json", "*.jsonl", "*.ndjson", "*/*.json", "*/*.jsonl", "*/*.ndjson", "*/*/*.jsonl", "*/*/*.ndjson", "*/*/*.json"} {
		m, _ := filepath.Glob(filepath.Join(dir, pat))
		out = append(out, m...)
	}
	return out, nil
}

// writeEmptyFile writes a zero-row Parquet file of the transaction schema,
// the typed stand-in for an empty lake.
func writeEmptyFile(cacheDir string) (string, error) {
	dir := filepath.Join(cacheDir, "_empty")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	p := filepath.Join(dir, "transactions.parquet")
	tmp, err := os.CreateTemp(dir, ".empty-*")
	if err != nil {
		return "", err
	}
	w := parquet.NewGenericWriter[txn.Transaction](tmp)
	err = w.Close()
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), p)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return "", fmt.Errorf("query: write empty schema file: %w", err)
	}
	return p, nil
}

func hashList(files []string) string {
	h := sha256.New()
	for _, f := range files {
		h.Write([]byte(f))
		h.Write([]byte{0})
	}
	return fmt.Sprintf("%d:%s", len(files), hex.EncodeToString(h.Sum(nil)))
}

// sqlString quotes s as a SQL string literal.
func sqlString(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// sqlIdent quotes s as a SQL identifier.
func sqlIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

func sqlList(files []string) string {
	var b strings.Builder
	b.WriteByte('[')
	for i, f := range files {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(sqlString(f))
	}
	b.WriteByte(']')
	return b.String()
}
