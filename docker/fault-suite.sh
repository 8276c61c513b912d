#!/usr/bin/env bash
# The container-level fault suite: builds the images if needed, starts its own copy of
# the compose cluster (project mesosfault on ${MESOS_NET:-172.30.51}.0/24, masters and
# the front door published on random loopback ports so it runs beside the demo), and
# runs each scenario against it (docker/cluster.py suite):
#
#   master_kill      SIGKILL the leading master's container; the front door's host port
#                    then gives the new leader's web UI, /master/state and event stream
#   master_pause     pause it past the ZooKeeper session timeout, then unpause it
#   agent_restart    restart the busiest agent's container
#   zk_restart       restart ZooKeeper
#   zk_restart_then_master_kill
#                    restart ZooKeeper, then (steady again) SIGKILL the leader: a standby
#                    takes over on its own
#   zk_restart_during_launch
#                    restart the framework (it fails over and reconciles) and ZooKeeper
#                    under it
#   agent_partition  disconnect the busiest agent from the network past the master's ping
#                    timeout (it is marked unreachable, its tasks TASK_LOST and replaced),
#                    then reconnect it: the lost tasks must not run again
#   zk_restart_then_leader_kill       restart ZooKeeper, wait until steady, then SIGKILL
#                    the leader: a standby must take over on its own
#   zk_restart_while_launching        kill one task per agent as ZooKeeper restarts, so
#                    the framework launches the replacements meanwhile: none lost or doubled
#   leader_kill_during_registry_write cut off the busiest agent; one ping round before the
#                    leader gives up on it, drop the leader's packets to ZooKeeper
#                    (iptables in its network namespace), SIGKILL it as it logs the last
#                    missed ping (marking the agent unreachable): its registry write never
#                    lands; heal
#   partition_during_reregistration   cut off the busiest agent and SIGKILL the leader at
#                    once: the successor waits --agent_reregister_timeout (10 s here) for
#                    it, marks it unreachable; then reconnect it
#   two_partitions_reverse_heal       cut off agent A, then agent B; heal B, then A
#   chaos_agent_partition             agent_partition with live fault rules instead of the
#                    docker network: `mesos-chaos scenario partition-agent` in the leader's
#                    container (masters and agents run --enable_fault_injection), then
#                    `mesos-chaos clear`; the same checks
#   chaos_master_stall                master_pause with a live fault rule instead of
#                    `docker pause`: `mesos-chaos scenario stall-master` blocks the leader's
#                    master process for 15 s (three ZooKeeper sessions); a standby takes
#                    over, and the old leader steps down when the stall ends
#   chaos_dropped_acks                `mesos-chaos scenario drop-acknowledgements` on the
#                    leader (it drops the acks it relays to the agents) while two tasks are
#                    killed and replaced, then `mesos-chaos clear`: the agents retry, every
#                    update in their task.updates logs ends acknowledged exactly once
#   marathon_leader_kill              SIGKILL the leading marathon's container: the other
#                    takes over with the same FrameworkID, the sample web app keeps its 3
#                    healthy instances (the same tasks), the killed one follows again
#   chronos_chain    chronos's sample jobs: the chain extract -> transform -> load runs,
#                    chronos's container is restarted, the chain runs on; no run twice
#
# After each: one leader, every task running or in exactly one terminal state, no task
# lost or restarted where it should not be, a mesos-execute task finishes, and the agents'
# containers (their /proc) run exactly the framework's tasks the leader shows there: none
# twice, no leaked executor, none the framework was told is TASK_LOST. Prints
# PASS/FAIL per scenario, then "N passed, M failed"; exits non-zero on any failure. After a
# failure the cluster is created anew, so each later scenario is judged on its own.
# Containers and the network are removed at the end, also on failure or ctrl-c.
#   docker/fault-suite.sh [--only master_kill,zk_restart]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
export MESOS_NET="${MESOS_FAULT_NET:-172.30.51}"
export MESOS_MASTER1_PORT="" MESOS_MASTER2_PORT="" MESOS_MASTER3_PORT="" MESOS_UI_PORT=""
export MARATHON1_PORT="" MARATHON2_PORT=""
export CHRONOS_PORT=""  # chronos published on a random port too
# The masters' missed agent pings (debug) are what leader_kill_during_registry_write
# times its fault by.
export MESOS_RUST_LOG="${MESOS_RUST_LOG:-info,master::core=debug}"
project=mesosfault
compose() { docker-compose -p "$project" -f "$here/docker-compose.yml" "$@"; }

# leader_kill_during_registry_write drops a master's packets from the host, inside the
# container's network namespace: it needs root, nsenter and iptables.
need=()
command -v nsenter >/dev/null || need+=(util-linux)
command -v iptables >/dev/null || need+=(iptables)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "fault-suite: missing ${need[*]} (run as root or apt-get install them)" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq "${need[@]}" >/dev/null
fi

start=$(date +%s)
eval "$("$here/build-images.sh" | grep -E '^(MESOS|ZK)_IMAGE=')"
export MESOS_IMAGE ZK_IMAGE
echo "fault-suite: images ready after $(( $(date +%s) - start ))s"

cleanup() {
  docker rm -f "${project}_probe" >/dev/null 2>&1 || true
  compose down -v --remove-orphans -t 1 >/dev/null 2>&1 || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM
cleanup  # leftovers of an interrupted run
compose up -d --quiet-pull 2>&1 | grep -v '^Creating' || true

rc=0
python3 "$here/cluster.py" suite --project "$project" --net "$MESOS_NET" "$@" || rc=$?
echo "fault-suite: finished in $(( $(date +%s) - start ))s"
exit $rc
