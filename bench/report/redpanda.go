package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/trstream/trstream/internal/cputime"
)

// benchInput makes (once) the generator's NDJSON with n events.
func (e *env) benchInput(ctx context.Context, n int) (string, error) {
	file := filepath.Join(e.tmp, fmt.Sprintf("events-%d.ndjson", n))
	if _, err := os.Stat(file); err == nil {
		return file, nil
	}
	_, err := e.run(ctx, []string{"BENCH_COUNT=" + strconv.Itoa(n), "BENCH_FILE=" + file}, e.bin, "-c", "bench/configs/gen_to_file.yaml")
	return file, err
}

// kafkaRecords makes (once), from the generator's NDJSON, the file of
// about 300-byte records the redpanda rows move, as the connectors issue
// asks: the same events without card_fingerprint and merchant_category,
// 321 bytes a line on average (the whole events are 385). The records are
// not parsed on the way; only their count and size matter.
func (e *env) kafkaRecords(ctx context.Context, n int) (string, error) {
	events, err := e.benchInput(ctx, n)
	if err != nil {
		return "", err
	}
	file := filepath.Join(e.tmp, fmt.Sprintf("records-%d.ndjson", n))
	if _, err := os.Stat(file); err == nil {
		return file, nil
	}
	in, err := os.Open(events)
	if err != nil {
		return "", err
	}
	defer in.Close()
	tmp := file + ".tmp"
	out, err := os.Create(tmp)
	if err != nil {
		return "", err
	}
	defer out.Close()
	w := bufio.NewWriterSize(out, 1<<20)
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 1<<16), 1<<20)
	for sc.Scan() {
		line := dropFields.ReplaceAll(sc.Bytes(), nil)
		w.Write(line)
		w.WriteByte('\n')
	}
	if err := sc.Err(); err != nil {
		return "", err
	}
	if err := w.Flush(); err != nil {
		return "", err
	}
	if err := out.Close(); err != nil {
		return "", err
	}
	return file, os.Rename(tmp, file)
}

// dropFields matches the two fields kafkaRecords leaves out.
var dropFields = regexp.MustCompile(`,"(card_fingerprint|merchant_category)":"[^"]*"`)

// clientRun is one client's run: the child's result, the broker's CPU
// time spent meanwhile, and how long the client took from exec to its first
// Produce or Fetch request, as the broker saw it.
type clientRun struct {
	result
	broker  time.Duration
	startup time.Duration
}

// streaming is the run's time from the first data request to the exit: the
// client's throughput without its process start-up.
func (r clientRun) streaming() time.Duration { return r.elapsed - r.startup }

// best keeps, over rounds, the fastest run and the least CPU of each: on a
// shared machine noise only ever adds time.
func best(runs []clientRun) clientRun {
	b := runs[0]
	for _, r := range runs[1:] {
		if r.streaming() < b.streaming() {
			b.elapsed, b.startup = r.elapsed, r.startup
		}
		b.cpu = min(b.cpu, r.cpu)
		b.broker = min(b.broker, r.broker)
	}
	return b
}

// firstRequest notes, on the broker, when a client sent its first Produce
// or Fetch request. A trstream binary starts in about 0.15-0.2 s (most of it
// iceberg-go's substrait package parsing its YAML function catalogue at
// init) and kcat in a few milliseconds: on a one-second run that start-up
// is a tenth of the wall time and says nothing of the client's throughput,
// so the table gives both.
type firstRequest struct {
	mu sync.Mutex
	at time.Time
}

// watch registers the broker hooks; the requests are then served as usual.
func (f *firstRequest) watch(c *kfake.Cluster) {
	see := func(kmsg.Request) (kmsg.Response, error, bool) {
		f.mu.Lock()
		if f.at.IsZero() {
			f.at = time.Now()
		}
		f.mu.Unlock()
		return nil, nil, false // not handled: the broker serves it
	}
	c.ControlKey(kmsg.Produce.Int16(), see)
	c.ControlKey(kmsg.Fetch.Int16(), see)
}

// since returns how long after began the first request came, and resets.
func (f *firstRequest) since(began time.Time) (time.Duration, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	at := f.at
	f.at = time.Time{}
	if at.IsZero() {
		return 0, fmt.Errorf("the broker saw no Produce or Fetch request")
	}
	return at.Sub(began), nil
}

