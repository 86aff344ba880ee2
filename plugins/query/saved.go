package query

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"sync"
	"time"

	duckdb "github.com/duckdb/duckdb-go/v2"
)

// SavedQuery is a named query. Each one is also a view of the same name, so
// saved queries compose.
type SavedQuery struct {
	Name        string    `json:"name"`
	SQL         string    `json:"sql"`
	Description string    `json:"description,omitempty"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
	// Error is set when the view could not be created at load time (for
	// example a column it used is gone); the query is kept.
	Error string `json:"error,omitempty"`
}

// savedFile is the on-disk form of the saved queries.
type savedFile struct {
	Version int          `json:"version"`
	Queries []SavedQuery `json:"queries"`
}

// savedStore persists saved queries as one JSON file, replaced atomically.
type savedStore struct {
	path string
	mu   sync.Mutex
	m    map[string]SavedQuery
}

func (s *savedStore) load() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.m = map[string]SavedQuery{}
	b, err := os.ReadFile(s.path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var f savedFile
	if err := json.Unmarshal(b, &f); err != nil {
		return fmt.Errorf("query: %s: %w", s.path, err)
	}
	for _, q := range f.Queries {
		s.m[q.Name] = q
	}
	return nil
}

func (s *savedStore) list() []SavedQuery {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]SavedQuery, 0, len(s.m))
	for _, q := range s.m {
		out = append(out, q)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func (s *savedStore) get(name string) (SavedQuery, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	q, ok := s.m[name]
	return q, ok
}

// put and del change the map and write the file; the caller holds e.mu.
func (s *savedStore) put(q SavedQuery) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	old, had := s.m[q.Name]
	s.m[q.Name] = q
	if err := s.writeLocked(); err != nil {
		if had {
			s.m[q.Name] = old
		} else {
			delete(s.m, q.Name)
		}
		return err
	}
	return nil
}

func (s *savedStore) del(name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	old, had := s.m[name]
	if !had {
		return nil
	}
	delete(s.m, name)
	if err := s.writeLocked(); err != nil {
		s.m[name] = old
		return err
	}
	return nil
}

func (s *savedStore) writeLocked() error {
	f := savedFile{Version: 1, Queries: make([]SavedQuery, 0, len(s.m))}
	for _, q := range s.m {
		f.Queries = append(f.Queries, q)
	}
	sort.Slice(f.Queries, func(i, j int) bool { return f.Queries[i].CreatedAt.Before(f.Queries[j].CreatedAt) })
	b, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(s.path), ".saved-*")
	if err != nil {
		return err
	}
	_, err = tmp.Write(append(b, '\n'))
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), s.path)
	}
	if err != nil {
		os.Remove(tmp.Name())
	}
	return err
}

var savedName = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)

// reservedNames may not be saved over.
var reservedNames = map[string]bool{TransactionsView: true, DLQView: true}

// SavedQueries lists the saved queries by name.
func (e *Engine) SavedQueries() []SavedQuery { return e.saved.list() }

// SavedQuery returns one saved query.
func (e *Engine) SavedQuery(name string) (SavedQuery, error) {
	q, ok := e.saved.get(name)
	if !ok {
		return q, &Error{Kind: KindNotFound, Msg: fmt.Sprintf("no saved query %q", name)}
	}
	return q, nil
}

// SaveQuery creates or replaces a saved query and its view. The SQL must be
// one SELECT-type statement (checked like any query) and must bind.
func (e *Engine) SaveQuery(ctx context.Context, q SavedQuery) (_ SavedQuery, err error) {
	ctx, cancel := context.WithTimeout(ctx, e.opts.Timeout)
	defer cancel()
	defer func() { err = classify(ctx, err) }()
	if !savedName.MatchString(q.Name) {
		return q, &Error{Kind: KindInvalid, Msg: "a saved query name is 1-63 lower-case letters, digits or _, not starting with a digit"}
	}
	if reservedNames[q.Name] {
		return q, &Error{Kind: KindInvalid, Msg: fmt.Sprintf("%q is a built-in view", q.Name)}
	}
	conn, err := e.db.Conn(ctx)
	if err != nil {
		return q, err
	}
	defer conn.Close()
	if err := e.refresh(ctx, conn); err != nil {
		return q, err
	}
	typ, err := e.checkSQL(ctx, conn, q.SQL)
	if err != nil {
		return q, err
	}
	if typ != duckdb.STATEMENT_TYPE_SELECT {
		return q, &Error{Kind: KindInvalid, Msg: "a saved query must be a SELECT (it becomes a view)"}
	}
	if err := e.checkNotTable(ctx, conn, q.Name); err != nil {
		return q, err
	}
	now := time.Now().UTC().Truncate(time.Millisecond)
	if old, ok := e.saved.get(q.Name); ok {
		q.CreatedAt = old.CreatedAt
	} else {
		q.CreatedAt = now
	}
	q.UpdatedAt = now
	q.Error = ""

	e.mu.Lock()
	defer e.mu.Unlock()
	if err := e.createView(ctx, conn, q); err != nil {
		return q, err
	}
	if err := e.saved.put(q); err != nil {
		return q, fmt.Errorf("query: save: %w", err)
	}
	return q, nil
}

// DeleteSavedQuery removes a saved query and its view.
func (e *Engine) DeleteSavedQuery(ctx context.Context, name string) (err error) {
	ctx, cancel := context.WithTimeout(ctx, e.opts.Timeout)
	defer cancel()
	defer func() { err = classify(ctx, err) }()
	if _, ok := e.saved.get(name); !ok {
		return &Error{Kind: KindNotFound, Msg: fmt.Sprintf("no saved query %q", name)}
	}
	conn, err := e.db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	e.mu.Lock()
	defer e.mu.Unlock()
	if _, err := conn.ExecContext(ctx, "DROP VIEW IF EXISTS "+sqlIdent(name)); err != nil {
		return err
	}
	return e.saved.del(name)
}

// checkNotTable refuses a name that is a table or view other than a saved
// query's.
func (e *Engine) checkNotTable(ctx context.Context, conn *sql.Conn, name string) error {
	if _, ok := e.saved.get(name); ok {
		return nil
	}
	var n int
	err := conn.QueryRowContext(ctx, "SELECT count(*) FROM duckdb_views() WHERE view_name = ? AND NOT internal", name).Scan(&n)
	if err != nil {
		return err
	}
	if n > 0 {
		return &Error{Kind: KindInvalid, Msg: fmt.Sprintf("%q is already a view", name)}
	}
	return nil
}

// createView creates the view of a saved query. The caller holds e.mu and
// has checked the SQL; the combined statement is checked again to be one
// statement.
func (e *Engine) createView(ctx context.Context, conn *sql.Conn, q SavedQuery) error {
	body := trimStatement(q.SQL)
	stmt := "CREATE OR REPLACE VIEW " + sqlIdent(q.Name) + " AS\n" + body + "\n"
	n, err := e.parser.count(stmt)
	if err != nil {
		return err
	}
	if n != 1 {
		return &Error{Kind: KindRefused, Msg: "refused: the saved query does not form one view statement"}
	}
	t, err := stmtType(ctx, conn, stmt)
	if err != nil {
		return err
	}
	if t != duckdb.STATEMENT_TYPE_CREATE {
		return &Error{Kind: KindRefused, Msg: "refused: the saved query does not form one view statement"}
	}
	_, err = conn.ExecContext(ctx, stmt)
	return err
}

// loadSaved loads the saved queries and creates their views. Views may use
// each other, so creation repeats until no more succeed.
func (e *Engine) loadSaved(ctx context.Context, conn *sql.Conn) error {
	if err := e.saved.load(); err != nil {
		return err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	pending := e.saved.list()
	sort.Slice(pending, func(i, j int) bool { return pending[i].CreatedAt.Before(pending[j].CreatedAt) })
	errs := map[string]error{}
	for len(pending) > 0 {
		var next []SavedQuery
		for _, q := range pending {
			if err := e.createView(ctx, conn, q); err != nil {
				errs[q.Name] = err
				next = append(next, q)
			}
		}
		if len(next) == len(pending) {
			break
		}
		pending = next
	}
	e.saved.mu.Lock()
	defer e.saved.mu.Unlock()
	for name, q := range e.saved.m {
		q.Error = ""
		for _, p := range pending {
			if p.Name == name {
				q.Error = errs[name].Error()
				e.log.Warn("query: saved query view not created", "name", name, "error", q.Error)
			}
		}
		e.saved.m[name] = q
	}
	return nil
}

// trimStatement drops trailing white space and semicolons.
func trimStatement(q string) string {
	for {
		n := len(q)
		for n > 0 && (q[n-1] == ' ' || q[n-1] == '\t' || q[n-1] == '\n' || q[n-1] == '\r' || q[n-1] == ';') {
			n--
		}
		if n == len(q) {
			return q
		}
		q = q[:n]
	}
}
