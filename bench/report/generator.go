package main

import (
	"context"
	"strconv"
	"time"
)

// benchGenerator: transaction_generator → drop on one core, against stock
// generate with a Bloblang mapping of the same fields. Each side runs three
// times, alternately, so that both see the same moments of a shared
// machine; each keeps its fastest run.
func benchGenerator(ctx context.Context, e *env) ([]Row, error) {
	const ours, stock, runs = 5_000_000, 300_000, 3
	oneCore := "GOMAXPROCS=1"
	best := func(n int, config string, d *time.Duration) error {
		r, err := e.run(ctx, []string{oneCore, "BENCH_COUNT=" + strconv.Itoa(n)}, e.bin, "-c", config)
		if err == nil && (*d == 0 || r.elapsed < *d) {
			*d = r.elapsed
		}
		return err
	}
	var r, p time.Duration
	for range runs {
		if err := best(ours, "bench/configs/generator.yaml", &r); err != nil {
			return nil, err
		}
		if err := best(stock, "bench/configs/stock_generate.yaml", &p); err != nil {
			return nil, err
		}
	}
	a, b := rate(ours, r), rate(stock, p)
	return []Row{{
		Benchmark:  "generator → drop, 1 core (events/s, best of 3)",
		Figure:     fmtRate(a, "ev/s"),
		Peer:       "stock `generate` + Bloblang, 1 core",
		PeerFigure: fmtRate(b, "ev/s"),
		Ratio:      fmtRatio(a, b),
		Target:     "≥1M ev/s and ≥10×",
		Verdict:    verdict(a >= 1e6 && a/b >= 10),
	}}, nil
}
