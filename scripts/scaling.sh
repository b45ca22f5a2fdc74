#!/usr/bin/env bash
# scaling.sh: the scaling table of docs/benchmarks.md. Runs loadtest.sh's
# fanout, Switchboard then the bare fanout server, for every row below
# (20 s each unless DURATION says otherwise), and prints the table in
# Markdown. ROWS selects rows by label substring (e.g. ROWS=rate). Past
# 16,000 clients a row runs on several edges (or bare servers), all on
# the server's core, each with its own sbload worker: see loadtest.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
export DURATION=${DURATION:-20s} IDLE_CLIENTS=0

# label | clients | rooms | msg/s | prejoin
rows=(
	"rate 100k|1000|10|1000|"
	"rate 300k|1000|10|3000|"
	"rate 600k|1000|10|6000|"
	"rate 1M|1000|10|10000|"
	"rate 1.2M|1000|10|12000|"
	"rooms of 10|5000|500|20000|"
	"rooms of 100|1000|10|3000|"
	"rooms of 1,000|1000|1|300|"
	"rooms of 1,000 at 1M|1000|1|1000|"
	"rooms of 10,000|10000|1|30|1"
	"rooms of 10,000 at 1M|10000|1|100|1"
	"clients 10k|10000|100|3000|"
	"clients 10k at 1M|10000|100|10000|1"
	"clients 100k|100000|1000|3000|"
	"clients 100k at 100k|100000|1000|1000|"
)

field() { grep -o "\"$1\":[0-9.]*" <<<"$2" | cut -d: -f2; }
cell() {
	local r=$1
	printf '%s/s, %s %%, p50 %s ms, p99 %s ms, CPU %s %%' \
		"$(printf '%.0f' "$(field deliveries_per_s "$r")")" "$(awk -v x="$(field delivered_ratio "$r")" 'BEGIN { print x * 100 }')" \
		"$(field p50_ms "$r")" "$(field p99_ms "$r")" "$(field server_cpu_pct "$r")"
}

echo "| row | clients | rooms × members | msg/s | Switchboard | bare fanout server |"
echo "| --- | --- | --- | --- | --- | --- |"
for row in "${rows[@]}"; do
	IFS='|' read -r label clients rooms rate prejoin <<<"$row"
	[[ -z "${ROWS:-}" || "$label" == *"$ROWS"* ]] || continue
	out=$(CLIENTS=$clients ROOMS=$rooms RATE=$rate PREJOIN=$prejoin ./scripts/loadtest.sh 2>>"${SCALING_LOG:-/dev/null}")
	sb=$(grep '^switchboard ' <<<"$out")
	bare=$(grep '^bare ' <<<"$out")
	echo "| $label | $clients | $rooms × $((clients / rooms)) | $rate | $(cell "$sb") | $(cell "$bare") |"
done
