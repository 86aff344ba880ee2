package lake

import (
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

func TestIDWindowForgetsTheOldest(t *testing.T) {
	w := newIDWindow(2)
	a, b, c := keyOf("a"), keyOf("b"), keyOf("c")
	w.add(a, 2)
	w.add(b, 2)
	w.add(a, 2) // already there: not a new entry
	require.True(t, w.has(a) && w.has(b))
	w.add(c, 2)
	require.False(t, w.has(a))
	require.True(t, w.has(b) && w.has(c))
}
