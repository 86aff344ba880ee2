package lake

import (
	"fmt"
	"sync"

	"github.com/klauspost/compress/zstd"
	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress"
	"github.com/parquet-go/parquet-go/format"
)

// Compressions lists the supported codec names.
// LZ4 is left out: parquet-go v0.32.0 writes LZ4_RAW files it cannot read
// back (a DELTA_LENGTH_BYTE_ARRAY decode error), and the lake must be
// readable by its own compactor.
var Compressions = []string{"zstd", "snappy", "gzip", "none"}

// Codec returns the Parquet codec of a compression name, for the writer
// and the compactor alike. zstd is fastZstd.
func Codec(name string) (compress.Codec, error) {
	switch name {
	case "", "zstd":
		return fastZstd, nil
	case "snappy":
		return &parquet.Snappy, nil
	case "gzip":
		return &parquet.Gzip, nil
	case "none", "uncompressed":
		return &parquet.Uncompressed, nil
	}
	return nil, fmt.Errorf("unknown compression %q (want one of %v)", name, Compressions)
}

// fastZstd is zstd at SpeedFastest with every block's literals
// entropy-coded. klauspost's SpeedFastest otherwise stores literals raw
// when a block finds few matches, which is most of a transaction_id page
// (random hex), and files grow by a third. With the literals Huffman-coded,
// BenchmarkZstdLevels on the generator's rows: 0.88 µs CPU and 52.3 B a
// row, against parquet-go's SpeedDefault at 1.45 µs and 53.4 B. The output
// is ordinary zstd.
var fastZstd = &zstdCodec{level: zstd.SpeedFastest}

// zstdCodec is zstd at a given level with entropy coding of literals
// always on; encoders are pooled.
type zstdCodec struct {
	level    zstd.EncoderLevel
	encoders sync.Pool
}

func (c *zstdCodec) String() string { return "ZSTD" }

func (c *zstdCodec) CompressionCodec() format.CompressionCodec { return format.Zstd }

func (c *zstdCodec) Encode(dst, src []byte) ([]byte, error) {
	e, _ := c.encoders.Get().(*zstd.Encoder)
	if e == nil {
		var err error
		e, err = zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1), zstd.WithEncoderLevel(c.level),
			zstd.WithZeroFrames(true), zstd.WithEncoderCRC(false), zstd.WithAllLitEntropyCompression(true),
			// A page is at most pageBufferSize: a larger window only
			// costs memory (one pooled encoder per concurrent column).
			zstd.WithWindowSize(pageBufferSize))
		if err != nil {
			return dst[:0], err
		}
	}
	out := e.EncodeAll(src, dst[:0])
	c.encoders.Put(e)
	return out, nil
}

func (c *zstdCodec) Decode(dst, src []byte) ([]byte, error) { return parquet.Zstd.Decode(dst, src) }
