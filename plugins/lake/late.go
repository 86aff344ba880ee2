package lake

// Late records. A batch can reach the output after a later batch of the
// same partition was committed: Benthos runs processors and writes
// concurrently (pipeline threads, max_in_flight) and replays a nacked batch
// while later ones go on. Its records lie below the committed offset, as a
// replay's do, yet were never landed, and skipping them by offset would
// lose them. So below a partition's committed offset the output tells the
// two apart by transaction id, as far back as its id window reaches
// (idFloors): an id the window holds is a replay, skipped; any other is
// late, and lands. Further back, where the window has forgotten the ids,
// the offset decides, as it must for a replay of old records.

// idFloors tells how far back the id window reaches. It keeps the table's
// offsets as each generation completed, for the generations the window may
// still need: every row the table landed from an offset at or above the
// offsets of the generation before the window's oldest has its id in the
// window (ids are stamped with the generation after whose commit they were
// learnt).
type idFloors struct {
	after []genOffsets // by seq, oldest first
}

type genOffsets struct {
	seq  uint32
	offs Offsets
}

// newIDFloors starts with the ids a writer loads on start (stamped
// firstGenSeq): they reach back to start, and the table was at loaded.
func newIDFloors(start, loaded Offsets) idFloors {
	return idFloors{after: []genOffsets{{firstGenSeq - 1, start}, {firstGenSeq, loaded}}}
}

// completed records the table's offsets once generation seq completed.
func (f *idFloors) completed(seq uint32, offs Offsets) {
	f.after = append(f.after, genOffsets{seq, offs})
}

// floor returns the offsets from which the window, whose oldest generation
// is oldest, holds the id of every landed row, and forgets the offsets only
// older windows needed.
func (f *idFloors) floor(oldest uint32) Offsets {
	for len(f.after) > 1 && f.after[0].seq+1 < oldest {
		f.after = f.after[1:]
	}
	return f.after[0].offs
}

// distrust raises every recorded floor to offs at least: the ids of some
// rows below offs are missing from the window (they could not be read).
func (f *idFloors) distrust(offs Offsets) {
	for i := range f.after {
		f.after[i].offs = f.after[i].offs.Merge(offs)
	}
}

// start is where ids start to decide below a partition's committed offset
// skip, for the lake's late floors f (lakeOutput.lateFrom): skip itself
// when f is nil (no id window), so that nothing below skip is late.
func (f Offsets) start(topic string, partition int32, skip int64) int64 {
	if f == nil {
		return skip
	}
	from, _ := f.Next(topic, partition)
	return from
}

// keepClaims carries an open generation's claims (its floor, see gen)
// over a commit of the same writer: the commit, made on base, moved the
// table to after. The open generation's ids are claimed in the writer's id
// set, so no commit of the writer lands them; only another writer's can,
// and so only an offset that another writer moved past a claim fences it.
// Without this, a late row's claim (the committed offset its id was checked
// at) would be fenced by the writer's own next commit.
func (floor Offsets) keepClaims(base, after Offsets) {
	for topic, parts := range floor {
		for p, claim := range parts {
			if b, ok := base.Next(topic, p); ok && b > claim {
				continue // another writer had passed it: fenced
			}
			if a, ok := after.Next(topic, p); ok && a > claim {
				parts[p] = a
			}
		}
	}
}
