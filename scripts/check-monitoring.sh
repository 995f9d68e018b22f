#!/usr/bin/env bash
# Checks the monitoring files without any running service: the Prometheus configuration and
# alert rules with promtool, the rules' unit tests, and the Grafana files.
#
# Usage: scripts/check-monitoring.sh
#
# Grafana checks: every dashboard is valid JSON, every panel has a query, and every data source
# uid that a dashboard uses is provisioned in datasources.yml. Also checks that every alert of
# alerts.yml has a case in alerts.test.yml. That the queries return data is tested against real
# services by crates/pulso/tests/monitoring.rs.
#
# Needs promtool (Debian's package prometheus) and python3.
# Environment:
#   PROMTOOL  promtool binary (default: promtool on PATH)
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
monitoring=$repo/monitoring
promtool=${PROMTOOL:-promtool}

command -v "$promtool" >/dev/null ||
  { echo "check-monitoring: error: $promtool not found; install Debian's package with 'apt-get install -y prometheus'" >&2; exit 1; }
command -v python3 >/dev/null ||
  { echo "check-monitoring: error: python3 not found; install it (apt-get install -y python3)" >&2; exit 1; }

"$promtool" check config "$monitoring/prometheus.yml"
"$promtool" check rules "$monitoring/alerts.yml"
"$promtool" test rules "$monitoring/alerts.test.yml"

for dashboard in "$monitoring"/grafana/dashboards/*.json; do
  python3 -m json.tool "$dashboard" >/dev/null ||
    { echo "check-monitoring: error: $dashboard is not valid JSON; see the message above" >&2; exit 1; }
done

# Only the standard library, so that no package beyond python3 is needed. The YAML files are
# read line by line for the few keys checked here.
python3 - "$monitoring" <<'EOF'
import json
import pathlib
import re
import sys

monitoring = pathlib.Path(sys.argv[1])
errors = []

datasources = monitoring / "grafana/provisioning/datasources/datasources.yml"
provisioned = set(re.findall(r"^\s*uid:\s*(\S+)\s*$", datasources.read_text(), re.MULTILINE))
if not provisioned:
    errors.append(f"{datasources}: no data source with a uid")


def panels_of(board):
    for panel in board.get("panels", []):
        yield panel
        yield from panel.get("panels", [])


for path in sorted((monitoring / "grafana/dashboards").glob("*.json")):
    board = json.loads(path.read_text())
    for panel in panels_of(board):
        if panel.get("type") == "row":
            continue
        title = panel.get("title", "(untitled)")
        targets = panel.get("targets", [])
        if not targets:
            errors.append(f"{path.name}: panel '{title}' has no query")
        for target in [panel] + targets:
            uid = (target.get("datasource") or {}).get("uid")
            if uid is not None and uid not in provisioned:
                errors.append(f"{path.name}: panel '{title}' uses data source uid '{uid}', which datasources.yml does not provision")
        for target in targets:
            if not (target.get("expr") or target.get("rawSql")):
                errors.append(f"{path.name}: panel '{title}' query {target.get('refId')} has neither expr nor rawSql")

alerts = re.findall(r"^\s*- alert:\s*(\S+)\s*$", (monitoring / "alerts.yml").read_text(), re.MULTILINE)
tested = set(re.findall(r"^\s*alertname:\s*(\S+)\s*$", (monitoring / "alerts.test.yml").read_text(), re.MULTILINE))
for alert in alerts:
    if alert not in tested:
        errors.append(f"alerts.test.yml: no test case for alert {alert}")

for error in dict.fromkeys(errors):
    print(f"check-monitoring: error: {error}", file=sys.stderr)
if errors:
    sys.exit(1)
print(f"check-monitoring: {len(alerts)} alerts tested, dashboards and data sources consistent")
EOF
