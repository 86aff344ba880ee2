package query

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync"

	duckdb "github.com/duckdb/duckdb-go/v2"
	"github.com/duckdb/duckdb-go/v2/mapping"
)

// Safety is DuckDB's own, not keyword matching:
//
//  1. DuckDB's parser splits the text into statements (a private, empty
//     in-memory database with file access disabled does the parsing, because
//     the driver's Prepare runs every statement but the last). Anything but
//     exactly one statement is refused before anything runs.
//  2. The one statement is prepared on the query connection and DuckDB
//     reports its type. Only SELECT (which is also what DESCRIBE, SHOW,
//     SUMMARIZE, PIVOT, VALUES and FROM-first queries are) and EXPLAIN of a
//     SELECT are run.
//  3. Underneath, the database itself is locked down: file access only under
//     the lake and cache directories, no extension installing or loading, and
//     the configuration locked so no statement can undo it.

// parser extracts statements with DuckDB's parser.
type parser struct {
	mu   sync.Mutex
	db   mapping.Database
	conn mapping.Connection
}

func newParser() (*parser, error) {
	var cfg mapping.Config
	if mapping.CreateConfig(&cfg) == mapping.StateError {
		return nil, errors.New("query: duckdb config")
	}
	defer mapping.DestroyConfig(&cfg)
	for k, v := range map[string]string{
		"enable_external_access":       "false",
		"autoinstall_known_extensions": "false",
		"autoload_known_extensions":    "false",
		"threads":                      "1",
	} {
		if mapping.SetConfig(cfg, k, v) == mapping.StateError {
			return nil, fmt.Errorf("query: duckdb config %s=%s", k, v)
		}
	}
	p := &parser{}
	var msg string
	if mapping.OpenExt("", &p.db, cfg, &msg) == mapping.StateError {
		mapping.Close(&p.db)
		return nil, fmt.Errorf("query: open parser database: %s", msg)
	}
	if mapping.Connect(p.db, &p.conn) == mapping.StateError {
		mapping.Close(&p.db)
		return nil, errors.New("query: connect parser database")
	}
	return p, nil
}

// count returns how many statements DuckDB parses in q, or DuckDB's parse
// error.
func (p *parser) count(q string) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var st mapping.ExtractedStatements
	n := mapping.ExtractStatements(p.conn, q, &st)
	defer mapping.DestroyExtracted(&st)
	if n == 0 {
		if msg := mapping.ExtractStatementsError(st); msg != "" {
			return 0, &Error{Kind: KindInvalid, Msg: msg}
		}
		return 0, &Error{Kind: KindInvalid, Msg: "empty query: no SQL statement"}
	}
	return int(n), nil
}

func (p *parser) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	mapping.Disconnect(&p.conn)
	mapping.Close(&p.db)
}

// stmtNames names DuckDB statement types for error messages.
var stmtNames = map[duckdb.StmtType]string{
	duckdb.STATEMENT_TYPE_SELECT: "SELECT", duckdb.STATEMENT_TYPE_INSERT: "INSERT",
	duckdb.STATEMENT_TYPE_UPDATE: "UPDATE", duckdb.STATEMENT_TYPE_EXPLAIN: "EXPLAIN",
	duckdb.STATEMENT_TYPE_DELETE: "DELETE", duckdb.STATEMENT_TYPE_PREPARE: "PREPARE",
	duckdb.STATEMENT_TYPE_CREATE: "CREATE", duckdb.STATEMENT_TYPE_EXECUTE: "EXECUTE",
	duckdb.STATEMENT_TYPE_ALTER: "ALTER", duckdb.STATEMENT_TYPE_TRANSACTION: "TRANSACTION",
	duckdb.STATEMENT_TYPE_COPY: "COPY", duckdb.STATEMENT_TYPE_ANALYZE: "ANALYZE",
	duckdb.STATEMENT_TYPE_VARIABLE_SET: "SET VARIABLE", duckdb.STATEMENT_TYPE_CREATE_FUNC: "CREATE FUNCTION",
	duckdb.STATEMENT_TYPE_DROP: "DROP", duckdb.STATEMENT_TYPE_EXPORT: "EXPORT",
	duckdb.STATEMENT_TYPE_PRAGMA: "PRAGMA", duckdb.STATEMENT_TYPE_VACUUM: "VACUUM",
	duckdb.STATEMENT_TYPE_CALL: "CALL", duckdb.STATEMENT_TYPE_SET: "SET",
	duckdb.STATEMENT_TYPE_LOAD: "LOAD/INSTALL", duckdb.STATEMENT_TYPE_RELATION: "RELATION",
	duckdb.STATEMENT_TYPE_EXTENSION: "EXTENSION", duckdb.STATEMENT_TYPE_LOGICAL_PLAN: "LOGICAL PLAN",
	duckdb.STATEMENT_TYPE_ATTACH: "ATTACH", duckdb.STATEMENT_TYPE_DETACH: "DETACH",
	duckdb.STATEMENT_TYPE_MULTI: "MULTI",
}

