#!/usr/bin/env bash
# Installs the Debian packages the tests need, if any is missing: ClickHouse, Prometheus (for
# promtool and the monitoring test), Chromium (for the browser test), curl, Maven and Java 17
# (for Kafka). Does nothing when all are installed. Needs root or sudo to install.
#
# Usage: scripts/install-packages.sh
set -euo pipefail

packages=(clickhouse-server clickhouse-client prometheus chromium curl maven openjdk-17-jre-headless)
missing=()
for package in "${packages[@]}"; do
  if [[ "$(dpkg-query -W -f='${Status}' "$package" 2>/dev/null)" != "install ok installed" ]]; then
    missing+=("$package")
  fi
done
((${#missing[@]} == 0)) && exit 0

echo "install-packages: installing ${missing[*]}" >&2
if ((EUID == 0)); then
  as_root=()
elif command -v sudo >/dev/null; then
  as_root=(sudo)
else
  echo "install-packages: error: missing Debian packages ${missing[*]}; install them as root with apt-get" >&2
  exit 1
fi
"${as_root[@]}" apt-get update
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
