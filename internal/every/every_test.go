package every

import (
	"testing"
	"time"
)

// TestRunUntilStopped: fn is called again and again, and Run returns once
// stop is closed (here by the third call), without calling fn after.
func TestRunUntilStopped(t *testing.T) {
	stop := make(chan struct{})
	calls := 0
	done := make(chan struct{})
	go func() {
		defer close(done)
		Run(time.Millisecond, stop, func() {
			calls++
			if calls == 3 {
				close(stop)
			}
		})
	}()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return after stop was closed")
	}
	if calls != 3 {
		t.Fatalf("fn called %d times, want 3", calls)
	}
}
