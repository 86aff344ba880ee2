package lake

import (
	"crypto/sha256"
	"encoding/binary"
	"math/bits"
)

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

// parseUUID reads a canonical lower-case UUID (8-4-4-4-12 hex digits) into
// k, through tables and without a branch per digit (the digits are random:
// such branches are mispredicted half the time).
func parseUUID(s string, k *idKey) bool {
	if len(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return false
	}
	var bad byte
	for j, i := range uuidDigits {
		hi, lo := hexVal[s[i]], hexVal[s[i+1]]
		bad |= hi | lo
		k[j] = hi<<4 | lo&15
	}
	return bad&0x10 == 0
}

// uuidDigits are the offsets of the 16 digit pairs of a canonical UUID.
var uuidDigits = [16]int{0, 2, 4, 6, 9, 11, 14, 16, 19, 21, 24, 26, 28, 30, 32, 34}

// hexVal is a lower-case hex digit's value, 0x10 for any other byte.
var hexVal = func() (t [256]byte) {
	for c := range t {
		switch {
		case c >= '0' && c <= '9':
			t[c] = byte(c - '0')
		case c >= 'a' && c <= 'f':
			t[c] = byte(c - 'a' + 10)
		default:
			t[c] = 0x10
		}
	}
	return
}()

// idSet holds the transaction ids the output knows: those of the newest
// committed generations (the window: at least limit ids, in whole
// generations, and one generation more) and those pending in the
// generations not yet committed. The window reaches (reach) only as far
// back as its newest limit ids: the rows landed from there on are all
// known. The generation held beyond it knows the ids that rows just above
// the reach were skipped against (an event produced twice, the copies a
// commit apart), so that a replay of such a copy is not taken for a late
// row.
//
// It is an open-addressing table (linear probing) over the 16-byte keys,
// which are random enough to index it (the hash folds both halves, for
// time-ordered UUIDv7 ids). Every id is stamped with the sequence number of
// the generation that claimed it; generations complete in order, so a
// stamp tells by itself whether its id is pending (above done), committed
// (from floor to done) or forgotten (below floor).
// Claiming an id is one probe; committing a generation moves done, and a
// generation leaving the window moves floor, without touching its ids.
// Forgotten ids stay until their slot is claimed again or the table is
// swept, when it fills up.
type idSet struct {
	slots []idSlot
	shift uint // 64 - log2(len(slots))
	n     int  // occupied slots
	limit int
	done  uint32 // the last completed generation
	floor uint32 // the oldest generation held
	reach uint32 // the oldest generation the window reaches back to
	// gens counts the ids of each committed generation in the window,
	// oldest first; total sums them.
	gens  []genCount
	total int
	// taken are pending generations that hold an id another writer
	// landed meanwhile (one of them each).
	taken map[uint32]idKey
}

type idSlot struct {
	key idKey
	gen uint32 // 0: an empty slot
}

type genCount struct {
	seq uint32
	n   int
}

// firstGenSeq is the stamp of the ids a writer knows when it starts; its
// generations follow.
const firstGenSeq = 1

// Results of claim.
const (
	idNew = iota
	idCommitted
	idPending
)

func newIDSet(limit int) *idSet {
	s := &idSet{limit: limit, done: firstGenSeq, floor: firstGenSeq, reach: firstGenSeq}
	s.resize(1 << 12)
	return s
}

func (s *idSet) resize(n int) {
	old := s.slots
	s.slots = make([]idSlot, n)
	s.shift = uint(64 - bits.Len(uint(n-1)))
	s.n = 0
	for i := range old {
		if old[i].gen >= s.floor {
			s.slots[s.probe(old[i].key)] = old[i]
			s.n++
		}
	}
}

func (s *idSet) home(k idKey) uint64 {
	h := binary.LittleEndian.Uint64(k[:8]) ^ bits.RotateLeft64(binary.LittleEndian.Uint64(k[8:]), 32)
	return (h * 0x9E3779B97F4A7C15) >> s.shift
}

// probe returns the slot holding k, or the empty slot where it would go.
func (s *idSet) probe(k idKey) uint64 {
	mask := uint64(len(s.slots) - 1)
	for i := s.home(k); ; i = (i + 1) & mask {
		if e := &s.slots[i]; e.gen == 0 || e.key == k {
			return i
		}
	}
}

