#!/usr/bin/env bash
# Throughput of the transaction_generator input against Benthos' stock
# `generate` input with a bloblang mapping making the same fields, both into
# `drop`, on one core (GOMAXPROCS=1). Prints events/s and the ratio.
#
#   bench/generator.sh            # default: 3 runs of 2,000,000 events each
#   EVENTS=5000000 COUNT=5 bench/generator.sh
set -euo pipefail
cd "$(dirname "$0")/.."

EVENTS=${EVENTS:-2000000}
STOCK_EVENTS=${STOCK_EVENTS:-$((EVENTS / 10))}
COUNT=${COUNT:-3}

run() { # bench-regexp events
	GOMAXPROCS=1 go test ./plugins/generator -run '^$' -bench "^$1\$" \
		-benchtime "${2}x" -count "$COUNT" -timeout 30m 2>/dev/null |
		awk '/events\/s/ { for (i = 1; i < NF; i++) if ($(i+1) == "events/s") print $i }' |
		sort -n | awk '{ v[NR] = $1 } END { if (NR == 0) exit 1; print v[int((NR + 1) / 2)] }'
}

model=$(run BenchmarkGenerator "$EVENTS")
ours=$(run BenchmarkGeneratorStream "$EVENTS")
stock=$(run BenchmarkStockGenerate "$STOCK_EVENTS")

printf 'GOMAXPROCS=1, median of %d runs\n' "$COUNT"
printf '%-44s %14.0f events/s\n' "model only (BenchmarkGenerator)" "$model"
printf '%-44s %14.0f events/s\n' "transaction_generator -> drop" "$ours"
printf '%-44s %14.0f events/s\n' "stock generate + bloblang -> drop" "$stock"
awk -v a="$ours" -v b="$stock" 'BEGIN { printf "%-44s %14.1fx\n", "ratio (transaction_generator / stock)", a / b }'
