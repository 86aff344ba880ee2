package query

import (
	"context"
	"errors"
	"fmt"
	"time"

	duckdb "github.com/duckdb/duckdb-go/v2"
)

// Kind classifies query errors.
type Kind int

// Error kinds.
const (
	KindInternal Kind = iota
	KindInvalid       // parse, binder, catalog, conversion... errors: the SQL is wrong
	KindRefused       // not a read-only statement, or file access outside the lake
	KindTimeout       // the query ran past its timeout and was interrupted
	KindCanceled      // the caller went away
	KindNotFound      // no such table or saved query
)

func (k Kind) String() string {
	switch k {
	case KindInvalid:
		return "invalid"
	case KindRefused:
		return "refused"
	case KindTimeout:
		return "timeout"
	case KindCanceled:
		return "canceled"
	case KindNotFound:
		return "not_found"
	}
	return "internal"
}

// Error is a query error: Msg is DuckDB's own message where there is one.
type Error struct {
	Kind Kind
	Msg  string
	Err  error
}

func (e *Error) Error() string { return e.Msg }
func (e *Error) Unwrap() error { return e.Err }

// ErrorKind returns the kind of err (KindInternal if it is not an *Error).
func ErrorKind(err error) Kind {
	var qe *Error
	if errors.As(err, &qe) {
		return qe.Kind
	}
	return KindInternal
}

// classify turns driver errors into *Error.
func classify(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	var qe *Error
	if errors.As(err, &qe) {
		return qe
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return &Error{Kind: KindTimeout, Msg: "query timed out and was interrupted", Err: err}
	}
	if errors.Is(err, context.Canceled) || ctx.Err() != nil {
		return &Error{Kind: KindCanceled, Msg: "query canceled", Err: err}
	}
	var de *duckdb.Error
	if errors.As(err, &de) {
		switch de.Type {
		case duckdb.ErrorTypePermission:
			return &Error{Kind: KindRefused, Msg: de.Msg, Err: err}
		case duckdb.ErrorTypeInterrupt:
			return &Error{Kind: KindTimeout, Msg: de.Msg, Err: err}
		case duckdb.ErrorTypeInternal, duckdb.ErrorTypeFatal, duckdb.ErrorTypeConnection, duckdb.ErrorTypeIO, duckdb.ErrorTypeOutOfMemory:
			return &Error{Kind: KindInternal, Msg: de.Msg, Err: err}
		}
		return &Error{Kind: KindInvalid, Msg: de.Msg, Err: err}
	}
	return &Error{Kind: KindInternal, Msg: err.Error(), Err: err}
}

// Column is a result column: its name and DuckDB type.
type Column struct {
	Name string `json:"name"`
	Type string `json:"type"`
}

// Result is a buffered query result.
type Result struct {
	Columns   []Column `json:"columns"`
	Rows      [][]any  `json:"rows"`
	RowCount  int      `json:"row_count"`
	Truncated bool     `json:"truncated"`
	ElapsedMS float64  `json:"elapsed_ms"`
}

// Query runs one read-only statement and buffers at most limit rows (0 or
// more than MaxRows means MaxRows). Truncated says more rows were available.
func (e *Engine) Query(ctx context.Context, q string, limit int) (*Result, error) {
	if limit <= 0 || limit > e.opts.MaxRows {
		limit = e.opts.MaxRows
	}
	start := time.Now()
	res := &Result{Rows: [][]any{}}
	truncated, err := e.Stream(ctx, q, limit,
		func(cols []Column) error { res.Columns = cols; return nil },
		func(row []any) error { res.Rows = append(res.Rows, row); return nil })
	if err != nil {
		return nil, err
	}
	res.RowCount = len(res.Rows)
	res.Truncated = truncated
	res.ElapsedMS = float64(time.Since(start).Microseconds()) / 1000
	return res, nil
}

// Stream runs one read-only statement and hands rows one at a time to row,
// after handing the columns to cols. limit 0 means no cap; with a cap,
// truncated says more rows were available. Values are JSON-ready (see
// normalize). The engine's timeout covers the whole call.
func (e *Engine) Stream(ctx context.Context, q string, limit int, cols func([]Column) error, row func([]any) error) (truncated bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, e.opts.Timeout)
	defer cancel()
	defer func() { err = classify(ctx, err) }()

	conn, err := e.db.Conn(ctx)
	if err != nil {
		return false, err
	}
	defer conn.Close()
	if err := e.refresh(ctx, conn); err != nil {
		return false, err
	}
	typ, names, err := e.checkSQLNames(ctx, conn, q)
	if err != nil {
		return false, err
	}
	text := q
	if limit > 0 && typ == duckdb.STATEMENT_TYPE_SELECT {
		// Let DuckDB stop early: the driver materialises whole results.
		if w, ok := e.wrapLimit(q, limit+1); ok {
			text = w
		}
	}
	rows, err := conn.QueryContext(ctx, text)
	if err != nil {
		return false, err
	}
	defer rows.Close()
	cts, err := rows.ColumnTypes()
	if err != nil {
		return false, err
	}
	columns := make([]Column, len(cts))
	for i, ct := range cts {
		columns[i] = Column{Name: ct.Name(), Type: ct.DatabaseTypeName()}
		if len(names) == len(cts) {
			columns[i].Name = names[i] // the wrapper may rename duplicates
		}
	}
	if err := cols(columns); err != nil {
		return false, err
	}
	vals := make([]any, len(columns))
	ptrs := make([]any, len(columns))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	n := 0
	for rows.Next() {
		if limit > 0 && n == limit {
			truncated = true
			break
		}
		if err := rows.Scan(ptrs...); err != nil {
			return false, err
		}
		out := make([]any, len(vals))
		for i, v := range vals {
			out[i] = normalize(v, columns[i].Type)
		}
		if err := row(out); err != nil {
			return false, err
		}
		n++
	}
	if err := rows.Err(); err != nil {
		return false, err
	}
	return truncated, rows.Close()
}

// wrapLimit wraps a SELECT as SELECT * FROM (q) LIMIT n, if DuckDB still
// parses the result as exactly one statement (a trailing semicolon followed
// by a comment, for instance, makes it fall back to the plain query).
// DuckDB keeps a subquery's ORDER BY under a LIMIT.
func (e *Engine) wrapLimit(q string, n int) (string, bool) {
	t := trimStatement(q)
	w := fmt.Sprintf("SELECT * FROM (\n%s\n) AS _trstream_q LIMIT %d", t, n)
	if c, err := e.parser.count(w); err != nil || c != 1 {
		return "", false
	}
	return w, true
}
