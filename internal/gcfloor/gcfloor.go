// Package gcfloor keeps the garbage collector's heap goal from falling below
// a floor, from the start of the process: import it for that side effect,
// as cmd/trstream does. GOGC in the environment turns it off.
//
// Go starts a collection when the heap has grown by GOGC percent (100) over
// what the last one left live, and at 4 MiB at the least. A streaming
// pipeline keeps little live, ten or twenty MiB, while it allocates hundreds
// of MiB a second, so with the default it collects every few milliseconds:
// about a third of the CPU of a Kafka → drop pipeline went to the collector,
// and eight collections to start-up. With the goal at a floor of 64 MiB
// they are several times rarer. A process whose live heap is half the floor
// or more is left alone, so the peak memory of large pipelines is unchanged;
// a small one may hold up to the floor.
//
// The runtime has no setting for a minimum heap goal, so GOGC is set to put
// the goal there: at start-up to Floor/4 MiB times 100 (the runtime scales
// its 4 MiB minimum by GOGC), and after each collection, from what it left
// live, to Percent(live).
package gcfloor

import (
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
)

// Floor is the smallest heap goal: 64 MiB.
const Floor = 64 << 20

// minHeap is the runtime's smallest heap goal at GOGC=100.
const minHeap = 4 << 20

// basePercent is the GOGC the floor never goes below, Go's default.
const basePercent = 100

// maxPercent bounds GOGC when the live heap is tiny.
const maxPercent = 10_000

// Active reports whether the floor is in force (GOGC was not set).
var Active bool

func init() {
	if _, set := os.LookupEnv("GOGC"); set {
		return
	}
	Active = true
	t := &tuner{current: Floor / minHeap * 100, sample: []metrics.Sample{{Name: "/gc/heap/live:bytes"}}}
	debug.SetGCPercent(t.current)
	t.arm()
}

type tuner struct {
	current int
	sample  []metrics.Sample
}

// sentinel is allocated for one collection to find unreachable.
type sentinel struct{ _ *int }

// arm runs adjust after the next collection.
func (t *tuner) arm() {
	runtime.AddCleanup(&sentinel{}, func(t *tuner) { t.adjust() }, t)
}

// adjust sets GOGC for the next cycle from the live heap of the last one.
func (t *tuner) adjust() {
	defer t.arm()
	metrics.Read(t.sample)
	if t.sample[0].Value.Kind() != metrics.KindUint64 {
		return
	}
	p := Percent(t.sample[0].Value.Uint64())
	// Collections come up to hundreds of times a second: only settle a
	// change of more than a few percent.
	if d := p - t.current; d*20 > t.current || -d*20 > t.current {
		debug.SetGCPercent(p)
		t.current = p
	}
}

// Percent is the GOGC that puts the next heap goal, live*(1+GOGC/100), at
// Floor, and at least Go's default of 100.
func Percent(live uint64) int {
	if live*(100+basePercent)/100 >= Floor {
		return basePercent
	}
	if live == 0 {
		return maxPercent
	}
	return min(max(int(Floor*100/live)-100, basePercent), maxPercent)
}
