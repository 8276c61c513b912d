#!/usr/bin/env bash
# Brings up a local cluster (mesos-local: a master and 2 agents on one port), runs a task
# on it with mesos-execute, and shows the task in /master/state. The cluster stops when
# the script ends; KEEP=1 leaves it running (stop it with: pkill mesos-local).
set -euo pipefail
cd "$(dirname "$0")/.."
port=${PORT:-5050}
work=${WORK_DIR:-/tmp/mesos-local-demo}

echo "== building"
cargo build --quiet --workspace --bins
bin=target/debug

echo "== starting mesos-local on 127.0.0.1:$port (logs: $work/mesos-local.log)"
rm -rf "$work"
mkdir -p "$work"
"$bin/mesos-local" --num_slaves=2 --port="$port" --work_dir="$work" \
  --resources='cpus:2;mem:2048;disk:4096;ports:[31000-32000]' >"$work/mesos-local.log" 2>&1 &
cluster=$!
if [ "${KEEP:-0}" != 1 ]; then trap 'kill $cluster 2>/dev/null || true' EXIT; fi
for _ in $(seq 100); do
  n=$(curl -sf "http://127.0.0.1:$port/master/state" | grep -o '"activated_slaves":[0-9]*' | cut -d: -f2 || true)
  [ "${n:-0}" = 2 ] && break
  sleep 0.1
done

echo "== mesos-execute --name=hello --command='echo hello from a task; uname -n'"
"$bin/mesos-execute" --master="127.0.0.1:$port" --name=hello --command='echo hello from a task; uname -n'

echo "== the task in /master/state"
curl -s "http://127.0.0.1:$port/master/state" | python3 -c '
import json, sys
s = json.load(sys.stdin)
print("leader:", s["leader"], "| agents:", s["activated_slaves"])
for f in s["frameworks"] + s["completed_frameworks"]:
    for t in f.get("tasks", []) + f.get("completed_tasks", []):
        print("framework %-28s task %-6s %s" % (f["name"], t["id"], t["state"]))
'
echo "== its sandbox stdout"
cat "$(find "$work" -path '*executors/hello/runs/*' -name stdout | head -1)"
if [ "${KEEP:-0}" = 1 ]; then
  echo "mesos-local keeps running on 127.0.0.1:$port (pkill mesos-local to stop)"
fi
