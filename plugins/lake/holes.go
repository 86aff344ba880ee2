package lake

import "slices"

// holes are the Kafka offsets of rows this writer held in fenced
// generations that no commit has landed yet, per topic and partition,
// sorted. Benthos replays a nacked batch, but a consumer that lost the
// partition in a rebalance drops the replay, while the later records it
// had already fetched still arrive: committing those moves the partition's
// offset past rows nobody landed, and the new owner, fenced there, skips
// them. So a generation may not commit a partition's offset past a hole
// it does not hold itself; only offsets this writer saw are holes, so a
// gap left by records routed elsewhere (a dead-letter topic) blocks
// nothing.
type holes map[string]map[int32][]int64

// add records the offsets of g's records that the table, at offsets cur,
// has not passed.
func (h holes) add(g *gen, cur Offsets) {
	for _, d := range g.ds {
		for i := range d.items {
			it := &d.items[i]
			if !it.kafka {
				continue
			}
			if next, ok := cur.Next(it.topic, it.partition); ok && it.offset < next {
				continue
			}
			m := h[it.topic]
			if m == nil {
				m = map[int32][]int64{}
				h[it.topic] = m
			}
			m[it.partition] = append(m[it.partition], it.offset)
		}
	}
	for _, m := range h {
		for p, offs := range m {
			slices.Sort(offs)
			m[p] = slices.Compact(offs)
		}
	}
}

// prune forgets the holes the table, at offsets cur, has passed.
func (h holes) prune(cur Offsets) {
	for topic, m := range h {
		for p, offs := range m {
			if next, ok := cur.Next(topic, p); ok {
				i, _ := slices.BinarySearch(offs, next)
				offs = offs[i:]
			}
			if len(offs) == 0 {
				delete(m, p)
			} else {
				m[p] = offs
			}
		}
		if len(m) == 0 {
			delete(h, topic)
		}
	}
}

// barrier returns, per partition g commits, the highest hole below g's
// next offset that g does not hold: g may commit only on a table whose
// offset has passed it (see Table.appendFenced). Nil when there is none,
// the usual case.
func (h holes) barrier(g *gen) Offsets {
	var out Offsets
	for topic, m := range h {
		for p, offs := range m {
			next, ok := g.offsets.Next(topic, p)
			if !ok || offs[0] >= next {
				continue
			}
			held := map[int64]bool{}
			for _, d := range g.ds {
				for i := range d.items {
					if it := &d.items[i]; it.kafka && it.partition == p && it.topic == topic {
						held[it.offset] = true
					}
				}
			}
			for i := len(offs) - 1; i >= 0; i-- {
				if x := offs[i]; x < next && !held[x] {
					if out == nil {
						out = Offsets{}
					}
					out.Set(topic, p, x)
					break
				}
			}
		}
	}
	return out
}
