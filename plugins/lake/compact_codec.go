package lake

import (
	"sync"

	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zstd"
	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress"
	"github.com/parquet-go/parquet-go/format"
)

// compactCodec is the codec of compaction outputs for a compression name:
// zstd is compactZstd, the others are Codec's.
func compactCodec(name string) (compress.Codec, error) {
	if name == "" || name == "zstd" {
		return compactZstd, nil
	}
	return Codec(name)
}

// compactZstd is zstd at SpeedFastest with every block's literals
// entropy-coded. klauspost's SpeedFastest otherwise stores literals raw
// when a block finds few matches, which is most of a transaction_id page
// (random hex): that made SpeedFastest files a third larger. With the
// literals Huffman-coded, BenchmarkCompact's output is 43.2 MiB, smaller
// than SpeedDefault's 45.0 MiB, for about 40% less compaction CPU. The
// output is ordinary zstd.
var compactZstd = &zstdCodec{level: zstd.SpeedFastest}

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
			// A page is about compactPageBytes: a larger window only
			// costs memory (one encoder per column being encoded).
			zstd.WithWindowSize(compactPageBytes))
		if err != nil {
			return dst[:0], err
		}
	}
	out := e.EncodeAll(src, dst[:0])
	c.encoders.Put(e)
	return out, nil
}

func (c *zstdCodec) Decode(dst, src []byte) ([]byte, error) { return parquet.Zstd.Decode(dst, src) }

// tempRunCodec compresses intermediate runs: Snappy's format, written by
// s2's fast encoder (parquet-go's Snappy codec uses the slower "better"
// mode, a third of a multi-pass merge's CPU). The runs are read back once.
var tempRunCodec = snappyFastCodec{}

type snappyFastCodec struct{}

func (snappyFastCodec) String() string { return "SNAPPY" }

func (snappyFastCodec) CompressionCodec() format.CompressionCodec { return format.Snappy }

func (snappyFastCodec) Encode(dst, src []byte) ([]byte, error) {
	return s2.EncodeSnappy(dst[:cap(dst)], src), nil
}

func (snappyFastCodec) Decode(dst, src []byte) ([]byte, error) {
	return parquet.Snappy.Decode(dst, src)
}