// state tells whether k is new (or forgotten), committed or pending.
func (s *idSet) state(k idKey) int {
	switch g := s.slots[s.probe(k)].gen; {
	case g == 0 || g < s.floor:
		return idNew
	case g <= s.done:
		return idCommitted
	}
	return idPending
}

// claimedBy reports whether generation seq claimed k and still holds it.
func (s *idSet) claimedBy(k idKey, seq uint32) bool {
	return s.slots[s.probe(k)].gen == seq
}

// takenFrom returns an id of generation seq that another writer landed
// while seq was pending (addCommitted).
func (s *idSet) takenFrom(seq uint32) (idKey, bool) {
	k, ok := s.taken[seq]
	return k, ok
}

// claim returns k's state; a new k is stamped with generation seq.
func (s *idSet) claim(k idKey, seq uint32) int {
	i := s.probe(k)
	g := s.slots[i].gen
	switch {
	case g == 0:
		if 8*(s.n+1) > 5*len(s.slots) {
			// Sweep the forgotten ids; grow if that is not enough.
			n := len(s.slots)
			if 8*(s.live()+1) > 4*n {
				n *= 2
			}
			s.resize(n)
			i = s.probe(k)
		}
		s.n++
	case g < s.floor: // forgotten: reclaimed
	case g <= s.done:
		return idCommitted
	default:
		return idPending
	}
	s.slots[i] = idSlot{key: k, gen: seq}
	return idNew
}

// live counts the slots not forgotten.
func (s *idSet) live() int {
	n := 0
	for i := range s.slots {
		if s.slots[i].gen >= s.floor {
			n++
		}
	}
	return n
}

// addCommitted records k, unless known committed, as committed in the last
// completed generation (ids another writer landed, or that this one found
// at start). An id still pending in a generation of this writer becomes
// committed too: should that generation be fenced, dropping its ids must
// not forget one that another writer landed, as a replay of it below the
// committed offset is then told by its id (late.go). That generation is
// noted as taken: it holds a row another writer landed, and must not
// commit it.
func (s *idSet) addCommitted(k idKey) {
	if s.limit <= 0 {
		return
	}
	switch s.state(k) {
	case idCommitted:
		return
	case idPending:
		i := s.probe(k)
		if s.taken == nil {
			s.taken = map[uint32]idKey{}
		}
		s.taken[s.slots[i].gen] = k
		s.slots[i].gen = s.done
	default:
		s.claim(k, s.done)
	}
	s.count(s.done, 1)
}

// complete records that generation seq, which claimed n ids, is done: the
// ids are committed; then the oldest generations leave the window while
// the newer ones hold at least limit ids.
func (s *idSet) complete(seq uint32, n int) {
	delete(s.taken, seq)
	s.done = seq
	s.count(seq, n)
}

// count adds n ids to generation seq's count and moves the window's floor.
func (s *idSet) count(seq uint32, n int) {
	if k := len(s.gens); k > 0 && s.gens[k-1].seq == seq {
		s.gens[k-1].n += n
	} else {
		s.gens = append(s.gens, genCount{seq, n})
	}
	s.total += n
	for len(s.gens) > 2 && s.total-s.gens[0].n-s.gens[1].n >= s.limit {
		s.total -= s.gens[0].n
		s.gens = s.gens[1:]
	}
	if s.limit <= 0 {
		s.floor, s.reach = seq+1, seq+1
		return
	}
	s.floor, s.reach = s.gens[0].seq, s.gens[0].seq
	if len(s.gens) > 1 && s.total-s.gens[0].n >= s.limit {
		s.reach = s.gens[1].seq
	}
}

// drop forgets k if generation seq (which failed) claimed it.
func (s *idSet) drop(k idKey, seq uint32) {
	if i := s.probe(k); s.slots[i].gen == seq {
		s.deleteAt(i)
	}
}

// deleteAt empties slot i, moving back the entries after it that would
// no longer be found (backward-shift deletion).
func (s *idSet) deleteAt(i uint64) {
	mask := uint64(len(s.slots) - 1)
	s.n--
	for {
		s.slots[i].gen = 0
		j := i
		for {
			j = (j + 1) & mask
			if s.slots[j].gen == 0 {
				return
			}
			h := s.home(s.slots[j].key)
			// The entry at j stays if its home lies cyclically in (i, j].
			if (i < j && i < h && h <= j) || (j < i && (i < h || h <= j)) {
				continue
			}
			s.slots[i] = s.slots[j]
			i = j
			break
		}
	}
}

// size is how many ids the window holds.
func (s *idSet) size() int { return s.total }
