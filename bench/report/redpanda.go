package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"github.com/twmb/franz-go/pkg/kfake"
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

// benchRedpanda: produce a file of lines and consume it back, trstream's
// redpanda components against kcat (librdkafka), on the same kfake broker.
func benchRedpanda(ctx context.Context, e *env) ([]Row, error) {
	const n = 1_000_000
	file, err := e.benchInput(ctx, n)
	if err != nil {
		return nil, err
	}
	st, err := os.Stat(file)
	if err != nil {
		return nil, err
	}
	mb := float64(st.Size()) / 1e6
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "ours", "kcat"))
	if err != nil {
		return nil, err
	}
	defer cluster.Close()
	brokers := cluster.ListenAddrs()[0]
	benv := func(topic string) []string {
		return []string{"BENCH_BROKERS=" + brokers, "BENCH_TOPIC=" + topic, "BENCH_FILE=" + file, "BENCH_COUNT=" + strconv.Itoa(n)}
	}

	ourP, err := e.run(ctx, benv("ours"), e.bin, "-c", "bench/configs/redpanda_produce.yaml")
	if err != nil {
		return nil, err
	}
	kcatP, err := e.run(ctx, nil, "kcat", "-P", "-b", brokers, "-t", "kcat", "-l", file)
	if err != nil {
		return nil, err
	}
	ourC, err := e.run(ctx, benv("ours"), e.bin, "-c", "bench/configs/redpanda_consume.yaml")
	if err != nil {
		return nil, err
	}
	kcatC, err := e.run(ctx, nil, "sh", "-c", fmt.Sprintf("kcat -C -b %s -t kcat -o beginning -e -q > /dev/null", brokers))
	if err != nil {
		return nil, err
	}
	row := func(what string, ours, peer result) Row {
		a, b := rate(n, ours.elapsed), rate(n, peer.elapsed)
		return Row{
			Benchmark:  what,
			Figure:     fmt.Sprintf("%s, %.0f MB/s", fmtRate(a, "rec/s"), mb/ours.elapsed.Seconds()),
			Peer:       "kcat " + map[bool]string{true: "-P", false: "-C -e"}[what[0] == 'p'],
			PeerFigure: fmt.Sprintf("%s, %.0f MB/s", fmtRate(b, "rec/s"), mb/peer.elapsed.Seconds()),
			Ratio:      fmtRatio(a, b),
			Target:     "≥1× kcat",
			Verdict:    verdict(a >= b),
		}
	}
	return []Row{
		row(fmt.Sprintf("produce %dk records (~%d B) from a file", n/1000, int(st.Size())/n), ourP, kcatP),
		row(fmt.Sprintf("consume %dk records → drop", n/1000), ourC, kcatC),
	}, nil
}
