package linechunks

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
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

// refChunks is what the scanner must return: the non-empty lines, without
// CRs, count at a time, a chunk ending at the line that reaches maxBytes.
func refChunks(input string, count, maxBytes int) []string {
	var out []string
	var cur []string
	size := 0
	for _, l := range strings.Split(input, "\n") {
		l = strings.TrimSuffix(l, "\r")
		if l == "" {
			continue
		}
		if len(cur) > 0 {
			size++
		}
		cur = append(cur, l)
		size += len(l)
		if len(cur) == count || size >= maxBytes {
			out = append(out, strings.Join(cur, "\n"))
			cur, size = nil, 0
		}
	}
	if len(cur) > 0 {
		out = append(out, strings.Join(cur, "\n"))
	}
	return out
}

// Random inputs, clean or not, against the reference; the input arrives
// in reads of random sizes.
func TestChunksMatchReference(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for n := 0; n < 300; n++ {
		var b strings.Builder
		lines := r.IntN(3000)
		dirty := n%3 == 0
		for i := 0; i < lines; i++ {
			b.WriteString(strings.Repeat(string(rune('a'+i%26)), 1+r.IntN(300)))
			switch {
			case dirty && r.IntN(20) == 0:
				b.WriteString("\r\n")
			case dirty && r.IntN(20) == 0:
				b.WriteString("\n\n")
			default:
				b.WriteString("\n")
			}
		}
		input := b.String()
		if r.IntN(2) == 0 {
			input = strings.TrimSuffix(input, "\n")
		}
		count, maxBytes := 1+r.IntN(600), 1+r.IntN(200_000)
		if dirty {
			maxBytes = 8 << 20 // a rebuilt chunk's size counts the dropped bytes
		}
		pc, err := spec().ParseYAML(fmt.Sprintf("count: %d\nmax_bytes: %d", count, maxBytes), nil)
		require.NoError(t, err)
		c, err := newCreator(pc)
		require.NoError(t, err)
		s := &stream{c: c, r: io.NopCloser(&choppy{s: input, r: r})}
		var got []string
		for {
			b, err := s.NextBatch(context.Background())
			if errors.Is(err, io.EOF) {
				break
			}
			require.NoError(t, err)
			body, _ := b[0].AsBytes()
			got = append(got, string(body))
		}
		require.Equal(t, refChunks(input, count, maxBytes), got, "input %d", n)
	}
}

// choppy reads s in pieces of random sizes.
type choppy struct {
	s string
	r *rand.Rand
}

func (c *choppy) Read(p []byte) (int, error) {
	if len(c.s) == 0 {
		return 0, io.EOF
	}
	n := copy(p[:min(len(p), 1+c.r.IntN(70000))], c.s)
	c.s = c.s[n:]
	return n, nil
}
