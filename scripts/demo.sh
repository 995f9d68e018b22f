#!/usr/bin/env bash
# Runs the whole pipeline on this machine: starts Kafka and ClickHouse on 127.0.0.1, applies the
# schema, creates the topics, then runs a traffic generator and the processor until Ctrl-C.
#
# Usage: scripts/demo.sh [events per second, default 2000]
#   PULSO_SERVICES_DIR  where the services keep their data (default: .pulso-data in the repo)
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
data_dir="${PULSO_SERVICES_DIR:-$repo/.pulso-data}"
rate="${1:-2000}"
if ! [[ "$rate" =~ ^[0-9]+$ ]] || ((rate == 0)); then
  echo "demo: events per second must be a positive whole number, got '$rate'" >&2
  exit 2
fi

cargo build --release --locked
pulso="$repo/target/release/pulso"
scripts/services.sh start "$data_dir"
"$pulso" migrate
"$pulso" topics --partitions 4

"$pulso" generate --rate "$rate" --duration 24h --metrics-address 127.0.0.1:9465 &
generator=$!
trap 'kill "$generator" 2>/dev/null || true; wait "$generator" 2>/dev/null || true' EXIT

echo "demo: counts land in ClickHouse database 'pulso'; try:"
echo "  curl -s http://127.0.0.1:8123/ --data-binary \"SELECT page, sum(events) AS events FROM pulso.window_counts WHERE event_type IN ('page_view','click') GROUP BY page ORDER BY events DESC LIMIT 10 FORMAT PrettyCompact\""
"$pulso" process
