package redpanda

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
)

// TestRecordPoolClasses: a slab holds the batch, is at most twice its size
// (64 at the least), and one handed back serves a later batch of its class;
// slabs of other sizes and batches past the largest class are not pooled.
func TestRecordPoolClasses(t *testing.T) {
	for _, tc := range []struct {
		n, wantCap int
	}{
		{0, 64}, {1, 64}, {64, 64}, {65, 128}, {1000, 1024}, {1024, 1024}, {1025, 2048},
		{131072, 131072}, {131073, 131073},
	} {
		var rp recordPool
		s := rp.GetRecords(tc.n)
		if len(s) != tc.n || cap(s) != tc.wantCap {
			t.Errorf("GetRecords(%d): len %d cap %d, want len %d cap %d", tc.n, len(s), cap(s), tc.n, tc.wantCap)
		}
	}

	var rp recordPool
	s := rp.GetRecords(1000)
	rp.PutRecords(s)
	got := rp.GetRecords(600) // the slab put back, or a fresh one of its class
	if cap(got) != 1024 || len(got) != 600 {
		t.Fatalf("reused slab: len %d cap %d", len(got), cap(got))
	}
	// A slab that is no power of two (not one of ours) is dropped, not
	// handed out later as a class slab.
	rp.PutRecords(make([]kgo.Record, 10, 100))
	if s := rp.GetRecords(100); cap(s) != 128 {
		t.Fatalf("GetRecords(100) after a foreign slab: cap %d, want 128", cap(s))
	}
}
