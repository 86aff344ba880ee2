package lake

import (
	"encoding/binary"
	"math/rand/v2"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
)

func TestKeyOf(t *testing.T) {
	id := "0b0c1d2e-3f40-4152-8364-758697a8b9ca"
	k := keyOf(id)
	require.Equal(t, idKey(uuid.MustParse(id)), k, "a canonical UUID is its 16 bytes")
	// Anything else is hashed, and never taken for another id.
	for _, other := range []string{
		"0B0C1D2E-3F40-4152-8364-758697A8B9CA", // upper case is another id
		"0b0c1d2e3f4041528364758697a8b9ca",
		"0b0c1d2e-3f40-4152-8364-758697a8b9cg",
		"",
		"tx-1",
	} {
		require.NotEqual(t, k, keyOf(other), other)
		require.Equal(t, keyOf(other), keyOf(other), other)
	}
	require.NotEqual(t, keyOf("tx-1"), keyOf("tx-2"))
}

func TestIDSetForgetsTheOldest(t *testing.T) {
	w := newIDSet(2)
	a, b, c, d := keyOf("a"), keyOf("b"), keyOf("c"), keyOf("d")
	e, f, g := keyOf("e"), keyOf("f"), keyOf("g")
	require.Equal(t, idNew, w.claim(a, 2))
	require.Equal(t, idPending, w.claim(a, 3)) // pending in generation 2
	w.complete(2, 1)
	require.Equal(t, idCommitted, w.claim(a, 3))
	require.Equal(t, idNew, w.claim(b, 3))
	require.Equal(t, idNew, w.claim(c, 3))
	w.complete(3, 2)
	// Generation 3 alone holds 2 ids: the window reaches back to it, and
	// holds generation 2 beyond, the edge.
	require.Equal(t, uint32(3), w.reach)
	require.Equal(t, idCommitted, w.state(a), "the edge generation is held")
	require.Equal(t, idCommitted, w.state(b))
	w.addCommitted(d) // counted in generation 3, still the newest
	require.Equal(t, idCommitted, w.state(d))
	require.Equal(t, idNew, w.claim(e, 4))
	w.complete(4, 1)
	// Generation 4 alone holds 1 id: the window still reaches back to 3.
	require.Equal(t, uint32(3), w.reach)
	require.Equal(t, idCommitted, w.state(a))
	require.Equal(t, idNew, w.claim(f, 5))
	require.Equal(t, idNew, w.claim(g, 5))
	w.complete(5, 2)
	// Generation 5 holds 2: the window reaches back to it, holds 4 beyond,
	// and generations 2 and 3 have left.
	require.Equal(t, uint32(5), w.reach)
	require.Equal(t, idNew, w.state(a))
	require.Equal(t, idNew, w.state(c))
	require.Equal(t, idCommitted, w.state(e))
	require.Equal(t, idCommitted, w.state(g))
}

