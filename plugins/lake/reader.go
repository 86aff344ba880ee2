package lake

import (
	"context"
	"errors"
	"io"

	"github.com/parquet-go/parquet-go"

	"github.com/trstream/trstream/plugins/txn"
)

// ReadFile reads every row of a lake data file (path relative to the lake
// root), for compaction and checks.
func ReadFile(ctx context.Context, s Storage, path string) ([]txn.Transaction, error) {
	r, err := s.Open(ctx, path)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	pr := parquet.NewGenericReader[txn.Transaction](io.NewSectionReader(r, 0, r.Size()))
	defer pr.Close()
	out := make([]txn.Transaction, pr.NumRows())
	n, err := pr.Read(out)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	return out[:n], nil
}