// redpandaRounds is how many times each client runs (env
// BENCH_REDPANDA_ROUNDS, default 5); the table shows the best of them. On
// this shared machine one client run in three could take 30-40% longer
// than the others (a full run gave trstream's produce 0.79x kcat where the
// same code's step run a minute later gave 1.06x); five rounds, each
// alternating the clients on a fresh broker, leave both sides a quiet run.
func redpandaRounds() int {
	if n, err := strconv.Atoi(os.Getenv("BENCH_REDPANDA_ROUNDS")); err == nil && n > 0 {
		return n
	}
	return 5
}

// benchRedpanda: produce a file of lines and consume it back, trstream's
// redpanda components against kcat (librdkafka), on the same kfake broker.
// Each round starts a fresh one-broker cluster with two one-partition
// topics, and runs the four clients one after the other: trstream and kcat
// produce the same file, then each consumes what it produced. Both clients
// use their defaults where the bench does not say otherwise: acks=all, no
// compression.
func benchRedpanda(ctx context.Context, e *env) ([]Row, error) {
	const n = 1_000_000
	file, err := e.kafkaRecords(ctx, n)
	if err != nil {
		return nil, err
	}
	st, err := os.Stat(file)
	if err != nil {
		return nil, err
	}
	mb := float64(st.Size()) / 1e6
	var ourP, kcatP, ourC, kcatC []clientRun
	for range redpandaRounds() {
		if err := redpandaRound(ctx, e, file, n, &ourP, &kcatP, &ourC, &kcatC); err != nil {
			return nil, err
		}
	}
	row := func(what, peer string, oursRuns, peerRuns []clientRun) Row {
		ours, kcat := best(oursRuns), best(peerRuns)
		a, b := rate(n, ours.streaming()), rate(n, kcat.streaming())
		figure := func(r clientRun, v float64) string {
			return fmt.Sprintf("%s, %.0f MB/s; with start-up (%d ms) %s; %.2f µs CPU/rec (+%.2f broker)",
				fmtRate(v, "rec/s"), mb/r.streaming().Seconds(), r.startup.Milliseconds(),
				fmtRate(rate(n, r.elapsed), "rec/s"), r.cpu.Seconds()*1e6/n, r.broker.Seconds()*1e6/n)
		}
		return Row{
			Benchmark:  what,
			Figure:     figure(ours, a),
			Peer:       peer,
			PeerFigure: figure(kcat, b),
			Ratio: fmt.Sprintf("%s (with start-up %s; CPU %s)", fmtRatio(a, b),
				fmtRatio(rate(n, ours.elapsed), rate(n, kcat.elapsed)), fmtRatio(kcat.cpu.Seconds(), ours.cpu.Seconds())),
			Target:  "≥1× kcat",
			Verdict: verdict(a >= b),
		}
	}
	rounds := fmt.Sprintf(", best of %d", len(ourP))
	return []Row{
		row(fmt.Sprintf("produce %dk records (~%d B) from a file%s", n/1000, int(st.Size())/n, rounds), "kcat -P", ourP, kcatP),
		row(fmt.Sprintf("consume %dk records → drop%s", n/1000, rounds), "kcat -C -e", ourC, kcatC),
	}, nil
}

// redpandaRound runs the four clients once on a fresh cluster.
func redpandaRound(ctx context.Context, e *env, file string, n int, ourP, kcatP, ourC, kcatC *[]clientRun) error {
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "ours", "kcat"))
	if err != nil {
		return err
	}
	defer cluster.Close()
	var first firstRequest
	first.watch(cluster)
	brokers := cluster.ListenAddrs()[0]
	benv := []string{"BENCH_BROKERS=" + brokers, "BENCH_TOPIC=ours", "BENCH_FILE=" + file, "BENCH_COUNT=" + strconv.Itoa(n)}
	run := func(to *[]clientRun, extraEnv []string, name string, args ...string) error {
		// The kfake broker runs in this process: its CPU time while a
		// client runs is the broker's cost.
		before, began := cputime.Process(), time.Now()
		r, err := e.run(ctx, extraEnv, name, args...)
		if err != nil {
			return err
		}
		startup, err := first.since(began)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		*to = append(*to, clientRun{result: r, broker: cputime.Process() - before, startup: startup})
		return nil
	}
	if err := run(ourP, benv, e.bin, "-c", "bench/configs/redpanda_produce.yaml"); err != nil {
		return err
	}
	if err := run(kcatP, nil, "kcat", "-P", "-b", brokers, "-t", "kcat", "-l", file); err != nil {
		return err
	}
	if err := run(ourC, benv, e.bin, "-c", "bench/configs/redpanda_consume.yaml"); err != nil {
		return err
	}
	return run(kcatC, nil, "sh", "-c", fmt.Sprintf("kcat -C -b %s -t kcat -o beginning -e -q > /dev/null", brokers))
}
