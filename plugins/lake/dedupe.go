package lake

import "crypto/sha256"

// idKey is a transaction id as a map key: the 16 bytes of a canonical
// lower-case UUID (what every decoded transaction holds), else the first 16
// bytes of the id's SHA-256. Fixed-size keys without pointers hash faster
// than 36-byte strings, and maps of them are never scanned by the GC.
type idKey [16]byte

func keyOf(id string) idKey {
	var k idKey
	if parseUUID(id, &k) {
		return k
	}
	h := sha256.Sum256([]byte(id))
	copy(k[:], h[:16])
	return k
}

// parseUUID reads a canonical lower-case UUID (8-4-4-4-12 hex digits) into k.
func parseUUID(s string, k *idKey) bool {
	if len(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return false
	}
	j := 0
	for i := 0; i < 36; i += 2 {
		if i == 8 || i == 13 || i == 18 || i == 23 {
			i++
		}
		hi, lo := unhex(s[i]), unhex(s[i+1])
		if hi > 15 || lo > 15 {
			return false
		}
		k[j] = hi<<4 | lo
		j++
	}
	return true
}

func unhex(c byte) byte {
	switch {
	case c >= '0' && c <= '9':
		return c - '0'
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10
	}
	return 255
}

// idWindow remembers the last n transaction ids: a ring buffer plus a set.
type idWindow struct {
	ring []idKey
	next int
	set  map[idKey]struct{}
}

func newIDWindow(n int) *idWindow {
	return &idWindow{ring: make([]idKey, 0, min(n, 1<<16)), set: make(map[idKey]struct{}, min(n, 1<<16))}
}

func (w *idWindow) has(k idKey) bool {
	_, ok := w.set[k]
	return ok
}

// add records k, forgetting the oldest once the window is full.
func (w *idWindow) add(k idKey, limit int) {
	if limit <= 0 {
		return
	}
	if _, ok := w.set[k]; ok {
		return
	}
	if len(w.ring) < limit {
		w.ring = append(w.ring, k)
	} else {
		delete(w.set, w.ring[w.next])
		w.ring[w.next] = k
		w.next = (w.next + 1) % limit
	}
	w.set[k] = struct{}{}
}
