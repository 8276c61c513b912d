#!/usr/bin/env bash
# The demo cluster in Docker (docker/docker-compose.yml): ZooKeeper, 3 masters, 3 agents
# and the long-lived example framework keeping 6 tasks running.
# Chronos runs beside them (API and UI at 127.0.0.1:${CHRONOS_PORT:-4400}), with sample
# jobs and a dependency chain added at start-up.
#
#   docker/demo.sh up       build the images if needed (docker/build-images.sh), start the
#                           cluster, wait until the framework's tasks run, show status
#   docker/demo.sh status   the leading master, every master's role, agents, tasks
#   docker/demo.sh down     stop and remove the cluster's containers and network
#
# http://127.0.0.1:5050/ is the leading master's web UI and API, whichever master leads
# (the front door joins each connection to the leader); each master's own HTTP port is on
# 127.0.0.1:5061, :5062 and :5063, where only the leader answers /master/state (the others
# redirect with 307 to //masterN:5050).
# Environment: MESOS_NET (first three octets of the /24 network, default 172.30.50),
# MESOS_PUBLISH_IP (default 127.0.0.1), MESOS_UI_PORT, MESOS_MASTER{1,2,3}_PORT,
# MESOS_DEMO_TASKS.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
export MESOS_NET="${MESOS_NET:-172.30.50}"
project=mesosdemo
compose() { docker-compose -p "$project" -f "$here/docker-compose.yml" "$@"; }

case "${1:-}" in
  up)
    eval "$("$here/build-images.sh" | grep -E '^(MESOS|ZK)_IMAGE=')"
    export MESOS_IMAGE ZK_IMAGE
    compose up -d
    # Wait (bounded) for a leader with 3 agents and the framework's tasks running.
    PYTHONPATH="$here" python3 -c '
import sys, cluster
c = cluster.Cluster(sys.argv[1], sys.argv[2])
try:
    c.wait("the demo cluster to settle", cluster.steady(int(sys.argv[3])), limit=120)
except cluster.Failure as e:
    sys.exit(f"demo.sh: {e}")
' "$project" "$MESOS_NET" "${MESOS_DEMO_TASKS:-6}"
    python3 "$here/cluster.py" status --project "$project" --net "$MESOS_NET"
    # Marathon's sample web app: 3 busybox httpd instances behind health checks.
    python3 "$here/marathon.py" deploy --project "$project" --net "$MESOS_NET"
    # Chronos: sample jobs and the dependency chain extract -> transform -> load.
    python3 "$here/cluster.py" chronos-jobs --project "$project" --net "$MESOS_NET"
    echo "Chronos: http://127.0.0.1:${CHRONOS_PORT:-4400}/ (API under /v1/scheduler)"
    echo
    echo "Web UI: http://127.0.0.1:5050/ (the leader's, whichever master leads)"
    echo "Leader API: curl -s http://127.0.0.1:5050/master/state (each master alone: :5061, :5062, :5063)"
    echo "Marathon: http://127.0.0.1:8080/ and :8081 (the follower proxies to the leader)"
    ;;
  status)
    python3 "$here/cluster.py" status --project "$project" --net "$MESOS_NET"
    ;;
  down)
    compose down -v --remove-orphans -t 3
    ;;
  *)
    echo "usage: $0 up|status|down" >&2
    exit 2
    ;;
esac
