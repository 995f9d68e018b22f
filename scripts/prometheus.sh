#!/usr/bin/env bash
# Runs Debian's Prometheus server for development and CI, bound to 127.0.0.1, with its
# time-series database and log under DATA_DIR/prometheus.
#
# Usage: scripts/prometheus.sh start|stop|status DATA_DIR [CONFIG]
#
# start    checks CONFIG with promtool, starts the server and waits until /-/ready returns 200;
#          does nothing if it is running. CONFIG defaults to monitoring/prometheus.yml.
# stop     sends SIGTERM (SIGKILL after 30 s); succeeds if it is not running.
# status   exits 0 if the server is running, 3 if not.
#
# A running server keeps the CONFIG it was started with; stop and start it to use another.
# The server is not installed by this script: install Debian's package with
# 'apt-get install -y prometheus' (it also provides promtool).
#
# Environment:
#   PULSO_PROMETHEUS_PORT           HTTP port of the server (default 9090)
#   PULSO_PROMETHEUS_START_TIMEOUT  seconds to wait for /-/ready (default 60)
#   PULSO_PROMETHEUS_RETENTION      how long to keep samples, such as 15d or 2h (default 15d)
set -euo pipefail

SERVICE_NAME=prometheus
SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=scripts/service-lib.sh
source "$SCRIPT_DIR/service-lib.sh"

PORT=${PULSO_PROMETHEUS_PORT:-9090}
START_TIMEOUT=${PULSO_PROMETHEUS_START_TIMEOUT:-60}
RETENTION=${PULSO_PROMETHEUS_RETENTION:-15d}
PROMETHEUS=/usr/bin/prometheus
PROMTOOL=/usr/bin/promtool

usage() {
  sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d' | sed 's/^# \{0,1\}//' >&2
  exit 2
}

set_paths() {
  DATA_DIR=$(resolve_data_dir "$1")
  PROMETHEUS_HOME=$DATA_DIR/prometheus
  STORAGE_DIR=$PROMETHEUS_HOME/data
  LOG_FILE=$PROMETHEUS_HOME/prometheus.log
  PID_FILE=$PROMETHEUS_HOME/prometheus.pid
}

# Prints the absolute path of CONFIG, or of monitoring/prometheus.yml when it is empty.
resolve_config() {
  local config=${1:-$SCRIPT_DIR/../monitoring/prometheus.yml}
  [[ -f "$config" ]] || die "configuration file '$config' not found; pass an existing file as CONFIG"
  echo "$(cd "$(dirname "$config")" && pwd -P)/$(basename "$config")"
}

ready_ok() {
  [[ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://127.0.0.1:$PORT/-/ready" 2>/dev/null)" == 200 ]]
}

# Waits until /-/ready returns 200, failing early if the server exits.
wait_until_ready() {
  local pid=$1 deadline=$((SECONDS + START_TIMEOUT))
  while ((SECONDS < deadline)); do
    # The PID, not running_pid, is checked here: until setsid has executed the
    # server, the child's command line is still that of this script.
    if ! process_alive "$pid"; then
      show_log_tail "$LOG_FILE"
      rm -f "$PID_FILE"
      die "the server (pid $pid) exited during startup; see the log above"
    fi
    if ready_ok; then
      return 0
    fi
    sleep 0.3
  done
  show_log_tail "$LOG_FILE"
  stop_by_pid_file "$PID_FILE" "$STORAGE_DIR"
  die "the server (pid $pid) did not return 200 from http://127.0.0.1:$PORT/-/ready within $START_TIMEOUT s; see the log above, or raise PULSO_PROMETHEUS_START_TIMEOUT"
}

cmd_start() {
  local config=$1 pid
  if pid=$(running_pid "$PID_FILE" "$STORAGE_DIR"); then
    log "already running (pid $pid, http://127.0.0.1:$PORT)"
    return 0
  fi
  rm -f "$PID_FILE"

  [[ -x "$PROMETHEUS" && -x "$PROMTOOL" ]] ||
    die "$PROMETHEUS or $PROMTOOL not found; install Debian's package with 'apt-get install -y prometheus'"
  command -v curl >/dev/null || die "curl not found on PATH; install it (apt-get install -y curl)"
  if port_accepts "$PORT"; then
    die "127.0.0.1:$PORT is already in use by another process; stop it (ss -ltnp 'sport = :$PORT') or set PULSO_PROMETHEUS_PORT"
  fi
  # promtool names the invalid line and also checks the rule files; Prometheus itself would
  # only log the error and exit.
  local check_output
  if ! check_output=$("$PROMTOOL" check config "$config" 2>&1); then
    echo "$check_output" >&2
    die "promtool rejected '$config'; fix the errors above"
  fi

  mkdir -p "$STORAGE_DIR"
  log "starting on http://127.0.0.1:$PORT with $config, data in $STORAGE_DIR, log in $LOG_FILE"
  # setsid detaches the server from this shell's session, so that interrupting the caller does
  # not signal it, and $! is the server's own PID.
  setsid "$PROMETHEUS" \
    --config.file="$config" \
    --storage.tsdb.path="$STORAGE_DIR" \
    --storage.tsdb.retention.time="$RETENTION" \
    --web.listen-address="127.0.0.1:$PORT" \
    </dev/null >>"$LOG_FILE" 2>&1 9>&- &
  pid=$!
  echo "$pid" >"$PID_FILE"

  wait_until_ready "$pid"
  log "running (pid $pid, http://127.0.0.1:$PORT)"
}

cmd_stop() {
  stop_by_pid_file "$PID_FILE" "$STORAGE_DIR"
}

cmd_status() {
  local pid
  if pid=$(running_pid "$PID_FILE" "$STORAGE_DIR"); then
    log "running (pid $pid, http://127.0.0.1:$PORT)"
    return 0
  fi
  log "not running"
  return 3
}

main() {
  (($# == 2)) || [[ $# == 3 && "$1" == start ]] || usage
  local command=$1 config=${3:-}
  require_port PULSO_PROMETHEUS_PORT "$PORT"
  [[ "$START_TIMEOUT" =~ ^[1-9][0-9]*$ ]] ||
    die "PULSO_PROMETHEUS_START_TIMEOUT='$START_TIMEOUT' is invalid; set it to a number of seconds"
  [[ "$RETENTION" =~ ^[0-9]+(ms|s|m|h|d|w|y)$ ]] ||
    die "PULSO_PROMETHEUS_RETENTION='$RETENTION' is invalid; use a number with a unit, such as 15d or 12h"
  set_paths "$2"
  mkdir -p "$PROMETHEUS_HOME"
  lock_service_dir "$PROMETHEUS_HOME/.lock"

  case "$command" in
    start)
      config=$(resolve_config "$config")
      cmd_start "$config"
      ;;
    stop) cmd_stop ;;
    status) cmd_status ;;
    *) usage ;;
  esac
}

main "$@"
