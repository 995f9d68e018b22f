#!/usr/bin/env bash
# Runs every test: installs missing Debian packages (scripts/install-packages.sh), starts Kafka
# and ClickHouse on 127.0.0.1 (a no-op when they already run), then runs the whole cargo test
# suite against them. Services keep running afterwards; stop them with
# `scripts/services.sh stop DATA_DIR`.
#
# Usage: scripts/test.sh [extra cargo test arguments after --]
#   PULSO_SERVICES_DIR  where the services keep their data (default: .pulso-data in the repo)
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
data_dir="${PULSO_SERVICES_DIR:-$repo/.pulso-data}"

scripts/install-packages.sh
scripts/check-monitoring.sh
scripts/services.sh start "$data_dir"
export PULSO_TEST_SERVICES_DIR="$data_dir"
# Integration tests each start processors and generators; two at a time fit two cores.
# Doc tests are left out: the crates have no doc examples, so they would only add empty runs.
log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
cargo test --workspace --locked --lib --bins --tests "$@" -- --test-threads=2 2>&1 | tee "$log" || status=$?
# One closing line over every test binary.
awk '/^test result:/ { passed += $4; failed += $6; ignored += $8 }
     END { printf "tests: %d passed, %d failed, %d skipped\n", passed, failed, ignored }' "$log"
exit "$status"
