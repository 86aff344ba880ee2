// Package linechunks holds the line_chunks scanner: a stream of lines (NDJSON)
// read as bounded chunks of whole lines, for `unarchive: {format: lines}` to
// split into a batch.
package linechunks

import (
	"bytes"
	"context"
	"fmt"
	"io"

	"github.com/redpanda-data/benthos/v4/public/service"
)

const (
	fieldCount        = "count"
	fieldMaxBytes     = "max_bytes"
	fieldMaxLineBytes = "max_line_bytes"
)

func spec() *service.ConfigSpec {
	return service.NewConfigSpec().
		Beta().
		Summary("Reads a stream of lines as messages of up to `count` whole lines each, for `unarchive: {format: lines}` to split into a batch.").
		Description(`
Reading a large file of lines into batches with stock scanners costs either time or memory: the `+"`lines`"+` scanner makes every line its own message with its own metadata and acknowledgement, and `+"`to_the_end`"+` followed by `+"`unarchive`"+` holds the whole file in memory. This scanner reads through a bounded buffer and emits one message per `+"`count`"+` lines (or `+"`max_bytes`"+`), never cutting a line: the lines joined by `+"`\\n`"+`, with no trailing newline, and without empty lines. `+"`unarchive: {format: lines}`"+` then turns each message into a batch of one message per line that is acknowledged as a unit; `+"`parquet_lake`"+` needs no `+"`unarchive`"+`, it decodes such a message as newline-delimited transactions, and the `+"`redpanda`"+` output with `+"`split_lines: true`"+` produces one record per line of it. A chunk is a slice of the block read from the input, not a copy, unless it had empty lines or CRs to drop.

A line may end in `+"`\\n`"+` or `+"`\\r\\n`"+`; the last line needs no terminator.`).
		Fields(
			service.NewIntField(fieldCount).
				Description("Lines per message, at most.").
				Default(8192),
			service.NewIntField(fieldMaxBytes).
				Description("Bytes per message: a chunk ends at the first line that reaches it (a single longer line is still one message).").
				Default(8<<20).Advanced(),
			service.NewIntField(fieldMaxLineBytes).
				Description("Longest accepted line; a longer one fails the read.").
				Default(1<<20).Advanced(),
		).
		Example("NDJSON file in batches", "", `
input:
  file:
    paths: [ ./events.ndjson ]
    scanner:
      line_chunks:
        count: 8192
pipeline:
  processors:
    - unarchive:
        format: lines
`).
		Example("A file of lines to Kafka, a record per line", "The `redpanda` output's `split_lines` makes a record of each line of a chunk, without a Benthos message per line.", `
input:
  file:
    paths: [ ./events.ndjson ]
    scanner:
      line_chunks:
        count: 4096
output:
  redpanda:
    seed_brokers: [ localhost:9092 ]
    topic: events
    split_lines: true
`)
}

func init() {
	service.MustRegisterBatchScannerCreator("line_chunks", spec(),
		func(conf *service.ParsedConfig, _ *service.Resources) (service.BatchScannerCreator, error) {
			return newCreator(conf)
		})
}

type creator struct {
	count, maxBytes, maxLine int
}

func newCreator(conf *service.ParsedConfig) (*creator, error) {
	var c creator
	var err error
	if c.count, err = conf.FieldInt(fieldCount); err != nil {
		return nil, err
	}
	if c.maxBytes, err = conf.FieldInt(fieldMaxBytes); err != nil {
		return nil, err
	}
	if c.maxLine, err = conf.FieldInt(fieldMaxLineBytes); err != nil {
		return nil, err
	}
	if c.count < 1 || c.maxBytes < 1 || c.maxLine < 1 {
		return nil, fmt.Errorf("%s, %s and %s must be positive", fieldCount, fieldMaxBytes, fieldMaxLineBytes)
	}
	return &c, nil
}

func (c *creator) Create(rdr io.ReadCloser, aFn service.AckFunc, _ *service.ScannerSourceDetails) (service.BatchScanner, error) {
	return service.AutoAggregateBatchScannerAcks(&stream{c: c, r: rdr}, aFn), nil
}

