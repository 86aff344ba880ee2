package gcfloor

import (
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
	"time"
)

func TestPercent(t *testing.T) {
	for _, c := range []struct {
		live uint64
		want int
	}{
		{16 << 20, 300},  // goal 16 MiB × 4 = 64 MiB
		{32 << 20, 100},  // already at the floor
		{200 << 20, 100}, // large heaps keep Go's default
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

// TestFloor runs itself in a child without GOGC (the test binary imports
// the package, so the floor is set up at its start) and with GOGC=100.
func TestFloor(t *testing.T) {
	switch os.Getenv("GCFLOOR_CHILD") {
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
		for range 5 {
			runtime.GC()
			time.Sleep(10 * time.Millisecond)
		}
		if p := gcPercent(); p <= 100 {
			t.Fatalf("GOGC %d", p)
		}
		return
	}
	for _, child := range []string{"floor", "gogc"} {
		cmd := exec.Command(os.Args[0], "-test.run", "^TestFloor$")
		for _, e := range os.Environ() {
			if !strings.HasPrefix(e, "GOGC=") {
				cmd.Env = append(cmd.Env, e)
			}
		}
		cmd.Env = append(cmd.Env, "GCFLOOR_CHILD="+child)
		if child == "gogc" {
			cmd.Env = append(cmd.Env, "GOGC=100")
		}
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", child, err, out)
		}
	}
}
