package lake

import (
	"github.com/klauspost/compress/s2"
	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/format"
)

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
