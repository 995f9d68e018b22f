#!/usr/bin/env bash
# Starts, stops or reports the local services of the pipeline, Kafka and
# ClickHouse, with all their state under DATA_DIR. start installs what is
# missing and does nothing for a service that is already running.
#
# Usage: scripts/services.sh start|stop|status DATA_DIR
#
# status exits 0 if both services are running, and 3 if one is not running
# (other non-zero codes are errors such as an invalid DATA_DIR). Ports and other
# settings come from the environment variables that scripts/kafka.sh and
# scripts/clickhouse.sh document.
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

usage() {
  sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d' | sed 's/^# \{0,1\}//' >&2
  exit 2
}

(($# == 2)) || usage
command=$1
data_dir=$2

case "$command" in
  start)
    "$SCRIPT_DIR/clickhouse.sh" start "$data_dir"
    "$SCRIPT_DIR/kafka.sh" start "$data_dir"
    ;;
  stop)
    # Both stops run even if the first fails, so no server is left behind.
    status=0
    "$SCRIPT_DIR/kafka.sh" stop "$data_dir" || status=$?
    "$SCRIPT_DIR/clickhouse.sh" stop "$data_dir" || status=$?
    exit "$status"
    ;;
  status)
    status=0
    "$SCRIPT_DIR/kafka.sh" status "$data_dir" || status=$?
    "$SCRIPT_DIR/clickhouse.sh" status "$data_dir" || status=$?
    exit "$status"
    ;;
  *)
    usage
    ;;
esac