func (c *creator) Close(context.Context) error { return nil }

// stream reads blocks of the input and cuts chunks of whole lines out of
// them. A chunk of lines with no empty line and no CR is a slice of its
// block, not a copy; any other is rebuilt without those. A block is never
// written again once read into (the messages cut from it hold it); the
// unconsumed end of a block is copied to the start of the next.
type stream struct {
	c    *creator
	r    io.ReadCloser
	buf  []byte // the current block, data in buf[off:]
	off  int
	eof  bool
	hint int // size of the last chunk: blocks are sized to hold one
}

// minBlock is the smallest block read.
const minBlock = 256 << 10

// NextBatch returns one message holding the next chunk of lines.
func (s *stream) NextBatch(context.Context) (service.MessageBatch, error) {
	for {
		chunk, n, err := s.cut()
		if err != nil {
			return nil, err
		}
		if n > 0 {
			s.hint = len(chunk)
			return service.MessageBatch{service.NewMessage(chunk)}, nil
		}
		if s.eof {
			return nil, io.EOF
		}
		if err := s.fill(); err != nil {
			return nil, err
		}
	}
}

// fill reads more input into a new block holding the unconsumed data
// first.
func (s *stream) fill() error {
	rest := s.buf[s.off:]
	size := max(minBlock, s.hint+s.hint/8, 2*len(rest))
	buf := make([]byte, len(rest), size)
	copy(buf, rest)
	for len(buf) < cap(buf) {
		n, err := s.r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			s.eof = true
			break
		}
		if err != nil {
			return err
		}
		if n == 0 {
			break
		}
	}
	s.buf, s.off = buf, 0
	return nil
}

// cut returns the next chunk of up to count lines from the buffered data,
// and how many lines it holds; none when the data ends within the chunk
// and the input has more (fill, then cut again).
func (s *stream) cut() ([]byte, int, error) {
	d := s.buf[s.off:]
	lines, pos, last := 0, 0, 0 // last: end of the last line taken
	clean := true
	for lines < s.c.count && last < s.c.maxBytes && pos < len(d) {
		j := bytes.IndexByte(d[pos:], '\n')
		end, next := pos+j, pos+j+1
		if j < 0 {
			if !s.eof {
				if len(d)-pos > s.c.maxLine {
					return nil, 0, s.tooLong()
				}
				return nil, 0, nil // the line goes on past the data
			}
			end, next = len(d), len(d)
		}
		line := d[pos:end]
		if len(line) > s.c.maxLine {
			return nil, 0, s.tooLong()
		}
		switch {
		case len(line) == 0 || (len(line) == 1 && line[0] == '\r'):
			clean = false // an empty line, dropped
		case line[len(line)-1] == '\r':
			clean = false
			lines++
			last = end
		default:
			lines++
			last = end
		}
		pos = next
	}
	if lines == 0 {
		s.off += pos
		return nil, 0, nil
	}
	if lines < s.c.count && last < s.c.maxBytes && !s.eof {
		return nil, 0, nil // more lines may come for this chunk
	}
	s.off += pos
	if clean {
		return d[:last:last], lines, nil
	}
	return rebuild(d[:pos], lines, last), lines, nil
}

// rebuild joins the non-empty lines of d, without CRs, by newlines.
func rebuild(d []byte, lines, size int) []byte {
	out := make([]byte, 0, size)
	for len(d) > 0 {
		line := d
		if j := bytes.IndexByte(d, '\n'); j >= 0 {
			line, d = d[:j], d[j+1:]
		} else {
			d = nil
		}
		line = bytes.TrimSuffix(line, []byte{'\r'})
		if len(line) == 0 {
			continue
		}
		if len(out) > 0 {
			out = append(out, '\n')
		}
		out = append(out, line...)
	}
	return out
}

func (s *stream) tooLong() error {
	return fmt.Errorf("line_chunks: a line is longer than %s (%d bytes)", fieldMaxLineBytes, s.c.maxLine)
}

func (s *stream) Close(context.Context) error { return s.r.Close() }
