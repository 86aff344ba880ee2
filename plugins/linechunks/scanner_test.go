package linechunks

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/redpanda-data/benthos/v4/public/service"
	"github.com/stretchr/testify/require"
)

func chunks(t *testing.T, conf, input string) ([]string, bool, error) {
	t.Helper()
	pc, err := spec().ParseYAML(conf, nil)
	require.NoError(t, err)
	c, err := newCreator(pc)
	require.NoError(t, err)
	acked := false
	sc, err := c.Create(io.NopCloser(strings.NewReader(input)), func(_ context.Context, err error) error {
		acked = err == nil
		return nil
	}, service.NewScannerSourceDetails())
	require.NoError(t, err)
	ctx := context.Background()
	var out []string
	for {
		b, ack, err := sc.NextBatch(ctx)
		if err != nil {
			require.NoError(t, sc.Close(ctx))
			if errors.Is(err, io.EOF) {
				err = nil
			}
			return out, acked, err
		}
		require.Len(t, b, 1)
		body, err := b[0].AsBytes()
		require.NoError(t, err)
		out = append(out, string(body))
		require.NoError(t, ack(ctx, nil))
	}
}

func TestChunksOfWholeLines(t *testing.T) {
	tests := []struct {
		name, conf, input string
		want              []string
	}{
		{"count", "count: 2", "a\nb\nc\nd\ne\n", []string{"a\nb", "c\nd", "e"}},
		{"no final newline", "count: 2", "a\nb\nc", []string{"a\nb", "c"}},
		{"crlf and empty lines dropped", "count: 3", "a\r\n\r\nb\n\nc\nd", []string{"a\nb\nc", "d"}},
		{"max_bytes ends a chunk at the line that reaches it", "max_bytes: 4", "aa\nbb\ncc\nd", []string{"aa\nbb", "cc\nd"}},
		{"empty input", "{}", "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, acked, err := chunks(t, tt.conf, tt.input)
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
			require.True(t, acked, "the source is acknowledged once every chunk is")
		})
	}
}

func TestLineTooLong(t *testing.T) {
	got, _, err := chunks(t, "max_line_bytes: 4\ncount: 1", "ab\nabcdefgh\n")
	require.Equal(t, []string{"ab"}, got)
	require.ErrorContains(t, err, "max_line_bytes")
}

func TestFieldsMustBePositive(t *testing.T) {
	pc, err := spec().ParseYAML("count: 0", nil)
	require.NoError(t, err)
	_, err = newCreator(pc)
	require.Error(t, err)
}
