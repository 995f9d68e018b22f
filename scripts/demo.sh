#!/usr/bin/env bash
# Runs the full deployment on this machine: starts Kafka and ClickHouse on 127.0.0.1, applies the
# schema, creates the topics, then runs a traffic generator, the dashboard on
# http://127.0.0.1:8080 and the processor until Ctrl-C.
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

"$pulso" generate --rate "$rate" --duration 24h &
generator=$!
"$pulso" serve --listen 127.0.0.1:8080 &
dashboard=$!
trap 'kill "$generator" "$dashboard" 2>/dev/null || true; wait "$generator" "$dashboard" 2>/dev/null || true' EXIT

echo "demo: dashboard on http://127.0.0.1:8080/ ; counts in ClickHouse database 'pulso'"
"$pulso" process
