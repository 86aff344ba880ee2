#!/usr/bin/env bash
# Throughput of the transaction_generator input against Benthos' stock
# `generate` input with a bloblang mapping making the same fields, both into
# `drop`, on one core (GOMAXPROCS=1). Prints events per wall second and per
# CPU second (steadier on a shared machine), and the ratios.
#
#   bench/generator.sh            # median of 3 runs of 1,000,000 events
#   EVENTS=5000000 COUNT=5 bench/generator.sh
set -euo pipefail
cd "$(dirname "$0")/.."

EVENTS=${EVENTS:-1000000}
STOCK_EVENTS=${STOCK_EVENTS:-$((EVENTS / 5))}
COUNT=${COUNT:-3}

median() { sort -n | awk '{ v[NR] = $1 } END { if (NR == 0) exit 1; print v[int((NR + 1) / 2)] }'; }

run() { # bench-name events → "wall cpu" medians
	local out
	out=$(GOMAXPROCS=1 go test ./plugins/generator -run '^$' -bench "^$1\$" \
		-benchtime "${2}x" -count "$COUNT" -timeout 30m 2>/dev/null)
	metric() { awk -v m="$1" '/^Benchmark/ { for (i = 1; i < NF; i++) if ($(i+1) == m) print $i }'; }
	echo "$(metric events/s <<<"$out" | median) $(metric events/cpu-s <<<"$out" | median)"
}

read -r model_w model_c < <(run BenchmarkGenerator "$EVENTS")
read -r ours_w ours_c < <(run BenchmarkGeneratorStream "$EVENTS")
read -r stock_w stock_c < <(run BenchmarkStockGenerate "$STOCK_EVENTS")

printf 'GOMAXPROCS=1, median of %d runs        %14s %16s\n' "$COUNT" "events/s" "events/cpu-s"
printf '%-38s %14.0f %16.0f\n' "model only (BenchmarkGenerator)" "$model_w" "$model_c"
printf '%-38s %14.0f %16.0f\n' "transaction_generator -> drop" "$ours_w" "$ours_c"
printf '%-38s %14.0f %16.0f\n' "stock generate + bloblang -> drop" "$stock_w" "$stock_c"
awk -v a="$ours_w" -v b="$stock_w" -v c="$ours_c" -v d="$stock_c" \
	'BEGIN { printf "%-38s %13.1fx %15.1fx\n", "ratio transaction_generator / stock", a / b, c / d }'
