#!/usr/bin/env bash
# Measures the pipeline from Kafka to ClickHouse on this machine, with Kafka and ClickHouse
# running on it too, and prints the figures docs/benchmarks.md reports:
#   1. throughput: N generated events are produced first, then one processor drains them;
#      events/s over the span between its first and last message, CPU-seconds per million
#      events and peak RSS from /usr/bin/time;
#   2. freshness: a generator paced at RATE events/s, each event dated when it is produced
#      (--jitter 0), runs beside a processor for SECONDS; the
#      p50 and p99 of pulso_end_to_end_latency_seconds (event time to committed in ClickHouse)
#      are read from the processor's /metrics histogram.
#
# Usage: scripts/bench/pipeline.sh [N=2000000] [RATE=20000] [SECONDS=60]
#   PULSO_SERVICES_DIR  where the services keep their data (default: .pulso-data in the repo)
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$repo"
events="${1:-2000000}"
rate="${2:-20000}"
seconds="${3:-60}"
data_dir="${PULSO_SERVICES_DIR:-$repo/.pulso-data}"
run_id="bench$(date +%s)"
work="$repo/target/bench/$run_id"
mkdir -p "$work"

cargo build --release --locked --quiet
pulso() { "$repo/target/release/pulso" --topic "$run_id.events" --dead-letter-topic "$run_id.dead-letter" --database "$run_id" "$@"; }
scripts/services.sh start "$data_dir" >/dev/null
pulso topics --partitions 4 >/dev/null 2>&1
pulso migrate >/dev/null

echo "== throughput: $events events, produced first, then drained by one processor"
/usr/bin/time -v -o "$work/generate.time" "$repo/target/release/pulso" --topic "$run_id.events" --metrics-address "" \
  generate --count "$events" --max-speed --seed 1 --oracle "$work/oracle.csv" 2>"$work/generate.log"
grep -E "Elapsed|Maximum resident" "$work/generate.time" | sed 's/^\s*/  generate: /'
/usr/bin/time -v -o "$work/process.time" "$repo/target/release/pulso" --topic "$run_id.events" \
  --dead-letter-topic "$run_id.dead-letter" --database "$run_id" --metrics-address "" \
  process --exit-when-idle 3s 2>"$work/process.log"
rate_line=$(grep "processor stopped" "$work/process.log" | tail -1)
echo "  processor: ${rate_line##*processor stopped}"
user=$(awk -F': ' '/User time/ {print $2}' "$work/process.time")
system=$(awk -F': ' '/System time/ {print $2}' "$work/process.time")
rss=$(awk -F': ' '/Maximum resident/ {print $2}' "$work/process.time")
python3 - "$events" "$user" "$system" "$rss" <<'PY'
import sys
events, user, system, rss_kb = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
print(f"  processor CPU: {user + system:.1f} s ({user:.1f} user + {system:.1f} system) = {(user + system) / events * 1e6:.2f} CPU-seconds per million events")
print(f"  processor peak RSS: {rss_kb / 1024:.0f} MiB")
PY
stored=$(curl -s "http://127.0.0.1:8123/" --data-binary "SELECT sum(count) FROM $run_id.page_counts WHERE kind = 'count'")
expected=$(awk -F, 'NR > 1 {s += $4} END {print s}' "$work/oracle.csv")
echo "  stored $stored counted events; oracle expects $expected"

echo "== freshness: $rate events/s for $seconds s"
# A topic and database of its own: the end-of-input markers of the first phase closed the
# windows of its last minute, so fresh events in that minute would be late there.
fresh="${run_id}fresh"
"$repo/target/release/pulso" --topic "$fresh.events" --dead-letter-topic "$fresh.dead-letter" topics --partitions 4 >/dev/null 2>&1
"$repo/target/release/pulso" --database "$fresh" migrate >/dev/null
metrics_port=19464
"$repo/target/release/pulso" --topic "$fresh.events" --dead-letter-topic "$fresh.dead-letter" --database "$fresh" \
  --metrics-address "127.0.0.1:$metrics_port" process 2>"$work/fresh-process.log" &
processor=$!
trap 'kill "$processor" 2>/dev/null || true' EXIT
sleep 3
"$repo/target/release/pulso" --topic "$fresh.events" --metrics-address "" generate --rate "$rate" \
  --duration "${seconds}s" --seed 2 --no-end-marker --jitter 0 2>"$work/fresh-generate.log"
sleep 3
curl -s "http://127.0.0.1:$metrics_port/metrics" > "$work/metrics.txt"
kill -TERM "$processor"
wait "$processor" || true
trap - EXIT
python3 - "$work/metrics.txt" <<'PY'
import sys
buckets = []
for line in open(sys.argv[1]):
    if line.startswith("pulso_end_to_end_latency_seconds_bucket"):
        bound = line.split('le="')[1].split('"')[0]
        buckets.append((float("inf") if bound == "+Inf" else float(bound), float(line.rsplit(" ", 1)[1])))
total = buckets[-1][1]
def quantile(q):
    # Linear interpolation inside the bucket, as PromQL's histogram_quantile does.
    rank, previous_bound, previous_count = q * total, 0.0, 0.0
    for bound, count in buckets:
        if count >= rank:
            if bound == float("inf"):
                return previous_bound
            return previous_bound + (bound - previous_bound) * (rank - previous_count) / max(count - previous_count, 1)
        previous_bound, previous_count = bound, count
print(f"  end-to-end freshness over {int(total)} events: p50 {quantile(0.5):.2f} s, p99 {quantile(0.99):.2f} s (histogram interpolation)")
PY
echo "(work files in $work)"
