package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/redpanda-data/benthos/v4/public/service"
	"github.com/stretchr/testify/require"
)

// TestPipelinesLint lints every pipeline with trstream's full environment,
// as `trstream lint pipelines/*.yaml` does.
func TestPipelinesLint(t *testing.T) {
	files, err := filepath.Glob("../../pipelines/*.yaml")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	linter := service.GlobalEnvironment().FullConfigSchema("", "").NewStreamConfigLinter()
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			b, err := os.ReadFile(f)
			require.NoError(t, err)
			lints, err := linter.LintYAML(b)
			require.NoError(t, err)
			require.Empty(t, lints)
		})
	}
}

// TestPipelinesServeMetrics checks the brief's rule that every pipeline
// serves Prometheus metrics on the built-in HTTP server.
func TestPipelinesServeMetrics(t *testing.T) {
	files, _ := filepath.Glob("../../pipelines/*.yaml")
	for _, f := range files {
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		require.Contains(t, string(b), "prometheus: {}", f)
		require.Contains(t, string(b), "address: ${TRSTREAM_HTTP_ADDRESS:0.0.0.0:4195}", f)
	}
}
