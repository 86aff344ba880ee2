package main

import (
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/redpanda-data/benthos/v4/public/service"
	"github.com/stretchr/testify/require"

	"github.com/trstream/trstream/internal/docsgen"
)

// TestDocsUpToDate fails when a component's spec changed without
// `go run ./cmd/trstream docs` being run: the committed reference docs must
// be what the specs generate.
func TestDocsUpToDate(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, docsgen.Write(dir, service.GlobalEnvironment()))
	n := 0
	require.NoError(t, filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		want, err := os.ReadFile(path)
		require.NoError(t, err)
		got, err := os.ReadFile(filepath.Join("../../docs/components", rel))
		require.NoError(t, err, "docs/components/%s is missing: run `go run ./cmd/trstream docs`", rel)
		require.Equal(t, string(want), string(got), "docs/components/%s is stale: run `go run ./cmd/trstream docs`", rel)
		n++
		return nil
	}))
	require.Equal(t, 8, n) // two redpanda pages, five more components, one scanner
}
