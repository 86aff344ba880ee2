package txn

import (
	"context"
	"unsafe"
)

// A decoded transaction can travel with its message, in the message's
// context: transaction_validate decodes every message, and parquet_lake
// then takes the row it attached instead of decoding the same bytes again.
// The row is only taken back for the very bytes it was decoded from (the
// same memory, the same length): a processor that replaced the body in
// between makes the lake decode the new one.

type decodedKey struct{}

type decoded struct {
	data *byte
	n    int
	t    Transaction
}

// WithDecoded returns ctx carrying t as the decoding of body. t's strings
// may point into body, which must not change afterwards (a message's bytes
// never do).
func WithDecoded(ctx context.Context, body []byte, t *Transaction) context.Context {
	return context.WithValue(ctx, decodedKey{}, &decoded{data: unsafe.SliceData(body), n: len(body), t: *t})
}

// Decoded returns the transaction that WithDecoded attached to ctx for
// these very bytes, if any.
func Decoded(ctx context.Context, body []byte) (*Transaction, bool) {
	if ctx == nil {
		return nil, false
	}
	d, ok := ctx.Value(decodedKey{}).(*decoded)
	if !ok || d.data != unsafe.SliceData(body) || d.n != len(body) || len(body) == 0 {
		return nil, false
	}
	return &d.t, true
}
