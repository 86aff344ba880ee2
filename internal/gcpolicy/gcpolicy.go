// Package gcpolicy sets trstream's garbage-collector policy from the start
// of the process: import it for that side effect, as cmd/trstream does.
//
// Go starts a collection when the heap has grown by GOGC percent (100) over
// what the last one left live, and at 4 MiB at the least. Two kinds of
// pipeline pay for that default:
//
//   - A streaming pipeline keeps little live, ten or twenty MiB, while it
//     allocates hundreds of MiB a second, so it collects every few
//     milliseconds: about a third of the CPU of a Kafka → drop pipeline went
//     to the collector, and eight collections to start-up. The heap goal is
//     kept at a floor of 64 MiB, which makes them several times rarer.
//   - The lake holds hundreds of MiB of rows until the commit that acks
//     them, and its collector marks all of it every cycle: about a fifth of
//     the CPU end to end. Above the floor GOGC is 150, not 100: 7.5% less
//     CPU end to end (9.60 → 8.88 CPU-s per million events, five
//     interleaved rounds of TestE2ELakeThroughput) for a heap goal of 2.5
//     times the live heap instead of 2.
//
// GOGC in the environment turns both off. So that the larger goal cannot
// take a process over a container's memory limit where Go's default would
// have stayed under, GOMEMLIMIT is set to 90% of the cgroup's limit when
// there is one (automemlimit; GOMEMLIMIT or AUTOMEMLIMIT=off in the
// environment turn that off): near it the collector runs as often as it
// must, whatever GOGC says.
//
// The runtime has no setting for a minimum heap goal, so GOGC is set to put
// the goal there: at start-up to Floor/4 MiB times 100 (the runtime scales
// its 4 MiB minimum by GOGC), and after each collection, from what it left
// live, to Percent(live).
package gcpolicy

import (
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"

	"github.com/KimMachineGun/automemlimit/memlimit"
)

// Floor is the smallest heap goal: 64 MiB.
const Floor = 64 << 20

// minHeap is the runtime's smallest heap goal at GOGC=100.
const minHeap = 4 << 20

// basePercent is the GOGC the floor never goes below (Go's default is 100).
const basePercent = 150

// memoryLimitRatio is the share of a cgroup's memory limit that GOMEMLIMIT
// is set to: the rest is for what the Go heap does not count (stacks,
// DuckDB's and cgo's memory, the runtime's own).
const memoryLimitRatio = 0.9

// maxPercent bounds GOGC when the live heap is tiny.
const maxPercent = 10_000

// Active reports whether the floor is in force (GOGC was not set).
var Active bool

// memoryLimit is the Go heap's soft limit after start-up: 90% of the
// cgroup's memory limit, what GOMEMLIMIT says, or math.MaxInt64 (none). It
// is what automemlimit returned, kept beside the runtime's copy because
// without a cgroup limit the runtime shows the same value whether or not
// it was called (tests).
var memoryLimit int64

// memoryLimitErr is why the cgroup's limit could not be read, if it could
// not (the limit is then left as it was).
var memoryLimitErr error

func init() {
	memoryLimit, memoryLimitErr = memlimit.Set(memlimit.WithRatio(memoryLimitRatio))
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
// Floor, and at least basePercent.
func Percent(live uint64) int {
	if live*(100+basePercent)/100 >= Floor {
		return basePercent
	}
	if live == 0 {
		return maxPercent
	}
	return min(max(int(Floor*100/live)-100, basePercent), maxPercent)
}
