package lake

// idWindow remembers the last n transaction ids: a ring buffer plus a set.
type idWindow struct {
	ring []string
	next int
	set  map[string]struct{}
}

func newIDWindow(n int) *idWindow {
	return &idWindow{ring: make([]string, 0, min(n, 1<<16)), set: make(map[string]struct{}), next: 0}
}

func (w *idWindow) has(id string) bool {
	_, ok := w.set[id]
	return ok
}

// add records id, forgetting the oldest once the window is full.
func (w *idWindow) add(id string, limit int) {
	if limit <= 0 {
		return
	}
	if _, ok := w.set[id]; ok {
		return
	}
	if len(w.ring) < limit {
		w.ring = append(w.ring, id)
	} else {
		delete(w.set, w.ring[w.next])
		w.ring[w.next] = id
		w.next = (w.next + 1) % limit
	}
	w.set[id] = struct{}{}
}
