#!/usr/bin/env bash
# Measures the dashboard API's latency over 24 hours of data with 10,000 distinct pages, on
# ClickHouse and on the embedded store, and prints p50 and p99 per endpoint.
#
# The data is synthetic and loaded directly: for every minute of the last 24 hours, 2,000 pages
# drawn Zipf-like from 10,000, with page_view and click counts (about 5.8 million rows per store).
# Each endpoint is then requested REQUESTS times, one request at a time, from this machine.
#
# Usage: scripts/bench/api.sh [REQUESTS=200]
#   PULSO_SERVICES_DIR  where the services keep their data (default: .pulso-data in the repo)
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$repo"
requests="${1:-200}"
data_dir="${PULSO_SERVICES_DIR:-$repo/.pulso-data}"
database="benchapi$(date +%s)"
work="$repo/target/bench/$database"
mkdir -p "$work"

cargo build --release --locked --quiet
pulso="$repo/target/release/pulso"
scripts/services.sh start "$data_dir" >/dev/null
"$pulso" --database "$database" migrate >/dev/null

python3 scripts/bench/api_load.py --clickhouse "$database" --sqlite "$work/pulso.sqlite"

serve_pid=""
embedded_pid=""
cleanup() { kill $serve_pid $embedded_pid 2>/dev/null || true; }
trap cleanup EXIT
"$pulso" --database "$database" serve --listen 127.0.0.1:18090 2>"$work/serve.log" &
serve_pid=$!
# The embedded default reads the loaded SQLite file; a near-zero rate keeps the data as loaded.
"$pulso" --metrics-address "" run --data-dir "$work" --listen 127.0.0.1:18091 --rate 0.001 2>"$work/embedded.log" >/dev/null &
embedded_pid=$!
sleep 3

python3 scripts/bench/api_latency.py --requests "$requests" clickhouse=http://127.0.0.1:18090 embedded=http://127.0.0.1:18091
echo "(work files in $work)"
