package generator

import (
	"context"
	"reflect"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/redpanda-data/benthos/v4/public/service"
)

// A batch's messages are built in one allocation, and messages with the
// same metadata share one metadata map, copy-on-write.
//
// Benthos allocates a service.Message, a message.Part and a messageData per
// message and a metadata map (about 400 bytes) on its first metadata Set:
// four allocations and 520 bytes, more than all the rest of what the input
// costs Benthos per message, and most of the garbage collector's work. The
// public API can share a map (Message.Copy marks it read-only, copy on
// write) but only from a template message per account, whose copies still
// allocate three objects each and read the template's cache lines.
//
// So the input writes those three structs itself, for a whole batch at
// once, through mirrors of their layout (msgSlot), and points each message
// at a cached map, flagged read-only exactly as Message.Copy leaves a
// shared one: a processor that sets or deletes metadata clones it first,
// as Benthos always does for a shared map. The maps themselves are made by
// Benthos (sharedMeta), so the input never writes a map of Benthos' type.
//
// The mirrors are checked against Benthos' own types by reflection before
// first use (fastMessages); if a Benthos upgrade changes the layout the
// input falls back to NewMessage and MetaSetMut, which give the same
// messages, and TestFastMessagesMatchBenthosLayout fails.

// msgSlot is a service.Message, its message.Part and its messageData, side
// by side.
type msgSlot struct {
	msg  messageMirror
	part partMirror
	data dataMirror
}

// messageMirror mirrors service.Message.
type messageMirror struct {
	part  *partMirror
	onErr func(err error)
}

// partMirror mirrors internal/message.Part.
type partMirror struct {
	data *dataMirror
	ctx  context.Context
}

// dataMirror mirrors internal/message.messageData.
type dataMirror struct {
	rawBytes           []byte
	err                error
	readOnlyStructured atomic.Bool
	structured         any
	readOnlyMeta       atomic.Bool
	metadata           unsafe.Pointer // map[string]message.metaValue
}

// fastMessages says whether the mirrors match this Benthos build.
var fastMessages = sync.OnceValue(func() bool { return layoutMismatch() == "" })

// layoutMismatch describes the first difference between the mirrors and
// Benthos' types, "" when there is none.
func layoutMismatch() string {
	msgT := reflect.TypeFor[service.Message]()
	if msgT.NumField() != 2 || msgT.Field(0).Type.Kind() != reflect.Pointer {
		return "service.Message: unexpected fields"
	}
	partT := msgT.Field(0).Type.Elem()
	if partT.NumField() != 2 || partT.Field(0).Type.Kind() != reflect.Pointer {
		return "message.Part: unexpected fields"
	}
	dataT := partT.Field(0).Type.Elem()
	for _, c := range []struct{ theirs, ours reflect.Type }{
		{msgT, reflect.TypeFor[messageMirror]()},
		{partT, reflect.TypeFor[partMirror]()},
		{dataT, reflect.TypeFor[dataMirror]()},
	} {
		if s := sameLayout(c.theirs, c.ours); s != "" {
			return s
		}
	}
	return ""
}

// sameLayout compares two structs field by field: names, offsets, sizes
// and kinds (a map and an unsafe.Pointer are both one pointer word, so the
// garbage collector sees the same pointers either way).
func sameLayout(theirs, ours reflect.Type) string {
	if theirs.Size() != ours.Size() || theirs.Align() != ours.Align() || theirs.NumField() != ours.NumField() {
		return theirs.String() + ": size or field count differs"
	}
	for i := range theirs.NumField() {
		a, b := theirs.Field(i), ours.Field(i)
		ka, kb := a.Type.Kind(), b.Type.Kind()
		if ka == reflect.Map && kb == reflect.UnsafePointer {
			ka = kb
		}
		switch {
		case a.Name != b.Name || a.Offset != b.Offset || a.Type.Size() != b.Type.Size() || ka != kb:
			return theirs.String() + "." + a.Name + ": differs"
		case ka == reflect.Struct && a.Type != b.Type: // atomic.Bool
			return theirs.String() + "." + a.Name + ": type differs"
		case ka == reflect.Slice && a.Type.Elem().Kind() != b.Type.Elem().Kind():
			return theirs.String() + "." + a.Name + ": element differs"
		}
	}
	return ""
}

// setFlag sets a fresh, unpublished atomic.Bool without an atomic
// instruction.
func setFlag(b *atomic.Bool) { *(*uint32)(unsafe.Pointer(b)) = 1 }

// metaMapOf returns the metadata map of a message built by Benthos.
func metaMapOf(m *service.Message) unsafe.Pointer {
	return (*messageMirror)(unsafe.Pointer(m)).part.data.metadata
}

// metaCache holds the metadata maps of (account, type) keys, made on first
// use. With up to maxMetaCache keys every key has its own slot; with more
// (event_type among many accounts), a slot is shared by the keys that hash
// to it and holds the last one's map, so the hot keys of a skewed population
// mostly hit.
type metaCache struct {
	owner []int32          // key+1 of the map in each slot, 0 if empty
	maps  []unsafe.Pointer // read-only maps made by Benthos
	shift uint8            // hash shift; 0 when keys index slots directly
}

// maxMetaCache bounds the cache: at about 400 bytes a map, 6.5 MB when full.
const maxMetaCache = 1 << 14

func newMetaCache(keys int) *metaCache {
	n, bits := 1, 0
	for n < keys && n < maxMetaCache {
		n, bits = n<<1, bits+1
	}
	c := &metaCache{owner: make([]int32, n), maps: make([]unsafe.Pointer, n)}
	if keys > n {
		c.shift = uint8(32 - bits)
	}
	return c
}

// slot is where key lives.
func (c *metaCache) slot(key int32) uint32 {
	if c.shift == 0 {
		return uint32(key)
	}
	return uint32(key) * 0x9e3779b1 >> c.shift
}

// sharedMeta returns the read-only metadata map for mm (never injected),
// building it with Benthos on a miss.
func (g *generatorInput) sharedMeta(mm msgMeta) unsafe.Pointer {
	key := mm.account
	if g.meta&metaEventType != 0 {
		key = key*numTypes + int32(mm.typ)
	}
	c := g.metas
	i := c.slot(key)
	if c.owner[i] == key+1 {
		return c.maps[i]
	}
	m := service.NewMessage(nil)
	setMeta(m, g.model, g.meta, mm)
	c.owner[i], c.maps[i] = key+1, metaMapOf(m)
	return c.maps[i]
}

// buildFast fills batch with the messages of sb, in one allocation.
func (g *generatorInput) buildFast(batch service.MessageBatch, sb *sentBatch) {
	slots := make([]msgSlot, len(batch))
	bg := context.Background()
	start := uint32(0)
	for i, end := range sb.ends {
		s := &slots[i]
		s.data.rawBytes = sb.arena[start:end:end]
		start = end
		s.part.data, s.part.ctx = &s.data, bg
		s.msg.part = &s.part
		msg := (*service.Message)(unsafe.Pointer(&s.msg))
		mm := sb.metas[i]
		if mm.injected != InjNone {
			// Rare: a map of its own, as NewMessage would have.
			setMeta(msg, g.model, g.meta, mm)
		} else if g.meta != 0 {
			s.data.metadata = g.sharedMeta(mm)
			setFlag(&s.data.readOnlyMeta)
		}
		batch[i] = msg
	}
}
