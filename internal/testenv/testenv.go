// Package testenv decides what a test does when an outside tool it needs
// (kcat, chromium, node modules) is missing: skip on a developer's machine,
// fail in CI, where .ci/run sets TRSTREAM_REQUIRE_TOOLS=1 after installing
// them, so that a missing install step cannot hide behind a skip.
package testenv

import (
	"os"
	"testing"
)

// Missing skips the test, or fails it when TRSTREAM_REQUIRE_TOOLS is set.
func Missing(t testing.TB, format string, args ...any) {
	t.Helper()
	if os.Getenv("TRSTREAM_REQUIRE_TOOLS") != "" {
		t.Fatalf("required tool missing (TRSTREAM_REQUIRE_TOOLS is set): "+format, args...)
	}
	t.Skipf(format, args...)
}
