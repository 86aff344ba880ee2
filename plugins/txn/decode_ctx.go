package txn

import (
	"context"
	"unsafe"
)

// A decoded transaction can ride along with its message (in the message's
// context), so that a later stage of the same pipeline reuses it instead of
// decoding the bytes again: transaction_validate attaches what it decoded,
// parquet_lake takes it. It is bound to the exact bytes it was decoded
// from: once a processor replaces the body, it no longer applies.

type decodedKey struct{}

type decodedValue struct {
	body []byte
	t    *Transaction
}

// WithDecoded returns ctx carrying t as the decoding of body, which must
// be the message body t was decoded (and validated) from.
func WithDecoded(ctx context.Context, body []byte, t *Transaction) context.Context {
	return context.WithValue(ctx, decodedKey{}, decodedValue{body: body, t: t})
}

// Decoded returns the transaction attached by WithDecoded if it was decoded
// from these very bytes (the same memory, not merely equal content).
func Decoded(ctx context.Context, body []byte) (*Transaction, bool) {
	if ctx == nil {
		return nil, false
	}
	v, ok := ctx.Value(decodedKey{}).(decodedValue)
	if !ok || len(v.body) != len(body) || len(body) == 0 || unsafe.SliceData(v.body) != unsafe.SliceData(body) {
		return nil, false
	}
	return v.t, true
}
