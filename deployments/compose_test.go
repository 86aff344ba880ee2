// Package deployments holds the files that run trstream elsewhere: Prometheus
// and Grafana provisioning for docker-compose.yml. Its test keeps the compose
// file valid without a Docker engine.
package deployments

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
	"github.com/stretchr/testify/require"
)

// loadCompose loads docker-compose.yml with the Compose specification's own
// loader and its schema validation and consistency checks: what
// `docker compose config -q` runs, without an engine.
func loadCompose(t *testing.T) *types.Project {
	t.Helper()
	opts, err := cli.NewProjectOptions([]string{"../docker-compose.yml"},
		cli.WithWorkingDirectory(".."), cli.WithName("trstream"), cli.WithConsistency(true))
	require.NoError(t, err)
	p, err := opts.LoadProject(t.Context())
	require.NoError(t, err)
	return p
}

func TestComposeIsValid(t *testing.T) {
	p := loadCompose(t)
	for _, name := range []string{"redpanda", "console", "minio", "minio-init", "topics", "ingest", "lake", "compact", "query", "prometheus", "grafana"} {
		_, err := p.GetService(name)
		require.NoError(t, err, "service %s", name)
	}
}

func TestComposeTrstreamServices(t *testing.T) {
	p := loadCompose(t)
	for _, name := range []string{"ingest", "lake", "compact", "query"} {
		s, err := p.GetService(name)
		require.NoError(t, err)
		require.NotNil(t, s.Build, "%s is built from the Dockerfile", name)
		require.FileExists(t, filepath.Join("..", s.Build.Dockerfile))
		require.NotNil(t, s.HealthCheck, "%s has a health check", name)
		require.Contains(t, strings.Join(s.HealthCheck.Test, " "), "/ready", "%s checks /ready", name)
		if len(s.Command) == 2 && s.Command[0] == "-c" {
			require.FileExists(t, filepath.Join("..", s.Command[1]), "%s runs a pipeline that exists", name)
		}
	}
	// Producers and consumers scale with --scale: no fixed name, no host port.
	for _, name := range []string{"ingest", "lake"} {
		s, _ := p.GetService(name)
		require.Empty(t, s.ContainerName, name)
		require.Empty(t, s.Ports, name)
	}
	rp, _ := p.GetService("redpanda")
	require.NotNil(t, rp.HealthCheck)
}

func TestComposeMountsExist(t *testing.T) {
	p := loadCompose(t)
	for _, s := range p.Services {
		for _, v := range s.Volumes {
			if v.Type == types.VolumeTypeBind {
				_, err := os.Stat(v.Source)
				require.NoError(t, err, "service %s mounts %s", s.Name, v.Source)
			}
		}
	}
}
