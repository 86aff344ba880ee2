package peakrss

import (
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"
)

// The child allocates and touches TRSTREAM_PEAKRSS_MB MiB, holds it for
// a moment, then exits. The hold is there because VmHWM is sampled: growth
// in the last Interval before exit is not seen, and on a loaded CI machine
// the sampler can be late by far more than Interval.
func TestMain(m *testing.M) {
	if v := os.Getenv("TRSTREAM_PEAKRSS_MB"); v != "" {
		mb, _ := strconv.Atoi(v)
		b := make([]byte, mb<<20)
		for i := range b {
			if i%4096 == 0 {
				b[i] = 1
			}
		}
		time.Sleep(500 * time.Millisecond)
		os.Exit(int(b[len(b)-4096]) - 1)
	}
	os.Exit(m.Run())
}

// A child's peak is its own, not the parent's: the parent holds 300 MiB
// when it starts a child that touches 64 MiB, and the 64 MiB child must be
// reported well below 300 MiB and above 64 MiB.
func TestRunMeasuresTheChild(t *testing.T) {
	ballast := make([]byte, 300<<20)
	for i := 0; i < len(ballast); i += 4096 {
		ballast[i] = 1
	}
	cmd := exec.Command(os.Args[0], "-test.run", "^$")
	cmd.Env = append(os.Environ(), "TRSTREAM_PEAKRSS_MB=64")
	peak, err := Run(cmd)
	if err != nil {
		t.Fatal(err)
	}
	if peak < 64<<20 || peak > 200<<20 {
		t.Fatalf("peak %d MiB, want between 64 and 200 MiB", peak>>20)
	}
	if ballast[4096] != 1 {
		t.Fatal("ballast lost")
	}
}

func TestVmHWMOfSelf(t *testing.T) {
	v, err := VmHWM(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if v <= 0 {
		t.Fatalf("VmHWM %d", v)
	}
}
