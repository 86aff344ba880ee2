package redpanda

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/trstream/trstream/internal/testenv"
)

// kcatPath finds kcat (Debian's kcat package) or skips, failing in CI.
func kcatPath(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("kcat")
	if err != nil {
		testenv.Missing(t, "kcat not installed (apt-get install kcat): %v", err)
	}
	return p
}

// kcatRecord is one line of `kcat -C -J`.
type kcatRecord struct {
	Partition int32    `json:"partition"`
	Offset    int64    `json:"offset"`
	Headers   []string `json:"headers"` // flat: name, value, name, value...
	Key       *string  `json:"key"`
	Payload   *string  `json:"payload"`
}

// TestKcatCrossCheck: librdkafka (kcat) writes keyed records with headers,
// they go through our redpanda input -> redpanda output into a second topic,
// and kcat reads back exactly the same records: same count, keys, headers and
// values, each key's records in the order they were produced.
func TestKcatCrossCheck(t *testing.T) {
	kcat := kcatPath(t)
	const n, keys = 3000, 23
	tc := newTestCluster(t)
	tc.createTopic(t, "kcat-in", 4)
	tc.createTopic(t, "kcat-out", 3)

	// kcat -P -l: one record per line, "key:value" split at the first ':'.
	var lines bytes.Buffer
	for i := range n {
		fmt.Fprintf(&lines, "key-%d:value-%d\n", i%keys, i)
	}
	file := filepath.Join(t.TempDir(), "in.txt")
	require.NoError(t, os.WriteFile(file, lines.Bytes(), 0o644))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, kcat, "-P", "-b", tc.addr, "-t", "kcat-in",
		"-K:", "-H", "origin=kcat", "-H", "trace=abc=def", "-l", file).CombinedOutput()
	require.NoError(t, err, "kcat -P: %s", out)

	startStream(t, fmt.Sprintf(`
redpanda:
  seed_brokers: [ %s ]
  topics: [ kcat-in ]
  consumer_group: kcat-cross
  fetch_max_wait: 100ms
  fetch_max_partition_bytes: 16KiB
`, tc.addr), nil, fmt.Sprintf(`
redpanda:
  seed_brokers: [ %s ]
  topic: kcat-out
  key: ${! meta("kafka_key") }
  max_in_flight: 1
  metadata:
    include_patterns: [ "^origin$", "^trace$" ]
  batching:
    count: 200
    period: 10ms
`, tc.addr), nil)

	// Wait until n records landed, then let kcat read to the end.
	adm := kadm.NewClient(tc.client(t))
	waitFor(t, 60*time.Second, func() bool {
		ends, err := adm.ListEndOffsets(ctx, "kcat-out")
		if err != nil {
			return false
		}
		var total int64
		ends.Each(func(o kadm.ListedOffset) { total += o.Offset })
		return total >= n
	}, "records written to kcat-out")

	cmd := exec.CommandContext(ctx, kcat, "-C", "-b", tc.addr, "-t", "kcat-out", "-o", "beginning", "-e", "-q", "-J")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.Output()
	require.NoError(t, err, "kcat -C: %s", stderr.String())

	seen := map[int]bool{}
	lastSeq := map[string]int{}
	keyPart := map[string]int32{}
	count := 0
	sc := bufio.NewScanner(bytes.NewReader(stdout))
	for sc.Scan() {
		var r kcatRecord
		require.NoError(t, json.Unmarshal(sc.Bytes(), &r), "kcat line %q", sc.Text())
		count++
		require.NotNil(t, r.Key, "record without key at %d/%d", r.Partition, r.Offset)
		require.NotNil(t, r.Payload)
		key, value := *r.Key, *r.Payload

		seq, err := strconv.Atoi(strings.TrimPrefix(value, "value-"))
		require.NoError(t, err, "payload %q", value)
		require.False(t, seen[seq], "duplicate record %q", value)
		seen[seq] = true
		require.Equal(t, fmt.Sprintf("key-%d", seq%keys), key, "key of %q", value)
		// Headers pass through Benthos metadata, a map: names and values
		// are kept, their order is not.
		require.Len(t, r.Headers, 4, "headers of %q", value)
		hdr := map[string]string{r.Headers[0]: r.Headers[1], r.Headers[2]: r.Headers[3]}
		require.Equal(t, map[string]string{"origin": "kcat", "trace": "abc=def"}, hdr, "headers of %q", value)

		// A key lives in one partition, and kcat prints each partition in
		// offset order, so a key's sequence must increase.
		if p, ok := keyPart[key]; ok {
			require.Equal(t, p, r.Partition, "key %s spread over partitions", key)
		}
		keyPart[key] = r.Partition
		if prev, ok := lastSeq[key]; ok {
			require.Greater(t, seq, prev, "key %s out of order", key)
		}
		lastSeq[key] = seq
	}
	require.NoError(t, sc.Err())
	require.Equal(t, n, count, "kcat read back a different number of records")
	require.Len(t, seen, n)
	require.Len(t, lastSeq, keys)
}
