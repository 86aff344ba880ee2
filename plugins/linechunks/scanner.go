// Package linechunks holds the line_chunks scanner: a stream of lines (NDJSON)
// read as bounded chunks of whole lines, for `unarchive: {format: lines}` to
// split into a batch.
package linechunks

import (
	"bufio"
	"bytes"
	"context"
	"errors"
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
Reading a large file of lines into batches with stock scanners costs either time or memory: the `+"`lines`"+` scanner makes every line its own message with its own metadata and acknowledgement, and `+"`to_the_end`"+` followed by `+"`unarchive`"+` holds the whole file in memory. This scanner reads through a bounded buffer and emits one message per `+"`count`"+` lines (or `+"`max_bytes`"+`), never cutting a line: the lines joined by `+"`\\n`"+`, with no trailing newline, and without empty lines. `+"`unarchive: {format: lines}`"+` then turns each message into a batch of one message per line that is acknowledged as a unit.

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
	sc := bufio.NewScanner(rdr)
	sc.Buffer(make([]byte, 0, min(c.maxLine, 64<<10)), c.maxLine)
	return service.AutoAggregateBatchScannerAcks(&stream{c: c, sc: sc, r: rdr}, aFn), nil
}

func (c *creator) Close(context.Context) error { return nil }

type stream struct {
	c    *creator
	sc   *bufio.Scanner
	r    io.ReadCloser
	hint int // size of the last chunk: the next one is allocated alike
}

// NextBatch returns one message holding the next chunk of lines.
func (s *stream) NextBatch(context.Context) (service.MessageBatch, error) {
	var chunk []byte
	n := 0
	for n < s.c.count && len(chunk) < s.c.maxBytes && s.sc.Scan() {
		line := bytes.TrimSuffix(s.sc.Bytes(), []byte{'\r'})
		if len(line) == 0 {
			continue
		}
		if chunk == nil {
			chunk = make([]byte, 0, max(s.hint, len(line)))
		} else {
			chunk = append(chunk, '\n')
		}
		chunk = append(chunk, line...)
		n++
	}
	if n == 0 {
		err := s.sc.Err()
		if errors.Is(err, bufio.ErrTooLong) {
			return nil, fmt.Errorf("line_chunks: a line is longer than %s (%d bytes)", fieldMaxLineBytes, s.c.maxLine)
		}
		if err == nil {
			err = io.EOF
		}
		return nil, err
	}
	s.hint = len(chunk) + len(chunk)/16
	return service.MessageBatch{service.NewMessage(chunk)}, nil
}

func (s *stream) Close(context.Context) error { return s.r.Close() }
