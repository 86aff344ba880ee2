package main

import (
	"bufio"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/urfave/cli/v2"

	"github.com/trstream/trstream/plugins/lake"
	"github.com/trstream/trstream/plugins/query"
)

// sqlCommand runs read-only SQL over the lake.
func sqlCommand() *cli.Command {
	return &cli.Command{
		Name:      "sql",
		Usage:     "Run read-only SQL over the lake (DuckDB)",
		ArgsUsage: `["SELECT …"]`,
		Description: `Runs one SELECT, EXPLAIN, DESCRIBE or SHOW statement over the lake's
transactions view (and dlq and saved-query views). Without an argument,
statements separated by semicolons are read from stdin.

  trstream sql "SELECT event_date, sum(amount) FROM transactions GROUP BY 1 ORDER BY 1"
  echo "DESCRIBE transactions; SELECT count(*) FROM transactions" | trstream sql --format csv`,
		Flags: append(lakeFlags(),
			&cli.StringFlag{Name: "format", Aliases: []string{"f"}, Value: "table", Usage: "output format: table, csv or json"},
			&cli.DurationFlag{Name: "timeout", Value: 5 * time.Minute, Usage: "interrupt a query that runs longer"},
			&cli.IntFlag{Name: "max-rows", Value: 10000, Usage: "row cap (table format; csv and json are unlimited unless set)"},
		),
		Action: runSQL,
	}
}

// lakeFlags are the flags sql and serve share.
func lakeFlags() []cli.Flag {
	return append(lakeOpenFlags(),
		&cli.StringFlag{Name: "state", Usage: "directory for saved queries and the remote-file cache (default <lake>/_query)"},
		&cli.IntFlag{Name: "pool", Value: query.DefaultPoolSize, Usage: "DuckDB connections (concurrent queries)"},
	)
}

// openSource reads the lake's current Iceberg snapshot: the view is built
// from the snapshot's file list, so a reader never sees a half-compacted
// state, and remote files are fetched through the lake's own storage.
func openSource(c *cli.Context) (query.Source, error) {
	loc, err := lakeLocation(c)
	if err != nil {
		return nil, err
	}
	if !loc.IsS3() {
		// A query server may start before the first pipeline has run.
		if err := os.MkdirAll(loc.Local, 0o755); err != nil {
			return nil, err
		}
	}
	t, err := lake.Open(c.Context, loc, lake.WithCatalogURI(c.String("catalog-uri")))
	if err != nil {
		return nil, err
	}
	return snapshotSource{t}, nil
}

// snapshotSource adapts a lake table to the query engine.
type snapshotSource struct{ t *lake.Table }

func (s snapshotSource) Files(ctx context.Context) ([]string, error) {
	files, err := s.t.Files(ctx)
	if err != nil {
		return nil, err
	}
	paths := make([]string, len(files))
	for i, f := range files {
		paths[i] = f.Path
	}
	return paths, nil
}

func (s snapshotSource) Fetch(ctx context.Context, uri string) (io.ReadCloser, error) {
	rel, ok := s.t.Location().Rel(uri)
	if !ok {
		return nil, fmt.Errorf("%s is outside the lake %s", uri, s.t.Location())
	}
	r, err := s.t.Storage().Open(ctx, rel)
	if err != nil {
		return nil, err
	}
	return struct {
		io.Reader
		io.Closer
	}{io.NewSectionReader(r, 0, r.Size()), r}, nil
}

func isRemoteLake(lake string) bool {
	return strings.Contains(lake, "://") && !strings.HasPrefix(lake, "file://")
}

