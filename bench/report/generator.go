package main

import (
	"context"
	"strconv"
)

// benchGenerator: transaction_generator → drop on one core, against stock
// generate with a Bloblang mapping of the same fields.
func benchGenerator(ctx context.Context, e *env) ([]Row, error) {
	const ours, stock = 5_000_000, 300_000
	oneCore := "GOMAXPROCS=1"
	r, err := e.run(ctx, []string{oneCore, "BENCH_COUNT=" + strconv.Itoa(ours)}, e.bin, "-c", "bench/configs/generator.yaml")
	if err != nil {
		return nil, err
	}
	p, err := e.run(ctx, []string{oneCore, "BENCH_COUNT=" + strconv.Itoa(stock)}, e.bin, "-c", "bench/configs/stock_generate.yaml")
	if err != nil {
		return nil, err
	}
	a, b := rate(ours, r.elapsed), rate(stock, p.elapsed)
	return []Row{{
		Benchmark:  "generator → drop, 1 core (events/s)",
		Figure:     fmtRate(a, "ev/s"),
		Peer:       "stock `generate` + Bloblang, 1 core",
		PeerFigure: fmtRate(b, "ev/s"),
		Ratio:      fmtRatio(a, b),
		Target:     "≥1M ev/s and ≥10×",
		Verdict:    verdict(a >= 1e6 && a/b >= 10),
	}}, nil
}
