package query

import (
	"context"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
)

// Table describes a queryable table or view.
type Table struct {
	Name    string   `json:"name"`
	Kind    string   `json:"kind"` // "lake", "dlq", "saved" or "view"
	Columns []Column `json:"columns"`
}

// Partition is one hive partition of the lake with its file and row counts.
type Partition struct {
	Path   string            `json:"path"`
	Values map[string]string `json:"values"`
	Files  int               `json:"files"`
	Rows   int64             `json:"rows"`
}

// TableInfo is a table with, for the lake's views, its partitions.
type TableInfo struct {
	Table
	Files      int         `json:"files"`
	Rows       int64       `json:"rows"`
	Partitions []Partition `json:"partitions,omitempty"`
}

// Tables lists the tables and views users can query, with their columns.
func (e *Engine) Tables(ctx context.Context) (_ []Table, err error) {
	ctx, cancel := context.WithTimeout(ctx, e.opts.Timeout)
	defer cancel()
	defer func() { err = classify(ctx, err) }()
	conn, err := e.db.Conn(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	if err := e.refresh(ctx, conn); err != nil {
		return nil, err
	}
	rows, err := conn.QueryContext(ctx, `SELECT table_name, column_name, data_type
		FROM information_schema.columns
		WHERE table_catalog = current_database() AND table_schema = 'main'
		ORDER BY table_name, ordinal_position`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Table
	for rows.Next() {
		var tn, cn, ct string
		if err := rows.Scan(&tn, &cn, &ct); err != nil {
			return nil, err
		}
		if len(out) == 0 || out[len(out)-1].Name != tn {
			out = append(out, Table{Name: tn, Kind: e.tableKind(tn)})
		}
		t := &out[len(out)-1]
		t.Columns = append(t.Columns, Column{Name: cn, Type: ct})
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	order := map[string]int{"lake": 0, "dlq": 1, "saved": 2, "view": 3}
	sort.SliceStable(out, func(i, j int) bool { return order[out[i].Kind] < order[out[j].Kind] })
	return out, nil
}

func (e *Engine) tableKind(name string) string {
	switch {
	case name == TransactionsView:
		return "lake"
	case name == DLQView:
		return "dlq"
	}
	if _, ok := e.saved.get(name); ok {
		return "saved"
	}
	return "view"
}

// Table describes one table; for the transactions view also its partitions
// with file and row counts (row counts from Parquet footers, no scan).
func (e *Engine) Table(ctx context.Context, name string) (*TableInfo, error) {
	tables, err := e.Tables(ctx)
	if err != nil {
		return nil, err
	}
	var info *TableInfo
	for _, t := range tables {
		if t.Name == name {
			info = &TableInfo{Table: t}
		}
	}
	if info == nil {
		return nil, &Error{Kind: KindNotFound, Msg: fmt.Sprintf("no table %q", name)}
	}
	if name != TransactionsView {
		return info, nil
	}
	ctx, cancel := context.WithTimeout(ctx, e.opts.Timeout)
	defer cancel()
	e.mu.Lock()
	files := e.files
	e.mu.Unlock()
	info.Files = len(files)
	if len(files) == 0 {
		return info, nil
	}
	counts := map[string]int64{}
	rows, err := e.db.QueryContext(ctx, "SELECT file_name, num_rows FROM parquet_file_metadata("+sqlList(files)+")")
	if err != nil {
		return nil, classify(ctx, err)
	}
	defer rows.Close()
	for rows.Next() {
		var f string
		var n int64
		if err := rows.Scan(&f, &n); err != nil {
			return nil, classify(ctx, err)
		}
		counts[f] = n
	}
	if err := rows.Err(); err != nil {
		return nil, classify(ctx, err)
	}
	parts := map[string]*Partition{}
	for _, f := range files {
		p, vals := hivePartition(f)
		pt := parts[p]
		if pt == nil {
			pt = &Partition{Path: p, Values: vals}
			parts[p] = pt
		}
		pt.Files++
		pt.Rows += counts[f]
		info.Rows += counts[f]
	}
	for _, p := range parts {
		info.Partitions = append(info.Partitions, *p)
	}
	sort.Slice(info.Partitions, func(i, j int) bool { return info.Partitions[i].Path < info.Partitions[j].Path })
	return info, nil
}

// hivePartition returns the key=value directories of a file path.
func hivePartition(file string) (string, map[string]string) {
	vals := map[string]string{}
	var keys []string
	for _, d := range strings.Split(filepath.ToSlash(filepath.Dir(file)), "/") {
		if k, v, ok := strings.Cut(d, "="); ok && k != "" {
			vals[k] = v
			keys = append(keys, d)
		}
	}
	return strings.Join(keys, "/"), vals
}