// openEngine opens the query engine over openSource's source.
func openEngine(c *cli.Context, timeout time.Duration, maxRows int) (*query.Engine, error) {
	src, err := openSource(c)
	if err != nil {
		return nil, err
	}
	opts := query.Options{
		Source:   src,
		StateDir: c.String("state"),
		PoolSize: c.Int("pool"),
		Timeout:  timeout,
		MaxRows:  maxRows,
	}
	lake := c.String("lake")
	if isRemoteLake(lake) {
		if opts.StateDir == "" {
			dir, err := os.UserCacheDir()
			if err != nil {
				return nil, err
			}
			opts.StateDir = filepath.Join(dir, "trstream", "query", strings.NewReplacer("://", "/", ":", "_").Replace(lake))
		}
	} else {
		opts.LakeDir = strings.TrimPrefix(lake, "file://")
	}
	return query.Open(c.Context, opts)
}

func runSQL(c *cli.Context) error {
	format := c.String("format")
	switch format {
	case "table", "csv", "json":
	default:
		return fmt.Errorf("unknown --format %q: use table, csv or json", format)
	}
	maxRows := c.Int("max-rows")
	if format != "table" && !c.IsSet("max-rows") {
		maxRows = 0
	}
	var stmts []string
	switch c.NArg() {
	case 0:
		b, err := io.ReadAll(c.App.Reader)
		if err != nil {
			return err
		}
		stmts = query.SplitStatements(string(b))
		if len(stmts) == 0 {
			return errors.New("no SQL: pass a statement or pipe statements on stdin")
		}
	case 1:
		stmts = []string{c.Args().First()}
	default:
		return errors.New(`pass the SQL as one argument (quote it): trstream sql "SELECT …"`)
	}
	ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
	defer stop()
	c.Context = ctx
	engineMax := maxRows
	if engineMax <= 0 {
		engineMax = math.MaxInt32
	}
	// Unlike serve, which may start before anything landed, a one-shot
	// query of a directory that does not exist is a mistyped --lake: it
	// would create the directory and answer from an empty table.
	if loc, err := lakeLocation(c); err == nil && !loc.IsS3() {
		if _, err := os.Stat(loc.Local); errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("lake %s does not exist: nothing has landed there (check --lake or TRSTREAM_LAKE)", c.String("lake"))
		}
	}
	e, err := openEngine(c, c.Duration("timeout"), engineMax)
	if err != nil {
		return err
	}
	defer e.Close()

	out := bufio.NewWriterSize(c.App.Writer, 64<<10)
	defer out.Flush()
	for i, s := range stmts {
		if i > 0 && format != "json" {
			fmt.Fprintln(out)
		}
		var err error
		switch format {
		case "table":
			err = printTable(ctx, out, e, s, maxRows)
		case "csv":
			err = printCSV(ctx, out, e, s, maxRows)
		case "json":
			err = printJSON(ctx, out, e, s, maxRows)
		}
		if err != nil {
			out.Flush()
			if len(stmts) > 1 {
				return fmt.Errorf("statement %d: %w", i+1, err)
			}
			return err
		}
	}
	return nil
}

func printCSV(ctx context.Context, w io.Writer, e *query.Engine, q string, limit int) error {
	cw := csv.NewWriter(w)
	rec := []string{}
	truncated, err := e.Stream(ctx, q, limit, func(cols []query.Column) error {
		rec = make([]string, len(cols))
		for i, col := range cols {
			rec[i] = col.Name
		}
		return cw.Write(rec)
	}, func(row []any) error {
		for i, v := range row {
			rec[i] = query.Text(v)
		}
		return cw.Write(rec)
	})
	cw.Flush()
	if err == nil && truncated {
		fmt.Fprintf(os.Stderr, "trstream sql: output truncated at %d rows (--max-rows)\n", limit)
	}
	if err != nil {
		return err
	}
	return cw.Error()
}

