package redpanda

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
)

// Environment of the consumer child of TestKillNineConsumer.
const (
	chaosChildEnv  = "REDPANDA_CHAOS_CHILD"
	chaosBrokerEnv = "REDPANDA_CHAOS_BROKER"
	chaosFileEnv   = "REDPANDA_CHAOS_FILE"
)

const (
	chaosTopic = "chaos"
	chaosGroup = "chaos-group"
)

// TestHelperConsumerChild is not a test: TestKillNineConsumer re-executes the
// test binary to run it as a child process it can SIGKILL. It consumes the
// chaos topic in a consumer group, fails about 5% of messages at random
// (bloblang throw; the batch is nacked and replayed) and appends
// "partition offset" for every delivered message to a file, fsynced before
// the batch is acked. It runs until killed.
func TestHelperConsumerChild(t *testing.T) {
	if os.Getenv(chaosChildEnv) != "1" {
		t.Skip("helper process for TestKillNineConsumer")
	}
	f, err := os.OpenFile(os.Getenv(chaosFileEnv), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	require.NoError(t, err)

	var mu sync.Mutex
	consume := func(_ context.Context, b service.MessageBatch) error {
		mu.Lock()
		defer mu.Unlock()
		time.Sleep(10 * time.Millisecond) // slow enough to be killed midway
		var buf bytes.Buffer
		var berr *service.BatchError
		for i, m := range b {
			if err := m.GetError(); err != nil {
				if berr == nil {
					berr = service.NewBatchError(b, errors.New("rejecting failed messages"))
				}
				berr.Failed(i, err)
				continue
			}
			p, _ := m.MetaGetMut("kafka_partition")
			o, _ := m.MetaGetMut("kafka_offset")
			fmt.Fprintf(&buf, "%d %d\n", p, o)
		}
		if _, err := f.Write(buf.Bytes()); err != nil {
			return err
		}
		if err := f.Sync(); err != nil {
			return err
		}
		if berr != nil {
			return berr
		}
		return nil
	}

	sb := service.NewStreamBuilder()
	require.NoError(t, sb.SetLoggerYAML("level: warn"))
	require.NoError(t, sb.AddInputYAML(fmt.Sprintf(`
redpanda:
  seed_brokers: [ %s ]
  topics: [ %s ]
  consumer_group: %s
  commit_period: 50ms
  fetch_max_wait: 100ms
  fetch_max_partition_bytes: 1KiB
  max_yield_batch_bytes: 100B
  heartbeat_interval: 100ms
  session_timeout: 1s
  rebalance_timeout: 2s
`, os.Getenv(chaosBrokerEnv), chaosTopic, chaosGroup)))
	// catch: [] clears the error a previous attempt left on a replayed
	// message, so every attempt is a fresh 5% coin toss.
	require.NoError(t, sb.AddProcessorYAML("catch: []"))
	require.NoError(t, sb.AddProcessorYAML(`mutation: |
  if random_int(max: 99) < 5 { root = throw("random failure") }
`))
	require.NoError(t, sb.AddBatchConsumerFunc(consume))
	s, err := sb.Build()
	require.NoError(t, err)
	require.NoError(t, s.Run(context.Background()))
}

// readDelivered parses the children's delivery files into partition ->
// offsets. A line without its newline (killed mid-write) is not counted.
func readDelivered(t *testing.T, files []string) map[int32]map[int64]bool {
	t.Helper()
	out := map[int32]map[int64]bool{}
	for _, name := range files {
		b, err := os.ReadFile(name)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		require.NoError(t, err)
		if i := bytes.LastIndexByte(b, '\n'); i >= 0 {
			b = b[:i+1]
		} else {
			b = nil
		}
		sc := bufio.NewScanner(bytes.NewReader(b))
		for sc.Scan() {
			var p int32
			var o int64
			_, err := fmt.Sscanf(sc.Text(), "%d %d", &p, &o)
			require.NoError(t, err, "line %q of %s", sc.Text(), name)
			if out[p] == nil {
				out[p] = map[int64]bool{}
			}
			out[p][o] = true
		}
	}
	return out
}

// TestKillNineConsumer SIGKILLs a consuming pipeline (a child process) at
// random moments and restarts it, while more records keep arriving. After
// every kill the group's committed offsets never pass a record the child had
// not durably recorded as delivered, and in the end every record was
// delivered at least once. TRSTREAM_CHAOS_ITERATIONS sets the kill count.
func TestKillNineConsumer(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns child processes")
	}
	iterations := 10
	if s := os.Getenv("TRSTREAM_CHAOS_ITERATIONS"); s != "" {
		n, err := strconv.Atoi(s)
		require.NoError(t, err, "TRSTREAM_CHAOS_ITERATIONS")
		iterations = n
	}
	const perIteration, partitions = 200, 3

	tc := newTestCluster(t)
	tc.createTopic(t, chaosTopic, partitions)
	dir := t.TempDir()
	var files []string

	start := func(i int) (*exec.Cmd, string) {
		file := filepath.Join(dir, fmt.Sprintf("delivered-%03d.txt", i))
		files = append(files, file)
		logf, err := os.Create(filepath.Join(dir, fmt.Sprintf("child-%03d.log", i)))
		require.NoError(t, err)
		t.Cleanup(func() { logf.Close() })
		cmd := exec.Command(os.Args[0], "-test.run=^TestHelperConsumerChild$", "-test.count=1")
		cmd.Env = append(os.Environ(),
			chaosChildEnv+"=1",
			chaosBrokerEnv+"="+tc.addr,
			chaosFileEnv+"="+file,
		)
		cmd.Stdout, cmd.Stderr = logf, logf
		require.NoError(t, cmd.Start())
		return cmd, file
	}
	kill := func(cmd *exec.Cmd) {
		_ = cmd.Process.Signal(syscall.SIGKILL)
		_ = cmd.Wait()
	}
	checkCommits := func(when string) (committedSum int64) {
		t.Helper()
		committed, err := tc.fetchCommitted(chaosGroup, chaosTopic)
		if errors.Is(err, kerr.GroupIDNotFound) {
			return 0 // killed before the group was ever created
		}
		require.NoError(t, err)
		for _, c := range committed {
			committedSum += c
		}
		delivered := readDelivered(t, files)
		for p, c := range committed {
			for o := int64(0); o < c; o++ {
				require.True(t, delivered[p][o], "%s: partition %d committed at %d but offset %d was never delivered", when, p, c, o)
			}
		}
		return committedSum
	}
	fileLines := func(name string) int {
		b, _ := os.ReadFile(name)
		return bytes.Count(b, []byte{'\n'})
	}

	kills, midway := 0, 0
	for i := range iterations {
		tc.produce(t, chaosTopic, perIteration, 13)
		cmd, file := start(i)
		t.Cleanup(func() { kill(cmd) })
		// Kill at a random moment, mostly while it delivers: wait for the
		// first delivered line (or give up waiting), then a random delay.
		deadline := time.Now().Add(20 * time.Second)
		if i%4 != 0 { // every 4th kill may land during start-up or join
			for fileLines(file) == 0 && time.Now().Before(deadline) {
				time.Sleep(5 * time.Millisecond)
			}
		}
		time.Sleep(time.Duration(rand.IntN(400)) * time.Millisecond)
		kill(cmd)
		kills++
		if c := checkCommits(fmt.Sprintf("after kill %d", kills)); c > 0 && c < int64((i+1)*perIteration) {
			midway++ // killed with committed progress and work left
		}
	}

	// A last child runs to the end: everything is delivered and committed.
	cmd, _ := start(iterations)
	t.Cleanup(func() { kill(cmd) })
	adm := kadm.NewClient(tc.client(t))
	ends, err := adm.ListEndOffsets(context.Background(), chaosTopic)
	require.NoError(t, err)
	end := map[int32]int64{}
	var total int64
	ends.Each(func(o kadm.ListedOffset) { end[o.Partition] = o.Offset; total += o.Offset })
	require.Equal(t, int64(iterations*perIteration), total)

	waitFor(t, 90*time.Second, func() bool {
		committed, err := tc.fetchCommitted(chaosGroup, chaosTopic)
		if err != nil {
			return false
		}
		for p, e := range end {
			if committed[p] != e {
				return false
			}
		}
		return true
	}, "the last child commits every partition to its end")
	kill(cmd)
	checkCommits("at the end")

	delivered := readDelivered(t, files)
	lines := 0
	for _, f := range files {
		lines += fileLines(f)
	}
	for p, e := range end {
		for o := int64(0); o < e; o++ {
			require.True(t, delivered[p][o], "partition %d offset %d was never delivered", p, o)
		}
	}
	require.Positive(t, midway, "no kill landed between commits and the end of the work")
	t.Logf("%d kills (%d with committed progress and records left), %d records, %d deliveries (%d duplicates)", kills, midway, total, lines, int64(lines)-total)
}