func stmtName(t duckdb.StmtType) string {
	if n, ok := stmtNames[t]; ok {
		return n
	}
	return fmt.Sprintf("type %d", t)
}

// stmtType prepares q (exactly one statement) on conn and returns DuckDB's
// statement type. Preparing parses and binds; it runs nothing.
func stmtType(ctx context.Context, conn *sql.Conn, q string) (duckdb.StmtType, error) {
	t, _, err := prepareInfo(ctx, conn, q, false)
	return t, err
}

// prepareInfo prepares q (exactly one statement) and returns its type and,
// if names, its result column names.
func prepareInfo(ctx context.Context, conn *sql.Conn, q string, names bool) (duckdb.StmtType, []string, error) {
	var t duckdb.StmtType
	var cols []string
	err := conn.Raw(func(dc any) error {
		c, ok := dc.(*duckdb.Conn)
		if !ok {
			return fmt.Errorf("query: unexpected driver connection %T", dc)
		}
		st, err := c.PrepareContext(ctx, q)
		if err != nil {
			return err
		}
		defer st.Close()
		s, ok := st.(*duckdb.Stmt)
		if !ok {
			return fmt.Errorf("query: unexpected driver statement %T", st)
		}
		if t, err = s.StatementType(); err != nil || !names {
			return err
		}
		n, err := s.ColumnCount()
		if err != nil {
			return err
		}
		for i := 0; i < n; i++ {
			name, err := s.ColumnName(i)
			if err != nil {
				return err
			}
			cols = append(cols, name)
		}
		return nil
	})
	return t, cols, err
}

// checkSQL refuses anything but exactly one SELECT-type statement or an
// EXPLAIN [ANALYZE] of one. It returns the statement type.
func (e *Engine) checkSQL(ctx context.Context, conn *sql.Conn, q string) (duckdb.StmtType, error) {
	t, _, err := e.checkSQLNames(ctx, conn, q)
	return t, err
}

// checkSQLNames is checkSQL that also returns the result column names.
func (e *Engine) checkSQLNames(ctx context.Context, conn *sql.Conn, q string) (duckdb.StmtType, []string, error) {
	return e.checkSQLDepth(ctx, conn, q, 0)
}

func (e *Engine) checkSQLDepth(ctx context.Context, conn *sql.Conn, q string, depth int) (duckdb.StmtType, []string, error) {
	n, err := e.parser.count(q)
	if err != nil {
		return 0, nil, err
	}
	if n != 1 {
		return 0, nil, &Error{Kind: KindRefused, Msg: fmt.Sprintf("refused: exactly one statement is allowed, got %d", n)}
	}
	t, names, err := prepareInfo(ctx, conn, q, true)
	if err != nil {
		return 0, nil, classify(ctx, err)
	}
	switch t {
	case duckdb.STATEMENT_TYPE_SELECT:
		return t, names, nil
	case duckdb.STATEMENT_TYPE_EXPLAIN:
		// EXPLAIN ANALYZE runs its statement, so the statement inside must
		// pass the same check. Locating it is lexical, but what is found is
		// checked by DuckDB; if it cannot be found the EXPLAIN is refused.
		inner, ok := explainBody(q)
		if !ok || depth > 0 {
			return 0, nil, &Error{Kind: KindRefused, Msg: "refused: EXPLAIN is allowed only directly before a SELECT"}
		}
		it, _, err := e.checkSQLDepth(ctx, conn, inner, depth+1)
		if err != nil {
			var qe *Error
			if errors.As(err, &qe) && qe.Kind == KindRefused {
				return 0, nil, &Error{Kind: KindRefused, Msg: "refused: EXPLAIN is allowed only for SELECT (" + qe.Msg + ")"}
			}
			return 0, nil, err
		}
		if it != duckdb.STATEMENT_TYPE_SELECT {
			return 0, nil, &Error{Kind: KindRefused, Msg: "refused: EXPLAIN is allowed only for SELECT"}
		}
		return t, names, nil
	}
	return 0, nil, &Error{Kind: KindRefused, Msg: fmt.Sprintf("refused: %s statements are not allowed; only SELECT, EXPLAIN, DESCRIBE, SHOW and SUMMARIZE are", stmtName(t))}
}