// The table against a model (a map of stamps, the same window rule) under
// random claims, completions, failures and foreign ids, with keys that
// share their first bytes (as time-ordered ids do), so that the table
// grows, sweeps and deletes.
func TestIDSetMatchesModel(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	const limit = 3000
	s := newIDSet(limit)
	stamp := map[idKey]uint32{}
	type gc struct {
		seq uint32
		n   int
	}
	var gens []gc
	total, done, floor := 0, uint32(firstGenSeq), uint32(firstGenSeq)
	count := func(seq uint32, n int) {
		if len(gens) > 0 && gens[len(gens)-1].seq == seq {
			gens[len(gens)-1].n += n
		} else {
			gens = append(gens, gc{seq, n})
		}
		total += n
		// The newest generations of at least limit ids, and one more.
		for len(gens) > 2 && total-gens[0].n-gens[1].n >= limit {
			total -= gens[0].n
			gens = gens[1:]
		}
		floor = gens[0].seq
	}
	state := func(k idKey) int {
		g, ok := stamp[k]
		switch {
		case !ok || g < floor:
			return idNew
		case g <= done:
			return idCommitted
		}
		return idPending
	}
	keys := make([]idKey, 20000)
	for i := range keys {
		keys[i][0], keys[i][1] = 0x01, 0x9a // a shared prefix
		binary.LittleEndian.PutUint64(keys[i][8:], r.Uint64())
		keys[i][2] = byte(r.IntN(4))
	}
	open, inflight := done+1, uint32(0)
	var openKeys, inflightKeys []idKey
	for step := 0; step < 300000; step++ {
		k := keys[r.IntN(len(keys))]
		switch op := r.IntN(100); {
		case op < 80:
			want := state(k)
			require.Equal(t, want, s.claim(k, open), "step %d", step)
			if want == idNew {
				stamp[k] = open
				openKeys = append(openKeys, k)
			}
		case op < 85:
			// Another writer landed it: committed, even if pending here.
			if state(k) != idCommitted {
				stamp[k] = done
				count(done, 1)
			}
			s.addCommitted(k)
		case op < 98:
			continue
		default:
			// The in-flight generation completes, committed or fenced;
			// the open one goes in flight.
			if inflight != 0 {
				n := len(inflightKeys)
				if r.IntN(4) == 0 {
					for _, x := range inflightKeys {
						if stamp[x] == inflight {
							delete(stamp, x)
						}
						s.drop(x, inflight)
					}
					n = 0
				}
				done = inflight
				count(inflight, n)
				s.complete(inflight, n)
			}
			inflight, inflightKeys = open, openKeys
			open++
			openKeys = nil
		}
		if step%997 == 0 {
			for _, x := range keys[:200] {
				require.Equal(t, state(x), s.state(x), "step %d", step)
			}
		}
	}
	for _, k := range keys {
		require.Equal(t, state(k), s.state(k))
	}
}

// TestIDSetForeignWhilePending is chaos_rebalance_join's duplicates: an
// id pending in this writer's generation is landed by another writer
// first; the generation is then fenced and drops its ids. The id must stay
// known as committed, or its replay below the committed offset would land
// again as a late row.
func TestIDSetForeignWhilePending(t *testing.T) {
	s := newIDSet(100)
	k := keyOf("0c4fe7df-ab00-421b-ad34-ee2805650792")
	inflight, open := uint32(firstGenSeq+1), uint32(firstGenSeq+2)
	require.Equal(t, idNew, s.claim(k, open))
	s.complete(inflight, 0) // the in-flight generation is fenced...
	require.Equal(t, idPending, s.state(k))
	s.addCommitted(k) // ...and the ids the other writer landed are read
	require.Equal(t, idCommitted, s.state(k))
	taken, ok := s.takenFrom(open)
	require.True(t, ok, "the open generation holds a row another writer landed: its commit must be fenced")
	require.Equal(t, k, taken)
	s.drop(k, open) // the open generation is fenced too
	require.Equal(t, idCommitted, s.state(k), "an id another writer landed is forgotten")
	s.complete(open, 0)
	_, ok = s.takenFrom(open)
	require.False(t, ok, "a completed generation is no longer noted")
}

// parseUUID accepts exactly the canonical lower-case form, with every byte
// position checked.
func TestParseUUIDEveryPosition(t *testing.T) {
	for n := 0; n < 200; n++ {
		u := uuid.New()
		s := u.String()
		var k idKey
		require.True(t, parseUUID(s, &k), s)
		require.Equal(t, idKey(u), k)
		for i := 0; i < len(s); i++ {
			for _, c := range []byte{'g', 'A', 'F', '-', '/', ':', '`', 0, 0xff} {
				if c == s[i] {
					continue
				}
				b := []byte(s)
				b[i] = c
				require.False(t, parseUUID(string(b), &k), "%q", b)
			}
		}
	}
}