// printJSON writes a JSON array of row objects, keys in column order.
func printJSON(ctx context.Context, w io.Writer, e *query.Engine, q string, limit int) error {
	var keys [][]byte
	n := 0
	truncated, err := e.Stream(ctx, q, limit, func(cols []query.Column) error {
		for _, col := range cols {
			k, _ := json.Marshal(col.Name)
			keys = append(keys, k)
		}
		_, err := io.WriteString(w, "[")
		return err
	}, func(row []any) error {
		b, err := query.AppendRowObject([]byte(nil), keys, row)
		if err != nil {
			return err
		}
		sep := ",\n"
		if n == 0 {
			sep = "\n"
		}
		n++
		if _, err := io.WriteString(w, sep); err != nil {
			return err
		}
		_, err = w.Write(b)
		return err
	})
	if err != nil {
		if keys != nil {
			io.WriteString(w, "\n]\n")
		}
		return err
	}
	if n > 0 {
		io.WriteString(w, "\n")
	}
	_, err = io.WriteString(w, "]\n")
	if truncated {
		fmt.Fprintf(os.Stderr, "trstream sql: output truncated at %d rows (--max-rows)\n", limit)
	}
	return err
}

// printTable draws a box table like the duckdb CLI: names and types
// centred, numbers right-aligned, NULL shown as NULL.
func printTable(ctx context.Context, w io.Writer, e *query.Engine, q string, limit int) error {
	res, err := e.Query(ctx, q, limit)
	if err != nil {
		return err
	}
	// EXPLAIN: print the plan text as DuckDB renders it.
	if len(res.Columns) == 2 && res.Columns[0].Name == "explain_key" {
		for _, r := range res.Rows {
			fmt.Fprintln(w, query.Text(r[1]))
		}
		return nil
	}
	const maxCell = 80
	n := len(res.Columns)
	cells := make([][]string, len(res.Rows))
	width := make([]int, n)
	numeric := make([]bool, n)
	types := make([]string, n)
	for i, col := range res.Columns {
		types[i] = strings.ToLower(col.Type)
		numeric[i] = query.IsNumericType(col.Type)
		width[i] = max(utf8.RuneCountInString(col.Name), utf8.RuneCountInString(types[i]))
	}
	for r, row := range res.Rows {
		cells[r] = make([]string, n)
		for i, v := range row {
			s := "NULL"
			if v != nil {
				s = strings.NewReplacer("\n", `\n`, "\r", `\r`, "\t", `\t`).Replace(query.Text(v))
			}
			if utf8.RuneCountInString(s) > maxCell {
				s = string([]rune(s)[:maxCell-1]) + "…"
			}
			cells[r][i] = s
			width[i] = max(width[i], utf8.RuneCountInString(s))
		}
	}
	line := func(l, m, r string) {
		var b strings.Builder
		b.WriteString(l)
		for i := range width {
			if i > 0 {
				b.WriteString(m)
			}
			b.WriteString(strings.Repeat("─", width[i]+2))
		}
		b.WriteString(r)
		fmt.Fprintln(w, b.String())
	}
	row := func(vals []string, align func(i int) int) {
		var b strings.Builder
		b.WriteString("│")
		for i, v := range vals {
			pad := width[i] - utf8.RuneCountInString(v)
			left := 0
			switch align(i) {
			case 0: // left
			case 1: // right
				left = pad
			case 2: // centre
				left = pad / 2
			}
			b.WriteString(" " + strings.Repeat(" ", left) + v + strings.Repeat(" ", pad-left) + " │")
		}
		fmt.Fprintln(w, b.String())
	}
	center := func(int) int { return 2 }
	names := make([]string, n)
	for i, col := range res.Columns {
		names[i] = col.Name
	}
	if n == 0 {
		return nil
	}
	line("┌", "┬", "┐")
	row(names, center)
	row(types, center)
	line("├", "┼", "┤")
	for _, r := range cells {
		row(r, func(i int) int {
			if numeric[i] && r[i] != "NULL" {
				return 1
			}
			return 0
		})
	}
	line("└", "┴", "┘")
	plural := "s"
	if res.RowCount == 1 {
		plural = ""
	}
	if res.Truncated {
		fmt.Fprintf(w, "%d row%s shown (truncated; raise --max-rows or use --format csv)\n", res.RowCount, plural)
	} else {
		fmt.Fprintf(w, "%d row%s\n", res.RowCount, plural)
	}
	return nil
}
