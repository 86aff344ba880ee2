package txn

import (
	"context"
	"testing"
)

func TestDecodedIsBoundToTheBytes(t *testing.T) {
	body := []byte(`{"x":1}`)
	tx := &Transaction{TransactionID: "a"}
	ctx := WithDecoded(context.Background(), body, tx)
	if got, ok := Decoded(ctx, body); !ok || got != tx {
		t.Fatalf("the same bytes: got %v, %v", got, ok)
	}
	if _, ok := Decoded(ctx, append([]byte(nil), body...)); ok {
		t.Fatal("equal content in other memory must not match: the body may have been replaced")
	}
	if _, ok := Decoded(ctx, body[:3]); ok {
		t.Fatal("a prefix of the bytes must not match")
	}
	if _, ok := Decoded(context.Background(), body); ok {
		t.Fatal("nothing attached")
	}
}
