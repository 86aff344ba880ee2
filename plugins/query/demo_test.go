package query

import (
	"os"
	"testing"
)

// TestWriteDemoLake writes the test lake to $TRSTREAM_DEMO_LAKE, for trying
// the CLI and the web editor by hand:
//
//	TRSTREAM_DEMO_LAKE=/tmp/lake go test -run TestWriteDemoLake ./plugins/query
func TestWriteDemoLake(t *testing.T) {
	dir := os.Getenv("TRSTREAM_DEMO_LAKE")
	if dir == "" {
		t.Skip("set TRSTREAM_DEMO_LAKE to a directory to write the demo lake")
	}
	buildLake(t, dir)
}
