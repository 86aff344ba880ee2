package topics

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

func TestLoadProjectTopics(t *testing.T) {
	defs, err := Load("../../redpanda/topics.yaml")
	require.NoError(t, err)
	names := map[string]Topic{}
	for _, d := range defs {
		names[d.Name] = d
	}
	require.Contains(t, names, "transactions")
	require.Contains(t, names, "transactions.dlq")
	require.Equal(t, "604800000", names["transactions"].Configs["retention.ms"])
}

func TestLoadRejects(t *testing.T) {
	for _, c := range [][2]string{
		{"topics:\n  - partitions: 1\n    replication_factor: 1\n", "topics[0].name"},
		{"topics:\n  - name: a\n    partitions: 0\n    replication_factor: 1\n", "topics[0].partitions"},
		{"topics:\n  - name: a\n    partitions: 1\n", "topics[0].replication_factor"},
		{"topics:\n  - name: a\n    partitons: 1\n", "partitons"},
	} {
		p := filepath.Join(t.TempDir(), "t.yaml")
		require.NoError(t, os.WriteFile(p, []byte(c[0]), 0o644))
		_, err := Load(p)
		require.ErrorContains(t, err, c[1])
	}
}

func TestApplyIsIdempotentAndGrowsPartitions(t *testing.T) {
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1))
	require.NoError(t, err)
	defer cluster.Close()
	cl, err := kgo.NewClient(kgo.SeedBrokers(cluster.ListenAddrs()...))
	require.NoError(t, err)
	defer cl.Close()
	adm := kadm.NewClient(cl)
	ctx := t.Context()

	defs := []Topic{{Name: "a", Partitions: 2, ReplicationFactor: 3, Configs: map[string]string{"retention.ms": "1000"}}}
	res, err := Apply(ctx, adm, defs, 1)
	require.NoError(t, err)
	require.Equal(t, []Result{{"a", "created"}}, res)

	res, err = Apply(ctx, adm, defs, 1)
	require.NoError(t, err)
	require.Equal(t, []Result{{"a", "unchanged"}}, res)

	defs[0].Partitions = 4
	defs[0].Configs["retention.ms"] = "2000"
	res, err = Apply(ctx, adm, defs, 1)
	require.NoError(t, err)
	require.Equal(t, []Result{{"a", "updated"}}, res)

	details, err := adm.ListTopics(ctx, "a")
	require.NoError(t, err)
	require.Len(t, details["a"].Partitions, 4)
	cfgs, err := adm.DescribeTopicConfigs(ctx, "a")
	require.NoError(t, err)
	v, err := cfgs[0].Configs, cfgs[0].Err
	require.NoError(t, err)
	found := false
	for _, c := range v {
		if c.Key == "retention.ms" {
			found = true
			require.Equal(t, "2000", c.MaybeValue())
		}
	}
	require.True(t, found)
}
