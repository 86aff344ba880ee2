package gcpolicy

import (
	"errors"
	"math"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"github.com/KimMachineGun/automemlimit/memlimit"
)

func TestPercent(t *testing.T) {
	for _, c := range []struct {
		live uint64
		want int
	}{
		{16 << 20, 300},         // goal 16 MiB × 4 = 64 MiB
		{24 << 20, 166},         // goal 24 MiB × 2.66 = 64 MiB
		{32 << 20, basePercent}, // 32 MiB × 2.5 is past the floor
		{200 << 20, basePercent},
		{1 << 10, maxPercent},
		{0, maxPercent},
	} {
		if got := Percent(c.live); got != c.want {
			t.Errorf("Percent(%d) = %d, want %d", c.live, got, c.want)
		}
	}
}

func gcPercent() int {
	p := debug.SetGCPercent(-1)
	debug.SetGCPercent(p)
	return p
}

// keep holds the large child's live heap.
var keep [][]byte

// TestPolicy runs itself in children, each with the package set up at its
// start under an environment: without GOGC, with a tiny and with a large
// live heap; with GOGC=100; with GOMEMLIMIT; and with the cgroup's limit.
func TestPolicy(t *testing.T) {
	settle := func() {
		for range 5 {
			runtime.GC()
			time.Sleep(10 * time.Millisecond)
		}
	}
	switch os.Getenv("GCPOLICY_CHILD") {
	case "gogc":
		if Active || gcPercent() != 100 {
			t.Fatalf("GOGC=100 set, yet active %v, GOGC %d", Active, gcPercent())
		}
		return
	case "floor":
		if !Active {
			t.Fatal("not active without GOGC")
		}
		// The live heap is tiny: after collections GOGC is still high.
		settle()
		if p := gcPercent(); p <= basePercent {
			t.Fatalf("GOGC %d with a tiny heap", p)
		}
		return
	case "large":
		// 128 MiB live, twice the floor: GOGC settles at basePercent.
		for range 128 {
			keep = append(keep, make([]byte, 1<<20))
		}
		settle()
		if p := gcPercent(); p != basePercent {
			t.Fatalf("GOGC %d with 128 MiB live, want %d", p, basePercent)
		}
		return
	case "memlimit":
		// GOMEMLIMIT in the environment wins over the cgroup's limit.
		if memoryLimit != 300<<20 || debug.SetMemoryLimit(-1) != 300<<20 {
			t.Fatalf("memoryLimit %d, runtime's %d, want 300 MiB", memoryLimit, debug.SetMemoryLimit(-1))
		}
		return
	case "cgroup":
		// Without GOMEMLIMIT: 90% of the cgroup's limit, or none.
		want := int64(math.MaxInt64)
		limit, err := memlimit.FromCgroup()
		switch {
		case err == nil:
			want = int64(float64(limit) * memoryLimitRatio)
		case !errors.Is(err, memlimit.ErrNoLimit):
			t.Skipf("cgroup not readable here: %v", err)
		}
		if memoryLimitErr != nil || memoryLimit != want || debug.SetMemoryLimit(-1) != want {
			t.Fatalf("memoryLimit %d (%v), runtime's %d, want %d (cgroup: %d, %v)", memoryLimit, memoryLimitErr, debug.SetMemoryLimit(-1), want, limit, err)
		}
		return
	}
	children := map[string][]string{
		"floor":    nil,
		"large":    nil,
		"gogc":     {"GOGC=100"},
		"memlimit": {"GOMEMLIMIT=300MiB"},
		"cgroup":   nil,
	}
	for child, env := range children {
		t.Run(child, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run", "^TestPolicy$")
			for _, e := range os.Environ() {
				if !strings.HasPrefix(e, "GOGC=") && !strings.HasPrefix(e, "GOMEMLIMIT=") && !strings.HasPrefix(e, "AUTOMEMLIMIT=") {
					cmd.Env = append(cmd.Env, e)
				}
			}
			cmd.Env = append(append(cmd.Env, "GCPOLICY_CHILD="+child), env...)
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
		})
	}
}
