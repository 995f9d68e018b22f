# shellcheck shell=bash
# Shared helpers for scripts/kafka.sh and scripts/clickhouse.sh: messages,
# argument checks and PID-file process control.
# Usage: source "$(dirname "$0")/service-lib.sh" (after setting SERVICE_NAME).

log() {
  echo "${SERVICE_NAME}: $*"
}

die() {
  echo "${SERVICE_NAME}: error: $*" >&2
  exit 1
}

# Prints the absolute form of DATA_DIR, creating it if missing. The path goes
# into XML and Java properties files unescaped, so characters that need
# escaping there are rejected.
resolve_data_dir() {
  local dir=$1
  [[ -n "$dir" ]] || die "DATA_DIR is empty; pass a directory such as \"\$PWD/.pulso-data\""
  if [[ "$dir" =~ [[:space:]\&\<\>\"\'\\] ]]; then
    die "DATA_DIR '$dir' contains whitespace or one of & < > \" ' \\; choose a plain path"
  fi
  mkdir -p "$dir" || die "cannot create DATA_DIR '$dir'; check its parent's permissions"
  (cd "$dir" && pwd -P)
}

# Checks that the value of the environment variable named $1 is a TCP port.
require_port() {
  local name=$1 value=$2
  if ! [[ "$value" =~ ^[0-9]+$ ]] || ((value < 1 || value > 65535)); then
    die "$name='$value' is not a valid TCP port; set it to a number from 1 to 65535"
  fi
}

# Succeeds if something accepts TCP connections on 127.0.0.1:$1.
port_accepts() {
  timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null
}

# Succeeds if process PID exists and has not exited. An exited child that its
# parent has not reaped yet (a zombie) still has a /proc entry.
process_alive() {
  local state
  state=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1
  [[ -n "$state" && "$state" != Z ]]
}

# Prints the PID stored in PID_FILE if that process is alive and its command
# line contains MARKER (a path unique to this DATA_DIR), so a PID reused by an
# unrelated process is never reported or signalled. Fails otherwise.
running_pid() {
  local pid_file=$1 marker=$2 pid cmdline
  [[ -f "$pid_file" ]] || return 1
  pid=$(<"$pid_file")
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  cmdline=$(tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline") || return 1
  [[ "$cmdline" == *"$marker"* ]] || return 1
  process_alive "$pid" || return 1
  echo "$pid"
}

# Stops the process recorded in PID_FILE: SIGTERM, then SIGKILL if it is still
# alive after 30 s. Succeeds, and removes the PID file, if it is not running.
stop_by_pid_file() {
  local pid_file=$1 marker=$2 pid i
  if ! pid=$(running_pid "$pid_file" "$marker"); then
    rm -f "$pid_file"
    log "not running"
    return 0
  fi

  log "stopping (pid $pid, SIGTERM)"
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 300; i++)); do
    running_pid "$pid_file" "$marker" >/dev/null || break
    sleep 0.1
  done

  if running_pid "$pid_file" "$marker" >/dev/null; then
    log "pid $pid still alive 30 s after SIGTERM; sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    for ((i = 0; i < 100; i++)); do
      running_pid "$pid_file" "$marker" >/dev/null || break
      sleep 0.1
    done
    if running_pid "$pid_file" "$marker" >/dev/null; then
      die "pid $pid survived SIGKILL for 10 s; inspect it with 'ps -o pid,stat,cmd -p $pid'"
    fi
  fi

  rm -f "$pid_file"
  log "stopped"
}

# Serializes this script's commands on one DATA_DIR through a lock on fd 9, so
# two concurrent starts cannot launch two servers. Launched servers must get
# "9>&-", or they would hold the lock for as long as they run.
lock_service_dir() {
  local lock_file=$1
  exec 9>"$lock_file"
  if ! flock -n 9; then
    log "waiting for another ${SERVICE_NAME} command on the same DATA_DIR (lock $lock_file)"
    flock 9
  fi
}

# Prints the last lines of each given log file to stderr, to explain a failed start.
show_log_tail() {
  local file
  for file in "$@"; do
    [[ -s "$file" ]] || continue
    echo "--- last 30 lines of $file ---" >&2
    tail -n 30 "$file" >&2
  done
}