// explainBody returns the statement after EXPLAIN [(options)] [ANALYZE].
func explainBody(q string) (string, bool) {
	i := skipSpace(q, 0)
	if !keywordAt(q, i, "explain") {
		return "", false
	}
	i = skipSpace(q, i+len("explain"))
	if i < len(q) && q[i] == '(' {
		j, ok := skipParens(q, i)
		if !ok {
			return "", false
		}
		i = skipSpace(q, j)
	}
	for _, kw := range []string{"analyze", "analyse"} {
		if keywordAt(q, i, kw) {
			i = skipSpace(q, i+len(kw))
			break
		}
	}
	if i >= len(q) {
		return "", false
	}
	return q[i:], true
}

// skipSpace skips white space and SQL comments from i.
func skipSpace(q string, i int) int {
	for i < len(q) {
		switch {
		case q[i] == ' ' || q[i] == '\t' || q[i] == '\n' || q[i] == '\r' || q[i] == '\f' || q[i] == '\v':
			i++
		case strings.HasPrefix(q[i:], "--"):
			j := strings.IndexByte(q[i:], '\n')
			if j < 0 {
				return len(q)
			}
			i += j + 1
		case strings.HasPrefix(q[i:], "/*"):
			j := strings.Index(q[i+2:], "*/")
			if j < 0 {
				return len(q)
			}
			i += j + 4
		default:
			return i
		}
	}
	return i
}

func isIdent(c byte) bool {
	return c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= 0x80
}

// keywordAt reports whether the keyword kw (lower case) starts at q[i].
func keywordAt(q string, i int, kw string) bool {
	if i+len(kw) > len(q) || !strings.EqualFold(q[i:i+len(kw)], kw) {
		return false
	}
	return i+len(kw) == len(q) || !isIdent(q[i+len(kw)])
}

// skipParens returns the index after the parenthesised group at q[i].
func skipParens(q string, i int) (int, bool) {
	depth := 0
	for i < len(q) {
		j := skipSpace(q, i)
		if j != i {
			i = j
			continue
		}
		switch c := q[i]; c {
		case '(':
			depth++
		case ')':
			depth--
			if depth == 0 {
				return i + 1, true
			}
		case '\'', '"':
			k := skipQuoted(q, i)
			if k < 0 {
				return 0, false
			}
			i = k
			continue
		}
		i++
	}
	return 0, false
}

// skipQuoted returns the index after the quoted string or identifier at q[i]
// (a doubled quote escapes), or -1 if it is not closed.
func skipQuoted(q string, i int) int {
	quote := q[i]
	for j := i + 1; j < len(q); j++ {
		if q[j] == quote {
			if j+1 < len(q) && q[j+1] == quote {
				j++
				continue
			}
			return j + 1
		}
	}
	return -1
}

// SplitStatements splits a script into statement texts at semicolons outside
// strings, quoted identifiers, dollar quotes and comments. It is only a
// convenience for scripts: every piece is still checked by DuckDB, so a
// wrong split can only cause a refusal or a parse error, never let anything
// through.
func SplitStatements(script string) []string {
	var out []string
	start := 0
	flush := func(end int) {
		s := strings.TrimSpace(script[start:end])
		if skipSpace(s, 0) < len(s) { // not just comments
			out = append(out, s)
		}
	}
	for i := 0; i < len(script); {
		if j := skipSpace(script, i); j != i {
			i = j
			continue
		}
		switch c := script[i]; {
		case c == '\'' || c == '"':
			k := skipQuoted(script, i)
			if k < 0 {
				i = len(script)
				continue
			}
			i = k
		case c == '$':
			// $tag$ ... $tag$ (not $1, a parameter)
			tag, ok := dollarTag(script[i:])
			if !ok {
				i++
				continue
			}
			k := strings.Index(script[i+len(tag):], tag)
			if k < 0 {
				i = len(script)
				continue
			}
			i += len(tag) + k + len(tag)
		case c == ';':
			flush(i)
			start = i + 1
			i++
		default:
			i++
		}
	}
	flush(len(script))
	return out
}

// dollarTag returns the $tag$ opening a dollar-quoted string at s.
func dollarTag(s string) (string, bool) {
	end := strings.IndexByte(s[1:], '$')
	if end < 0 {
		return "", false
	}
	body := s[1 : 1+end]
	for j := 0; j < len(body); j++ {
		if !isIdent(body[j]) || j == 0 && body[j] >= '0' && body[j] <= '9' {
			return "", false
		}
	}
	return s[:end+2], true
}
