#!/usr/bin/env python3
"""The demo cluster's driver: `status` (leader, agents, tasks) and `suite` (the
container-level fault suite). Talks to the cluster's containers only: docker-compose /
docker CLI for faults (and, for faults Docker has no command for, a SIGKILL or an iptables
rule applied from the host to a container's process or network namespace), each master's
HTTP API at its fixed address on the compose network (the host routes to Docker bridge
networks), and each agent container's /proc for what really runs there. Every wait polls
with a bounded timeout; nothing sleeps to synchronise.

Usage (normally through docker/demo.sh and docker/fault-suite.sh):
    cluster.py status   [--project P] [--net 172.30.50]
    cluster.py suite    [--project P] [--net 172.30.51] [--only NAME,...]
"""

import argparse
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
COMPOSE_FILE = os.path.join(HERE, "docker-compose.yml")
MASTERS = ["master1", "master2", "master3"]
AGENTS = ["agent1", "agent2", "agent3"]
FRAMEWORK = "long-lived-framework"
TERMINAL = {
    "TASK_FINISHED", "TASK_FAILED", "TASK_KILLED", "TASK_LOST", "TASK_ERROR",
    "TASK_DROPPED", "TASK_GONE", "TASK_GONE_BY_OPERATOR",
}
# Bounds of the waits (generous for a loaded 2-core machine; a healthy run is far below).
LIMIT = float(os.environ.get("MESOS_DOCKER_WAIT", "60"))
POLL = 0.2
# How long chaos_master_stall stalls the leader: three of the masters' 5 s ZooKeeper
# sessions.
STALL_SECONDS = 15
# How many tasks chaos_dropped_acks kills (on different agents) while acknowledgements are
# dropped.
ACK_VICTIMS = 2
# The masters' --max_agent_ping_timeouts in docker-compose.yml.
MAX_PING_TIMEOUTS = 3
# How long a cluster must stay steady before a scenario starts: past the masters'
# --zk_session_timeout (5 s), so a lease that is about to run out has run out.
STABLE = float(os.environ.get("MESOS_DOCKER_STABLE", "7"))


class Failure(Exception):
    """A scenario's expectation did not hold."""


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


OPENER = urllib.request.build_opener(NoRedirect)


def http_get(url, timeout=2.0):
    """(status code, body) of a GET, without following redirects; (None, error) if none."""
    try:
        with OPENER.open(url, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()
    except (OSError, ValueError) as e:
        return None, str(e)


class Cluster:
    def __init__(self, project, net):
        self.project = project
        self.net = net
        self.network = f"{project}_mesos"
        self.ips = {"zk": f"{net}.2", "framework": f"{net}.31"}
        for i, m in enumerate(MASTERS, 1):
            self.ips[m] = f"{net}.1{i}"
        for i, a in enumerate(AGENTS, 1):
            self.ips[a] = f"{net}.2{i}"

    # ---- docker ----------------------------------------------------------------------
    def compose(self, *args, check=True, capture=False):
        cmd = ["docker-compose", "-p", self.project, "-f", COMPOSE_FILE, *args]
        env = dict(os.environ, MESOS_NET=self.net)
        r = subprocess.run(cmd, env=env, text=True,
                           stdout=subprocess.PIPE if capture else None,
                           stderr=subprocess.PIPE if capture else None)
        if check and r.returncode != 0:
            raise Failure(f"{' '.join(cmd)} failed ({r.returncode}): {r.stderr or ''}")
        return r

    def docker(self, *args, check=True, timeout=120):
        r = subprocess.run(["docker", *args], text=True, capture_output=True, timeout=timeout)
        if check and r.returncode != 0:
            raise Failure(f"docker {' '.join(args)} failed ({r.returncode}): {r.stderr.strip()}")
        return r

    def container(self, service):
        return f"{self.project}_{service}_1"

    def inspect(self, service):
        r = self.docker("inspect", self.container(service), check=False)
        if r.returncode != 0:
            return None
        return json.loads(r.stdout)[0]

    def logs(self, service, tail=None):
        args = ["logs"] + (["--tail", str(tail)] if tail else []) + [self.container(service)]
        r = self.docker(*args, check=False)
        return r.stdout + r.stderr

    # ---- HTTP ------------------------------------------------------------------------
    def master_url(self, master, path):
        return f"http://{self.ips[master]}:5050{path}"

    def published(self, service, port=5050):
        """'host:port' where the host reaches `service`'s `port` (docker port), or None."""
        r = self.docker("port", self.container(service), str(port), check=False)
        lines = [x for x in r.stdout.split() if x.startswith(("127.", "0.0.0.0", "["))]
        return lines[0].replace("0.0.0.0", "127.0.0.1") if r.returncode == 0 and lines else None

    def leaders(self, timeout=1.5):
        """[(master, /master/state)] of every master answering /master/state with 200
        (only a leader does; the others redirect with 307)."""
        out = []
        for m in MASTERS:
            code, body = http_get(self.master_url(m, "/master/state"), timeout)
            if code == 200:
                try:
                    out.append((m, json.loads(body)))
                except ValueError:
                    pass
        return out

    def wait(self, what, pred, limit=LIMIT, on_poll=None):
        """Polls the leading master's state until pred(master, state) is true."""
        deadline = time.monotonic() + limit
        last = None
        while time.monotonic() < deadline:
            ls = self.leaders()
            if on_poll:
                on_poll(ls)
            if len(ls) == 1:
                m, s = ls[0]
                last = s
                if pred(m, s):
                    return m, s
            time.sleep(POLL)  # polling containers we do not control: no event to wait for
        raise Failure(f"timed out after {limit:.0f}s waiting for {what}; "
                      f"last leader state: {summary(last) if last else 'no single leader'}")

    def probe(self, name, limit=LIMIT):
        """Runs mesos-execute in a fresh container on the network against ZooKeeper; the
        cluster accepts work when its task finishes (exit code 0)."""
        image = os.environ.get("MESOS_IMAGE", "mesos-rs/mesos:latest")
        cmd = ["run", "--rm", "--network", self.network, "--name", f"{self.project}_probe",
               image, "timeout", str(int(limit)), "mesos-execute",
               "--master=zk://zk:2181/mesos", f"--name={name}",
               "--command=echo probe ok", "--resources=cpus:0.1;mem:16"]
        r = self.docker(*cmd, check=False, timeout=limit + 30)
        if r.returncode != 0:
            raise Failure(f"mesos-execute probe {name} failed ({r.returncode}):\n"
                          f"{(r.stdout + r.stderr)[-2000:]}")

    def disconnect(self, service):
        self.docker("network", "disconnect", "-f", self.network, self.container(service))

    def connect(self, service, check=True):
        """Puts `service` back on the network at its fixed address (idempotent with
        check=False: connecting a connected container fails harmlessly)."""
        self.docker("network", "connect", "--ip", self.ips[service], self.network,
                    self.container(service), check=check)

    def sigkill(self, service):
        """SIGKILLs the container's init process from the host (no round trip through the
        Docker daemon, so it lands within microseconds); with `init: true` that is
        docker-init, and its death kills every process of the container at once."""
        info = self.inspect(service)
        pid = info["State"]["Pid"] if info else 0
        if pid <= 0:
            raise Failure(f"{service} is not running")
        try:
            os.kill(pid, signal.SIGKILL)
        except PermissionError:
            self.docker("kill", self.container(service))

    def task_processes(self, agent):
        """{(framework id, task id): [(pid, "task" | "executor"), ...]} of the processes in
        `agent`'s container that belong to a task: the task's own (MESOS_TASK_ID in its
        environment) and its command executor (MESOS_EXECUTOR_ID, the task id for a command
        task). Read from /proc inside the container: what really runs, not what a master
        believes."""
        script = (
            "for d in /proc/[0-9]*; do "
            "v=$(tr '\\0' '\\n' < \"$d/environ\" 2>/dev/null"
            " | grep -E '^MESOS_(FRAMEWORK|EXECUTOR|TASK)_ID=' | tr '\\n' ' '); "
            "[ -n \"$v\" ] && echo \"${d#/proc/} $v\"; done; true")
        r = self.docker("exec", self.container(agent), "sh", "-c", script, check=False)
        if r.returncode != 0:
            raise Failure(f"cannot list the processes of {agent}: {r.stderr.strip()}")
        out = {}
        for line in r.stdout.splitlines():
            pid, *pairs = line.split()
            env = dict(p.split("=", 1) for p in pairs if "=" in p)
            fid = env.get("MESOS_FRAMEWORK_ID")
            tid = env.get("MESOS_TASK_ID") or env.get("MESOS_EXECUTOR_ID")
            kind = "task" if "MESOS_TASK_ID" in env else "executor"
            if fid and tid:
                out.setdefault((fid, tid), []).append((int(pid), kind))
        return out

    def update_streams(self, agent):
        """{(framework id, task id): [record, ...]} of the status update streams `agent`
        checkpointed (every `task.updates` log under its meta/ directory, read in its
        container): each record {"type": "UPDATE", "update": ...} or {"type": "ACK",
        "uuid": ...}, in order. A log is 4-byte big-endian lengths, each followed by that
        many bytes of JSON; a torn last record (being written) is left out."""
        script = ("find /var/lib/mesos/meta -name task.updates | while read -r f; do "
                  "echo \"$f $(wc -c < \"$f\")\"; cat \"$f\"; done; true")
        r = subprocess.run(["docker", "exec", self.container(agent), "sh", "-c", script],
                           capture_output=True, timeout=60)
        if r.returncode != 0:
            raise Failure(f"cannot read the update logs of {agent}: {r.stderr.decode().strip()}")
        out, data, at = {}, r.stdout, 0
        while at < len(data):
            end = data.index(b"\n", at)
            path, size = data[at:end].decode().rsplit(" ", 1)
            body = data[end + 1:end + 1 + int(size)]
            at = end + 1 + int(size)
            parts = path.split("/")
            key = (parts[parts.index("frameworks") + 1], parts[parts.index("tasks") + 1])
            records, off = out.setdefault(key, []), 0
            while off + 4 <= len(body):
                n = int.from_bytes(body[off:off + 4], "big")
                if off + 4 + n > len(body):
                    break
                records.append(json.loads(body[off + 4:off + 4 + n]))
                off += 4 + n
        return out

    def metric(self, master, name):
        """`name` in `master`'s /metrics/snapshot (None if it does not answer)."""
        code, body = http_get(self.master_url(master, "/metrics/snapshot"))
        return json.loads(body).get(name, 0) if code == 200 else None

    def block(self, service, dest):
        """Drops every packet `service` sends to `dest` (iptables in the container's
        network namespace, entered from the host; other traffic flows). Gone with the
        container's network namespace; the returned undo() removes it early."""
        info = self.inspect(service)
        pid = str(info["State"]["Pid"]) if info else "0"
        rule = ["OUTPUT", "-d", f"{self.ips[dest]}/32", "-j", "DROP"]
        ns = ["nsenter", "-t", pid, "-n", "iptables"]
        r = subprocess.run(ns + ["-I"] + rule, text=True, capture_output=True)
        if r.returncode != 0:
            raise Failure(f"cannot block {service}'s packets to {dest} "
                          f"(needs root, nsenter, iptables): {r.stderr.strip()}")

        def undo():
            subprocess.run(ns + ["-D"] + rule, capture_output=True)
        return undo


class LogTrigger:
    """Follows a container's log from now on and runs `action` (once, on the reading
    thread, so with no delay) on the first line containing every string of `needle`."""

    def __init__(self, c, service, needle, action):
        self.needle = (needle,) if isinstance(needle, str) else tuple(needle)
        self.action = action
        self.fired = threading.Event()
        self.line = None
        self.error = None
        since = f"{time.time():.6f}"  # lines logged from now on only
        self.proc = subprocess.Popen(
            ["docker", "logs", "-f", "--since", since, c.container(service)],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        for line in self.proc.stdout:
            if all(n in line for n in self.needle):
                try:
                    self.action()
                except Failure as e:
                    self.error = e
                self.line = line.strip()
                self.fired.set()
                return

    def wait(self, what, limit=LIMIT):
        ok = self.fired.wait(limit)
        self.close()
        if self.error:
            raise self.error
        if not ok:
            raise Failure(f"timed out after {limit:.0f}s waiting for {what} "
                          f"({self.needle!r} in the log)")
        return self.line

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()


# ---- reading /master/state --------------------------------------------------------------
def framework(state, name=FRAMEWORK):
    fws = [f for f in state.get("frameworks", []) if f.get("name") == name]
    return fws[0] if len(fws) == 1 else None


def tasks_by_list(f):
    return {k: f.get(k, []) for k in ("tasks", "completed_tasks", "unreachable_tasks")}


def running(f):
    """{task id: agent id} of the framework's TASK_RUNNING tasks."""
    return {t["id"]: t["slave_id"] for t in f.get("tasks", []) if t.get("state") == "TASK_RUNNING"}


def active_agents(state):
    return {a["id"]: a.get("hostname") for a in state.get("slaves", []) if a.get("active")}


def summary(state):
    f = framework(state) or {}
    return json.dumps({
        "leader": state.get("leader"),
        "activated_slaves": state.get("activated_slaves"),
        "framework_connected": f.get("connected"),
        "tasks": {t["id"]: [t.get("state"), t.get("slave_id")] for t in f.get("tasks", [])},
        "completed": {t["id"]: t.get("state") for t in f.get("completed_tasks", [])},
        "unreachable": [t["id"] for t in f.get("unreachable_tasks", [])],
    })


def steady(n):
    """One leader, 3 active agents, the framework connected with n running tasks."""
    def pred(_m, s):
        f = framework(s)
        return (s.get("activated_slaves") == 3 and f is not None and f.get("connected")
                and len(running(f)) == n and len(f.get("tasks", [])) == n)
    return pred


def docker_time(ts):
    """Seconds since the epoch of a Docker timestamp (RFC 3339, nanoseconds, Z)."""
    ts = ts.strip().rstrip("Z")
    whole, _, frac = ts.partition(".")
    t = time.mktime(time.strptime(whole, "%Y-%m-%dT%H:%M:%S")) - time.timezone
    return t + float("0." + (frac or "0"))


def first_event(url, timeout=5.0):
    """The type of the first record of an operator SUBSCRIBE stream at `url` (RecordIO:
    '<length>\\n<json>'), or what went wrong."""
    req = urllib.request.Request(url, data=b'{"type":"SUBSCRIBE"}', method="POST",
                                 headers={"Content-Type": "application/json", "Accept": "application/json"})
    try:
        with OPENER.open(req, timeout=timeout) as r:
            length = int(r.readline().strip() or b"0")
            return json.loads(r.read(length)).get("type")
    except urllib.error.HTTPError as e:
        return f"HTTP {e.code}"
    except (OSError, ValueError) as e:
        return f"no stream ({e})"


# ---- status -------------------------------------------------------------------------------
def status(c):
    ls = c.leaders()
    if not ls:
        print("no leading master answers (is the cluster up? docker/demo.sh up)")
        return 1
    for m, s in ls:
        print(f"leader: {m} {s.get('leader')} (cluster {s.get('cluster') or '-'}, "
              f"elected {s.get('elected_time')})")
    _, s = ls[0]
    print(f"front door: http://{c.published('front') or '(not published)'}/ (web UI and API of the leader)")
    print("masters:")
    for m in MASTERS:
        info = c.inspect(m)
        st = info["State"]["Status"] if info else "absent"
        code, _ = http_get(c.master_url(m, "/master/state"), 1.0)
        role = {200: "leading", 307: "standby"}.get(code, f"no answer ({code})")
        print(f"  {m:8} {c.ips[m]:15} host {c.published(m) or '-':16} container {st:8} {role}")
    print(f"agents ({s.get('activated_slaves')} active):")
    for a in sorted(s.get("slaves", []), key=lambda a: a.get("hostname", "")):
        attrs = ";".join(f"{k}:{v}" for k, v in sorted((a.get("attributes") or {}).items()))
        print(f"  {a.get('hostname', '?'):8} {a.get('pid', '?'):30} {attrs:20} "
              f"{'active' if a.get('active') else 'inactive'}  {a['id']}")
    hosts = {a["id"]: a.get("hostname") for a in s.get("slaves", [])}
    for f in s.get("frameworks", []):
        print(f"framework {f.get('name')} {f.get('id')} "
              f"({'connected' if f.get('connected') else 'disconnected'}):")
        for t in sorted(f.get("tasks", []), key=lambda t: t["id"]):
            print(f"  {t['id']:16} {t.get('state'):14} on {hosts.get(t.get('slave_id'), t.get('slave_id'))}")
        done = f.get("completed_tasks", [])
        if done:
            print(f"  ({len(done)} completed: "
                  + ", ".join(f"{t['id']} {t.get('state')}" for t in done[-10:]) + ")")
    return 0


# ---- the fault suite ----------------------------------------------------------------------
class Suite:
    def __init__(self, c, n):
        self.c = c
        self.n = n
        # Every task id ever seen, and the terminal state it reached (at most one, never
        # left again).
        self.terminal = {}

    def check(self, state):
        """The invariants on one leader state: each task is in exactly one list, a task
        in completed_tasks is terminal with exactly one terminal status, a task that
        reached a terminal state never comes back and never reaches another."""
        f = framework(state)
        if f is None:
            return  # not registered yet (the steady predicate waits for it)
        where = {}
        for lst, ts in tasks_by_list(f).items():
            for t in ts:
                if t["id"] in where:
                    raise Failure(f"task {t['id']} is in both {where[t['id']]} and {lst}")
                where[t["id"]] = lst
                st = t.get("state")
                terms = [x["state"] for x in t.get("statuses", []) if x.get("state") in TERMINAL]
                if len(set(terms)) > 1:
                    raise Failure(f"task {t['id']} has several terminal statuses: {terms}")
                if lst == "completed_tasks" and st not in TERMINAL:
                    raise Failure(f"completed task {t['id']} is in non-terminal {st}")
                if st in TERMINAL:
                    prev = self.terminal.setdefault(t["id"], st)
                    if prev != st:
                        raise Failure(f"task {t['id']} reached {prev}, now {st}")
                elif t["id"] in self.terminal:
                    raise Failure(f"task {t['id']} reached {self.terminal[t['id']]} "
                                  f"and is now {st} again")

    def check_framework_log(self):
        """From the scheduler's side: no task gets two different terminal states, and no
        task is reported active after its terminal state."""
        final = {}
        for line in self.c.logs("framework").splitlines():
            parts = line.split()
            if len(parts) >= 6 and parts[0] == "Task" and parts[2:5] == ["is", "in", "state"]:
                tid, st = parts[1], parts[5]
                if tid in final and final[tid] != st:
                    if final[tid] == "TASK_LOST" and st in TERMINAL:
                        # The kill of a task lost with its unreachable agent, once the agent
                        # is back: Mesos forwards it; TASK_LOST is not final for a
                        # non-partition-aware framework. Running again would be a failure.
                        continue
                    if st in TERMINAL:
                        raise Failure(f"framework saw {tid} {final[tid]} then {st}")
                    raise Failure(f"framework saw {tid} {final[tid]} then {st} again")
                if st in TERMINAL:
                    final[tid] = st

    def wait_steady(self, what, limit=LIMIT, on_poll=None, hold=0.0):
        """Waits until one leader shows every agent and the framework with its n tasks.
        With `hold`, that must then stay so, under the same leader, for `hold` seconds:
        a fault can leave churn behind (before issue 10, a leader whose ZooKeeper client
        reconnected after a restart stopped renewing its lease and exited seconds later),
        and the next fault must not land in the middle of it."""
        def pred(m, s):
            self.check(s)
            return steady(self.n)(m, s)
        deadline = time.monotonic() + limit
        while True:
            m, s = self.c.wait(what, pred, max(deadline - time.monotonic(), POLL), on_poll)
            since = time.monotonic()
            while time.monotonic() - since < hold:
                ls = self.c.leaders()
                if on_poll:
                    on_poll(ls)
                if len(ls) != 1 or ls[0][0] != m or not pred(*ls[0]):
                    break
                s = ls[0][1]
                time.sleep(POLL)  # watching that nothing changes: no event to wait for
            else:
                break
            if time.monotonic() > deadline:
                raise Failure(f"timed out after {limit:.0f}s waiting for {what} to hold "
                              f"for {hold:.0f}s")
        self.check_framework_log()
        return m, s

    def single_leader_guard(self, why):
        def on_poll(ls):
            if len(ls) > 1:
                raise Failure(f"{why}: two masters lead at once: {[m for m, _ in ls]}")
        return on_poll

    def wait_container_running(self, service, limit=LIMIT):
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            info = self.c.inspect(service)
            if info and info["State"]["Running"] and not info["State"]["Paused"]:
                code, _ = http_get(self.c.master_url(service, "/master/health"), 1.0) \
                    if service in MASTERS else (200, b"")
                if code == 200:
                    return info
            time.sleep(POLL)
        raise Failure(f"{service} did not come back within {limit:.0f}s")

    def wait_standby(self, master, limit=LIMIT):
        """Waits until `master` redirects leader-only requests (307) to the leader: it
        runs, knows the leader and does not lead."""
        deadline = time.monotonic() + limit
        code = None
        while time.monotonic() < deadline:
            code, _ = http_get(self.c.master_url(master, "/master/state"), 1.0)
            if code == 307:
                return
            if code == 200:
                raise Failure(f"{master} leads, expected it to be a standby")
            time.sleep(POLL)
        raise Failure(f"{master} did not turn standby (307) within {limit:.0f}s; last answer {code}")

    def told_lost(self):
        """Ids of the tasks the framework was told are TASK_LOST (from its log)."""
        lost = set()
        for line in self.c.logs("framework").splitlines():
            parts = line.split()
            if (len(parts) >= 6 and parts[0] == "Task" and parts[2:5] == ["is", "in", "state"]
                    and parts[5] == "TASK_LOST"):
                lost.add(parts[1])
        return lost

    def agent_problems(self):
        """What the agents' containers really run that they should not, or do not run
        that the leader believes they do (the framework's tasks only)."""
        ls = self.c.leaders()
        if len(ls) != 1:
            return [f"no single leader ({[m for m, _ in ls]})"], 0
        s = ls[0][1]
        f = framework(s)
        if f is None:
            return ["the framework is not registered"], 0
        host = {a["id"]: a.get("hostname") for a in s.get("slaves", [])}
        expected = {a: set() for a in AGENTS}
        for t in f.get("tasks", []):
            h = host.get(t.get("slave_id"))
            if h in expected:
                expected[h].add(t["id"])
        lost = self.told_lost()
        problems = []
        for a in AGENTS:
            procs = {tid for (fid, tid) in self.c.task_processes(a) if fid == f["id"]}
            if procs & lost:
                problems.append(f"{a} still runs task(s) the framework was told are "
                                f"TASK_LOST: {sorted(procs & lost)}")
            extra = procs - expected[a] - lost
            if extra:
                problems.append(f"{a} runs task(s) the leader does not show there "
                                f"(duplicated or leaked): {sorted(extra)}")
            missing = expected[a] - procs
            if missing:
                problems.append(f"the leader shows {sorted(missing)} on {a}, which runs "
                                f"no process of them")
        return problems, len(lost)

    def check_agents(self, limit=LIMIT):
        """The invariant on the agents' processes, checked after every scenario: every
        task the framework was told is TASK_LOST is gone from every agent, and each agent
        runs exactly the framework's tasks the leader shows there (none twice, no leaked
        executor). Polls (bounded): a kill or an exit may still be under way."""
        deadline = time.monotonic() + limit
        while True:
            problems, lost = self.agent_problems()
            if not problems:
                return lost
            if time.monotonic() > deadline:
                raise Failure(f"agents' processes after {limit:.0f}s: " + "; ".join(problems))
            time.sleep(POLL)  # polling containers we do not control: no event to wait for

    def lost_guard(self, tasks, guard):
        """on_poll for a wait: `guard`, and none of `tasks` the framework was told are
        TASK_LOST (as of now) runs again in the leader's view."""
        lost = self.told_lost() & set(tasks)

        def on_poll(ls):
            guard(ls)
            for m, s in ls:
                back = lost & set(running(framework(s) or {}))
                if back:
                    raise Failure(f"{m} shows task(s) the framework was told are TASK_LOST "
                                  f"running again: {sorted(back)}")
        return on_poll

    def kill_leader(self, m0, s0, after_failover=None):
        """SIGKILLs leading master m0 (whose steady state was s0) and waits for a
        successor with the same framework id and the same tasks on the same agents
        (then calls after_failover(successor, its state), m0 still dead), then
        restarts m0 and waits for it to rejoin as a standby. Returns (successor, tasks)."""
        before = running(framework(s0))
        fid = framework(s0)["id"]
        self.c.docker("kill", self.c.container(m0))
        guard = self.single_leader_guard(f"after the kill of {m0}")

        def new_leader(m, s):
            self.check(s)
            return m != m0 and steady(self.n)(m, s)
        m1, s1 = self.c.wait(f"a new leader other than {m0} with {self.n} running tasks",
                             new_leader, on_poll=guard)
        after = running(framework(s1))
        if framework(s1)["id"] != fid:
            raise Failure(f"framework id changed: {fid} -> {framework(s1)['id']}")
        if after != before:
            raise Failure(f"tasks changed over the failover: {before} -> {after}")
        if after_failover:
            after_failover(m1, s1)
        self.rejoin(m0, guard)
        return m1, after

    def rejoin(self, m0, guard):
        """Starts killed master m0 again; waits until it is a standby of a steady cluster."""
        self.c.docker("start", self.c.container(m0))
        self.wait_container_running(m0)
        self.wait_standby(m0)
        self.wait_steady(f"a steady cluster after {m0} rejoined", on_poll=guard)

    def cut_off(self, agent, aid, cut, isolate=None, heal=None):
        """Disconnects `agent` from the network (or runs `isolate`) and waits until the
        leader marked it unreachable and the framework replaced its tasks `cut` elsewhere.
        Reconnects it (or runs `heal`) if that does not happen; else the caller does."""
        isolate = isolate or (lambda: self.c.disconnect(agent))
        heal = heal or (lambda: self.c.connect(agent, check=False))
        isolate()
        try:
            def removed(_m, s):
                self.check(s)
                f = framework(s)
                gone = all(t not in running(f) for t in cut)
                return gone and aid not in active_agents(s) and len(running(f)) == self.n
            _, s = self.c.wait(f"{agent} marked unreachable and its {len(cut)} task(s) "
                               f"replaced elsewhere", removed)
        except BaseException:
            heal()
            raise
        return s

    def busiest_agent(self, s):
        """(service, agent id, its running task ids) of the agent running most tasks."""
        f = framework(s)
        by_host = {a["id"]: a.get("hostname") for a in s.get("slaves", [])}
        counts = {}
        for tid, aid in running(f).items():
            counts.setdefault(aid, set()).add(tid)
        aid = max(counts, key=lambda a: len(counts[a]))
        return by_host[aid], aid, counts[aid]

    # -- scenarios ----------------------------------------------------------------------
    def front_door(self, m1, s1, limit=LIMIT):
        """The front door's host port gives leader m1's web UI, /master/state (its master
        id) and operator event stream (SUBSCRIBED first), as a browser on the host gets
        them. Returns the front door's address."""
        front = self.c.published("front")
        if not front:
            raise Failure("the front door's port is not published")
        deadline = time.monotonic() + limit
        why = ""
        while time.monotonic() < deadline:
            code, body = http_get(f"http://{front}/master/state")
            if code != 200:
                why = f"/master/state answered {code}: {body[:200]!r}"
            elif json.loads(body).get("id") != s1["id"]:
                why = f"/master/state is master {json.loads(body).get('id')}, not {m1}'s {s1['id']}"
            else:
                code, page = http_get(f"http://{front}/")
                event = first_event(f"http://{front}/api/v1")
                if code == 200 and b'type="module"' in page and event == "SUBSCRIBED":
                    return front
                why = f"the web UI page answered {code}, the event stream began with {event}"
            time.sleep(POLL)  # the front door picks the leader per connection: poll it
        raise Failure(f"the front door {front} does not give the new leader {m1}: {why}")

    def master_kill(self):
        m0, s0 = self.wait_steady("a steady cluster", hold=STABLE)
        fronts = []
        m1, after = self.kill_leader(m0, s0, lambda m1, s1: fronts.append(self.front_door(m1, s1)))
        self.c.probe("probe-master-kill")
        return (f"{m0} killed, {m1} leads, {len(after)} tasks kept their ids and agents; "
                f"the front door {fronts[0]} gives {m1}'s web UI, state and event stream")

    def master_pause(self):
        return self.leader_silenced(
            "paused",
            lambda m0: self.c.docker("pause", self.c.container(m0)),
            lambda m0: self.c.docker("unpause", self.c.container(m0), check=False))

    def chaos_master_stall(self):
        """master_pause with a live fault rule instead of `docker pause`: the leader's
        master process stalls (mesos-chaos scenario stall-master) for three ZooKeeper
        sessions (5 s each here); the stall ends on its own."""
        def stall(m0):
            self.chaos(m0, "scenario", "stall-master",
                       f"--master={self.c.ips[m0]}:5050", f"--seconds={STALL_SECONDS}")
        return "live rules: " + self.leader_silenced("stalled", stall, lambda _m0: None)

    def chaos_dropped_acks(self):
        """The leader drops the acknowledgements it relays to the agents (mesos-chaos
        scenario drop-acknowledgements: the scheduler's acks reach it, its copies to the
        agents do not) while ACK_VICTIMS tasks are killed and replaced; the rule is lifted
        once the agents are seen holding those updates unacknowledged. The agents retry
        them (--status_update_retry_interval_min=2secs here), the framework acknowledges
        again and now the acks arrive: every update in every agent's task.updates log ends
        acknowledged exactly once, and no task is lost."""
        m0, s0 = self.wait_steady("a steady cluster", hold=STABLE)
        f0 = framework(s0)
        fid, before = f0["id"], running(f0)
        host = {a["id"]: a.get("hostname") for a in s0.get("slaves", [])}

        def streams():
            """{(agent, task id): (update uuids, ack uuids, last state)} of the framework."""
            out = {}
            for a in AGENTS:
                for (f, tid), recs in self.c.update_streams(a).items():
                    if f != fid:
                        continue
                    ups = [json.dumps(r["update"]["status"].get("uuid")) for r in recs
                           if r.get("type") == "UPDATE"]
                    acks = [json.dumps(r.get("uuid")) for r in recs if r.get("type") == "ACK"]
                    last = [r["update"]["status"].get("state") for r in recs
                            if r.get("type") == "UPDATE"][-1:]
                    out[(a, tid)] = (ups, acks, last[0] if last else None)
            return out

        def unacked(st):
            return {k for k, (ups, acks, _) in st.items() if set(ups) - set(acks)}
        held0 = unacked(streams())
        if held0:
            raise Failure(f"updates unacknowledged before the fault: {sorted(held0)}")
        # ACK_VICTIMS tasks, taken in turn from each agent running some; their processes.
        queues = {}
        for tid, aid in sorted(before.items()):
            queues.setdefault(host[aid], []).append(tid)
        victims = {}
        while len(victims) < min(ACK_VICTIMS, len(before)):
            for a, q in sorted(queues.items()):
                if q and len(victims) < ACK_VICTIMS:
                    victims[q.pop(0)] = a
        pids = {}
        for tid, a in victims.items():
            procs = self.c.task_processes(a).get((fid, tid), [])
            pids[tid] = [str(p) for p, kind in procs if kind == "task"]
            if not pids[tid]:
                raise Failure(f"no process of task {tid} on {a}")
        dropped0 = self.c.metric(m0, "fault/messages_dropped") or 0
        master = f"{self.c.ips[m0]}:5050"
        self.chaos(m0, "scenario", "drop-acknowledgements", f"--master={master}")
        try:
            for tid, a in victims.items():
                self.c.docker("exec", self.c.container(a), "kill", "-9", *pids[tid])
            # Held: each victim's terminal update and each replacement's first update sit
            # unacknowledged at the agents, their acks dropped by the leader; and held on
            # through a retry of each (its ack dropped too) before the rule goes.
            deadline = time.monotonic() + LIMIT
            while True:
                st = streams()
                held = unacked(st)
                dropped = (self.c.metric(m0, "fault/messages_dropped") or 0) - dropped0
                ended = {t for (a, t) in held if t in victims and st[(a, t)][2] in TERMINAL}
                new = {t for (_a, t) in held if t not in before}
                if ended == set(victims) and len(new) >= len(victims) \
                        and dropped >= 2 * len(held):
                    break
                if time.monotonic() > deadline:
                    raise Failure(f"the acknowledgements were not held: unacknowledged "
                                  f"{sorted(held)}, {dropped} dropped by {m0}")
                time.sleep(POLL)  # polling containers we do not control
        finally:
            self.chaos(m0, "clear", master)
        lifted = time.monotonic()
        # The agents retry; the acknowledgements now arrive, each exactly once.
        deadline = lifted + LIMIT
        while unacked(st := streams()):
            if time.monotonic() > deadline:
                raise Failure(f"still unacknowledged {LIMIT:.0f}s after the rule was "
                              f"lifted: {sorted(unacked(st))}")
            time.sleep(POLL)  # polling containers we do not control
        acked_after = time.monotonic() - lifted
        for k, (ups, acks, _) in st.items():
            if len(acks) != len(set(acks)) or set(acks) != set(ups):
                raise Failure(f"stream {k} is not acknowledged exactly once: "
                              f"{len(ups)} update(s), acks {acks}")
        _, s1 = self.wait_steady(f"{len(victims)} killed task(s) replaced")
        after = running(framework(s1))
        for t, a in before.items():
            if t not in victims and after.get(t) != a:
                raise Failure(f"task {t} was disturbed: {a} -> {after.get(t)}")
        if any(t in after for t in victims) or len(set(after) - set(before)) != len(victims):
            raise Failure(f"killed {sorted(victims)}, now running {sorted(after)}")
        lost = self.told_lost() & (set(victims) | set(after))
        if lost:
            raise Failure(f"the framework was told TASK_LOST for {sorted(lost)}")
        # Retried: the framework heard each victim's end more than once (the first copy,
        # whose ack was dropped, and the agent's retries).
        told = {t: 0 for t in victims}
        for line in self.c.logs("framework").splitlines():
            parts = line.split()
            if (len(parts) >= 6 and parts[:1] == ["Task"] and parts[1] in told
                    and parts[5] in TERMINAL):
                told[parts[1]] += 1
        if any(n < 2 for n in told.values()):
            raise Failure(f"a held update was not re-sent to the framework: {told}")
        self.c.probe("probe-dropped-acks")
        return (f"{m0} dropped {dropped} ack(s) to the agents while {sorted(victims)} were "
                f"killed and replaced; lifted, all {len(st)} streams acknowledged exactly "
                f"once {acked_after:.1f}s later (ends told {sorted(told.values())} times)")

    def leader_silenced(self, how, silence, resume):
        """Silences the steady leader m0 with `silence(m0)` past its ZooKeeper session,
        waits for a successor, `resume(m0)`s it, and checks that m0 steps down."""
        m0, s0 = self.wait_steady("a steady cluster", hold=STABLE)
        before = running(framework(s0))
        info0 = self.c.inspect(m0)
        restarts0, started0 = info0["RestartCount"], info0["State"]["StartedAt"]
        silence(m0)
        try:
            def new_leader(m, s):
                self.check(s)
                return m != m0 and steady(self.n)(m, s)
            # A paused or stalled master cannot answer, so any 200 comes from another one.
            m1, s1 = self.c.wait(f"a new leader while {m0} is {how}", new_leader,
                                 on_poll=self.single_leader_guard(f"while {how}"))
        finally:
            resume(m0)
        if running(framework(s1)) != before:
            raise Failure(f"tasks changed: {before} -> {running(framework(s1))}")
        # Resumed, the old leader finds its session expired: it must exit (code 3, and
        # the restart policy brings it back as a standby) or stay non-leading.
        guard = self.single_leader_guard(f"after it is no longer {how}")
        deadline = time.monotonic() + LIMIT
        outcome = None
        while time.monotonic() < deadline and outcome is None:
            ls = self.c.leaders()
            guard(ls)
            if any(m == m0 for m, _ in ls):
                raise Failure(f"{m0} leads again after its session expired")
            info = self.c.inspect(m0)
            if info and (info["RestartCount"] != restarts0
                         or info["State"]["StartedAt"] != started0
                         or not info["State"]["Running"]):
                outcome = ("exited and was restarted by its restart policy"
                           if info["State"]["Running"] else
                           f"exited (code {info['State']['ExitCode']})")
            else:
                code, _ = http_get(self.c.master_url(m0, "/master/state"), 1.0)
                if code == 307 and "lost leadership" in self.c.logs(m0, tail=50):
                    outcome = "stays standby"
            time.sleep(POLL)
        if outcome is None:
            raise Failure(f"{m0} neither exited nor turned standby within {LIMIT:.0f}s")
        self.wait_container_running(m0)
        m2, s2 = self.wait_steady(f"a steady cluster after {m0} was {how}", on_poll=guard)
        if m2 == m0:
            raise Failure(f"{m0} leads again")
        if running(framework(s2)) != before:
            raise Failure(f"tasks changed: {before} -> {running(framework(s2))}")
        self.c.probe(f"probe-master-{how}")
        return f"{m0} {how} past its session, {m1} leads, {m0} {outcome}; tasks kept"

    def chaos(self, service, *args):
        """Runs `mesos-chaos` in `service`'s container; returns its output."""
        r = self.c.docker("exec", self.c.container(service), "mesos-chaos", *args, check=False)
        if r.returncode != 0:
            raise Failure(f"mesos-chaos {' '.join(args)} failed ({r.returncode}): "
                          f"{(r.stdout + r.stderr).strip()}")
        return r.stdout

    def agent_partition(self):
        return self.partition_agent_and_heal()

    def chaos_agent_partition(self):
        """agent_partition with live fault rules instead of the docker network: the
        leader and the agent each drop the other (mesos-chaos scenario partition-agent)."""
        m0, _ = self.wait_steady("a steady cluster")
        ips = self.c.ips

        def rules(agent):
            master, node = f"{ips[m0]}:5050", f"{ips[agent]}:5051"
            isolate = lambda: self.chaos(m0, "scenario", "partition-agent",
                                         f"--master={master}", f"--agent={node}")
            heal = lambda: self.chaos(m0, "clear", master, node)
            return isolate, heal
        return "live rules: " + self.partition_agent_and_heal(rules)

    def partition_agent_and_heal(self, rules=None):
        """Cuts the busiest agent off (the docker network, or `rules(agent)`'s isolate
        and heal), waits until its tasks are replaced, heals, and checks that none of
        them runs again."""
        _, s0 = self.wait_steady("a steady cluster", hold=STABLE)
        agent, aid, cut = self.busiest_agent(s0)
        others = {t: a for t, a in running(framework(s0)).items() if a != aid}
        isolate, heal = rules(agent) if rules else (None, None)
        s1 = self.cut_off(agent, aid, cut, isolate, heal)
        if heal:
            heal()
        else:
            self.c.connect(agent)
        f1 = framework(s1)
        states = {t["id"]: t["state"] for t in f1.get("completed_tasks", []) + f1.get("unreachable_tasks", [])}
        if any(t not in states for t in cut):
            raise Failure(f"partitioned tasks {cut} not all accounted: {states}")
        for t, a in others.items():
            if running(f1).get(t) != a:
                raise Failure(f"task {t} on a healthy agent was disturbed")
        _, s2 = self.wait_steady(f"{agent} back and {self.n} running tasks",
                                 on_poll=self.lost_guard(cut, lambda _ls: None))
        f2 = framework(s2)
        if any(t in running(f2) for t in cut):
            raise Failure(f"a task lost with the partition runs again: {cut & set(running(f2))}")
        for t, a in others.items():
            if running(f2).get(t) != a:
                raise Failure(f"task {t} on a healthy agent was disturbed")
        self.c.probe("probe-agent-partition")
        return (f"{agent} cut off: {len(cut)} task(s) "
                f"{sorted(set(states[t] for t in cut))}, replaced; it rejoined")

    def agent_restart(self):
        _, s0 = self.wait_steady("a steady cluster", hold=STABLE)
        agent, aid, hit = self.busiest_agent(s0)
        others = {t: a for t, a in running(framework(s0)).items() if a != aid}
        self.c.docker("restart", "-t", "2", self.c.container(agent))
        # The restart killed every process in the container, executors and tasks too:
        # each of its tasks must reach a terminal state and be replaced elsewhere.

        def ended(_m, s):
            self.check(s)
            f = framework(s)
            done = {t["id"] for t in f.get("completed_tasks", []) if t.get("state") in TERMINAL}
            return hit <= done and steady(self.n)(_m, s)
        _, s1 = self.c.wait(f"the {len(hit)} task(s) of restarted {agent} ended and replaced",
                            ended)
        self.check_framework_log()
        f1 = framework(s1)
        done = {t["id"]: t["state"] for t in f1.get("completed_tasks", [])}
        for t, a in others.items():
            if running(f1).get(t) != a:
                raise Failure(f"task {t} on another agent was disturbed")
        if aid not in active_agents(s1):
            raise Failure(f"{agent} came back with a new agent id (old {aid})")
        self.c.probe("probe-agent-restart")
        ended = sorted(set(done[t] for t in hit if t in done))
        return f"{agent} restarted (same agent id); its {len(hit)} task(s) ended {ended}, replaced"

    def zk_restart(self):
        m0, s0 = self.wait_steady("a steady cluster", hold=STABLE)
        before = running(framework(s0))
        self.c.docker("restart", "-t", "2", self.c.container("zk"))
        guard = self.single_leader_guard("after the ZooKeeper restart")
        m1, s1 = self.wait_steady("a steady cluster after the ZooKeeper restart", on_poll=guard)
        if running(framework(s1)) != before:
            raise Failure(f"tasks changed: {before} -> {running(framework(s1))}")
        self.c.probe("probe-zk-restart")
        return f"ZooKeeper restarted; leader {m0} -> {m1}; {len(before)} tasks kept"

    def zk_restart_then_leader_kill(self):
        _, s = self.wait_steady("a steady cluster", hold=STABLE)
        before = running(framework(s))
        self.c.docker("restart", "-t", "2", self.c.container("zk"))
        guard = self.single_leader_guard("after the ZooKeeper restart")
        # Steady for a while after the restart: every session has reconnected, so the
        # kill below finds the standbys following ZooKeeper as they did before.
        m0, s0 = self.wait_steady("a steady cluster after the ZooKeeper restart",
                                  on_poll=guard, hold=STABLE)
        if running(framework(s0)) != before:
            raise Failure(f"tasks changed: {before} -> {running(framework(s0))}")
        m1, after = self.kill_leader(m0, s0)
        self.c.probe("probe-zk-restart-leader-kill")
        return f"ZooKeeper restarted, then {m0} killed: {m1} took over; {len(after)} tasks kept"

    def zk_restart_while_launching(self):
        m0, s0 = self.wait_steady("a steady cluster", hold=STABLE)
        f0 = framework(s0)
        fid, before = f0["id"], running(f0)
        host = {a["id"]: a.get("hostname") for a in s0.get("slaves", [])}
        # Three tasks, taken in turn from each agent running some: their processes die.
        queues = {}
        for tid, aid in sorted(before.items()):
            queues.setdefault(aid, []).append(tid)
        victims = {}
        while len(victims) < min(3, len(before)):
            for aid, q in sorted(queues.items()):
                if q and len(victims) < 3:
                    victims[q.pop(0)] = host[aid]
        pids = {}
        for a in set(victims.values()):
            procs = self.c.task_processes(a)
            for tid, agent in victims.items():
                if agent == a:
                    pids[tid] = [str(p) for p, kind in procs.get((fid, tid), []) if kind == "task"]
                    if not pids[tid]:
                        raise Failure(f"no process of task {tid} on {a}")
        # ZooKeeper goes down; then the tasks die, and it starts again once the framework
        # launches their replacements: they are launched while ZooKeeper restarts.
        t0 = time.time()
        self.c.docker("stop", "-t", "2", self.c.container("zk"))
        down = time.time() - t0
        launching = LogTrigger(self.c, "framework", "Launching", lambda: None)
        try:
            for tid, a in victims.items():
                self.c.docker("exec", self.c.container(a), "kill", "-9", *pids[tid])
            launching.wait("the framework to launch replacements while ZooKeeper is down")
        finally:
            launching.close()
            self.c.docker("start", self.c.container("zk"))
        guard = self.single_leader_guard("after the ZooKeeper restart")
        # Steady for a while: a master that loses its lease after the restart does so here.
        m1, s1 = self.wait_steady(f"{len(victims)} killed task(s) replaced after the "
                                  f"ZooKeeper restart", on_poll=guard, hold=STABLE)
        after = running(framework(s1))
        for t, a in before.items():
            if t not in victims and after.get(t) != a:
                raise Failure(f"task {t} was disturbed: {a} -> {after.get(t)}")
        new = set(after) - set(before)
        if any(t in after for t in victims) or len(new) != len(victims):
            raise Failure(f"killed {sorted(victims)}, now running {sorted(after)}")
        lost = self.told_lost() & (set(victims) | new)
        if lost:
            raise Failure(f"the framework was told TASK_LOST for {sorted(lost)}")
        # When the replacements were launched, against when ZooKeeper was back.
        logs = self.c.docker("logs", "-t", "--since", str(int(t0)), self.c.container("framework"))
        launches = [docker_time(line.split()[0]) - t0 for line in logs.stdout.splitlines()
                    if "Launching" in line]
        zk_up = docker_time(self.c.inspect("zk")["State"]["StartedAt"]) - t0
        self.c.probe("probe-zk-restart-launching")
        when = ", ".join(f"+{x:.1f}s" for x in launches)
        return (f"ZooKeeper stopped at +{down:.1f}s, {sorted(victims)} killed, launches at "
                f"{when}, ZooKeeper started at +{zk_up:.1f}s; {len(new)} replacement(s), "
                f"none lost; leader {m0} -> {m1}")

    def leader_kill_during_registry_write(self):
        m0, s0 = self.wait_steady("a steady cluster", hold=STABLE)
        agent, aid, cut = self.busiest_agent(s0)
        others = {t: a for t, a in running(framework(s0)).items() if a != aid}
        # Cut the busiest agent off. One ping round before the leader gives up on it, its
        # packets to ZooKeeper are dropped, so the registry write that marks the agent
        # unreachable cannot complete; the leader is SIGKILLed as soon as it logs the last
        # missed ping (the decision follows in the same step): during the write, which
        # never lands.
        undo = []
        blocker = LogTrigger(self.c, m0, ("agent missed a ping", aid,
                                          f"missed={MAX_PING_TIMEOUTS - 1}"),
                             lambda: undo.append(self.c.block(m0, "zk")))
        killer = LogTrigger(self.c, m0, ("agent missed a ping", aid,
                                         f"missed={MAX_PING_TIMEOUTS}"),
                            lambda: self.c.sigkill(m0))
        try:
            t0 = time.monotonic()
            self.c.disconnect(agent)
            blocker.wait(f"{m0} to count a second missed ping of {agent}")
            killer.wait(f"{m0} to mark {agent} unreachable")
            after_s = time.monotonic() - t0
        except BaseException:
            blocker.close()
            killer.close()
            for u in undo:
                u()
            self.c.connect(agent, check=False)
            raise
        guard = self.single_leader_guard(f"after the kill of {m0}")
        try:
            def successor(m, s):
                self.check(s)
                return (m != m0 and aid not in active_agents(s)
                        and s.get("unreachable_slaves", 0) >= 1)
            m1, _ = self.c.wait(f"a successor of {m0} that knows {agent} is unreachable",
                                successor, on_poll=guard, limit=2 * LIMIT)
        finally:
            self.c.connect(agent, check=False)
        _, s2 = self.wait_steady(f"{agent} back and {self.n} running tasks",
                                 on_poll=self.lost_guard(cut, guard))
        f2 = framework(s2)
        lost = self.told_lost() & cut
        for t in cut:
            if t in lost and t in running(f2):
                raise Failure(f"task {t} was reported TASK_LOST and runs again")
            if t not in lost and running(f2).get(t) != aid:
                raise Failure(f"task {t} was neither reported lost nor kept on {agent}")
        for t, a in others.items():
            if running(f2).get(t) != a:
                raise Failure(f"task {t} on a healthy agent was disturbed")
        self.rejoin(m0, guard)
        self.c.probe("probe-registry-write")
        return (f"{agent} cut off; {m0}, its packets to ZooKeeper dropped, SIGKILLed as it "
                f"marked {agent} unreachable ({after_s:.1f}s after the cut); {m1} took over; "
                f"{len(lost)} of {len(cut)} task(s) reported lost and gone, the rest kept")

    def partition_during_reregistration(self):
        m0, s0 = self.wait_steady("a steady cluster", hold=STABLE)
        agent, aid, cut = self.busiest_agent(s0)
        others = {t: a for t, a in running(framework(s0)).items() if a != aid}
        # Cut the agent off and kill the leader at once: the old leader has no time to
        # notice (ping timeout 3 s), so its successor recovers the agent from the registry
        # and waits for it to re-register, which it cannot until --agent_reregister_timeout.
        self.c.disconnect(agent)
        try:
            self.c.sigkill(m0)
            guard = self.single_leader_guard(f"after the kill of {m0}")

            def gave_up(m, s):
                self.check(s)
                return (m != m0 and aid not in active_agents(s)
                        and s.get("unreachable_slaves", 0) >= 1)
            m1, _ = self.c.wait(f"a successor of {m0} that gave up waiting for {agent}",
                                gave_up, on_poll=guard, limit=2 * LIMIT)
            if "did not re-register within --agent_reregister_timeout" not in self.c.logs(m1):
                raise Failure(f"{m1} did not wait for {agent} to re-register: the scenario "
                              f"did not happen as meant")
        finally:
            self.c.connect(agent, check=False)
        _, s2 = self.wait_steady(f"{agent} back and {self.n} running tasks",
                                 on_poll=self.lost_guard(cut, guard))
        f2 = framework(s2)
        lost = self.told_lost() & cut
        for t in cut:
            if t in lost and t in running(f2):
                raise Failure(f"task {t} was reported TASK_LOST and runs again")
            if t not in lost and running(f2).get(t) != aid:
                raise Failure(f"task {t} was neither reported lost nor kept on {agent}")
        for t, a in others.items():
            if running(f2).get(t) != a:
                raise Failure(f"task {t} on a healthy agent was disturbed")
        self.rejoin(m0, guard)
        self.c.probe("probe-partition-reregistration")
        return (f"{agent} cut off as {m0} died; {m1} marked it unreachable after "
                f"--agent_reregister_timeout; it rejoined: {len(lost)} of {len(cut)} task(s) "
                f"reported lost and gone, the rest kept")

    def two_partitions_reverse_heal(self):
        _, s0 = self.wait_steady("a steady cluster", hold=STABLE)
        a, a_id, a_cut = self.busiest_agent(s0)
        b = None
        try:
            s1 = self.cut_off(a, a_id, a_cut)
            # B: the busiest agent left (it runs some of A's replacements too).
            f1 = framework(s1)
            host = {x["id"]: x.get("hostname") for x in s1.get("slaves", [])}
            counts = {}
            for tid, aid in running(f1).items():
                counts.setdefault(aid, set()).add(tid)
            b_id = max(counts, key=lambda x: len(counts[x]))
            b, b_cut = host[b_id], counts[b_id]
            kept = {t: x for t, x in running(f1).items() if x != b_id}
            self.cut_off(b, b_id, b_cut)
            self.c.connect(b)

            def b_back(_m, s):
                self.check(s)
                act = active_agents(s)
                return b_id in act and a_id not in act and len(running(framework(s))) == self.n
            self.c.wait(f"{b} back while {a} is still cut off", b_back,
                        on_poll=self.lost_guard(a_cut | b_cut, lambda _ls: None))
        finally:
            self.c.connect(a, check=False)
            if b:
                self.c.connect(b, check=False)
        _, s2 = self.wait_steady(f"{a} back after {b}", on_poll=self.lost_guard(
            a_cut | b_cut, self.single_leader_guard("after the heals")))
        f2 = framework(s2)
        lost = self.told_lost()
        back = (a_cut | b_cut) & set(running(f2))
        if back & lost:
            raise Failure(f"task(s) reported TASK_LOST run again: {sorted(back & lost)}")
        for t, x in kept.items():
            if running(f2).get(t) != x:
                raise Failure(f"task {t} on the third agent was disturbed")
        self.c.probe("probe-two-partitions")
        return (f"{a} then {b} cut off ({len(a_cut)}+{len(b_cut)} task(s) replaced), "
                f"{b} healed first, then {a}")


SCENARIOS = ["master_kill", "master_pause", "agent_restart", "zk_restart", "agent_partition",
             "zk_restart_then_leader_kill", "zk_restart_while_launching",
             "leader_kill_during_registry_write", "partition_during_reregistration",
             "two_partitions_reverse_heal", "chaos_agent_partition", "chaos_master_stall",
             "chaos_dropped_acks"]
# Marathon's (docker/marathon.py).
SCENARIOS += ["marathon_leader_kill"]


def _marathon_leader_kill(self):
    """SIGKILL the leading marathon: see docker/marathon.py."""
    import marathon
    return marathon.leader_kill(self.c)


Suite.marathon_leader_kill = _marathon_leader_kill


# ---- Chronos ------------------------------------------------------------------------------
CHRONOS_JOBS = [
    ("iso8601", {"name": "hello", "command": "echo hello from chronos", "schedule": "R//PT30S",
                 "owner": "demo@example.com", "cpus": 0.1, "mem": 16, "disk": 0}),
    ("iso8601", {"name": "nightly-report", "command": "echo report", "owner": "demo@example.com",
                 "schedule": "R/2024-01-01T02:00:00Z/P1D", "scheduleTimeZone": "Europe/Berlin",
                 "constraints": [["rack", "EQUALS", "r1"]], "cpus": 0.1, "mem": 16, "disk": 0}),
    # The chain: extract -> transform -> load, each after its parent's success.
    ("iso8601", {"name": "extract", "command": "echo extract", "schedule": "R//PT10S",
                 "epsilon": "PT30S", "owner": "etl@example.com", "cpus": 0.1, "mem": 16,
                 "disk": 0}),
    ("dependency", {"name": "transform", "command": "echo transform", "parents": ["extract"],
                    "owner": "etl@example.com", "cpus": 0.1, "mem": 16, "disk": 0}),
    ("dependency", {"name": "load", "command": "echo load", "parents": ["transform"],
                    "owner": "etl@example.com", "cpus": 0.1, "mem": 16, "disk": 0}),
]


def chronos_url(c, path):
    return f"http://{c.net}.45:4400{path}"


def chronos_request(c, method, path, body=None, timeout=5.0):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(chronos_url(c, path), data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    try:
        with OPENER.open(req, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()
    except (OSError, ValueError) as e:
        return None, str(e)


def chronos_jobs(c, limit=LIMIT):
    """Adds (or replaces) the sample jobs once chronos leads (bounded wait)."""
    deadline = time.monotonic() + limit
    for kind, job in CHRONOS_JOBS:
        while True:
            code, body = chronos_request(c, "POST", f"/v1/scheduler/{kind}", job)
            if code == 204:
                break
            if time.monotonic() > deadline:
                raise Failure(f"chronos did not take job {job['name']}: {code} {body!r}")
            time.sleep(POLL)  # chronos starting or electing itself: no event to wait for


def chronos_counts(c):
    """{job: successCount} from chronos, or None while it does not answer."""
    code, body = chronos_request(c, "GET", "/v1/scheduler/jobs")
    if code != 200:
        return None
    return {j["name"]: j.get("successCount", 0) for j in json.loads(body)}


def chronos_wait(c, what, pred, limit=LIMIT):
    deadline = time.monotonic() + limit
    last = None
    while time.monotonic() < deadline:
        counts = chronos_counts(c)
        if counts is not None:
            last = counts
            if pred(counts):
                return counts
        time.sleep(POLL)  # polling a container we do not control: no event to wait for
    raise Failure(f"timed out after {limit:.0f}s waiting for {what}; last counts {last}")


def chronos_chain(self):
    """The sample jobs run: the chain extract -> transform -> load runs, each child after
    its parent; chronos's container is restarted (it recovers the jobs and the
    FrameworkID from ZooKeeper) and the chain keeps running; no run of a chronos task
    finished twice in the leader's record."""
    c = self.c
    chronos_jobs(c)
    first = chronos_wait(c, "the chain extract -> transform -> load to run",
                         lambda n: n.get("load", 0) >= 1)
    c.docker("restart", "-t", "1", c.container("chronos"))
    again = chronos_wait(c, "the chain to run again after chronos restarted",
                         lambda n: n.get("load", 0) > first["load"], limit=2 * LIMIT)
    if not again["load"] <= again["transform"] <= again["extract"]:
        raise Failure(f"a child ran more often than its parent: {again}")
    _, s = c.wait("the leader", lambda _m, _s: True)
    fws = [f for f in s.get("frameworks", []) if f.get("name") == "chronos"]
    if len(fws) != 1:
        raise Failure(f"expected one chronos framework (its FrameworkID kept), got {len(fws)}")
    finished = {}
    for t in fws[0].get("tasks", []) + fws[0].get("completed_tasks", []):
        if t.get("state") == "TASK_FINISHED":
            run = ":".join(t["id"].split(":")[3:])  # job and trigger, not the attempt
            finished[run] = finished.get(run, 0) + 1
    twice = sorted(r for r, n in finished.items() if n > 1)
    if twice:
        raise Failure(f"chronos runs finished twice: {twice}")
    return (f"chain ran {first['load']} time(s), chronos restarted, ran again "
            f"(extract {again['extract']}, transform {again['transform']}, load {again['load']})")


Suite.chronos_chain = chronos_chain
SCENARIOS_CHRONOS = ["chronos_chain"]


def recreate(c):
    """A fresh cluster after a failed scenario, so that the next ones are judged on their
    own: what a failure leaves behind (tasks running twice, a master that no longer
    follows ZooKeeper) would fail them too."""
    c.docker("rm", "-f", f"{c.project}_probe", check=False)
    c.compose("down", "-v", "--remove-orphans", "-t", "1", capture=True)
    c.compose("up", "-d", "--quiet-pull", capture=True)


def suite(c, n, only):
    s = Suite(c, n)
    passed = failed = 0
    names = [x for x in SCENARIOS + SCENARIOS_CHRONOS if not only or x in only]
    for name in names:
        t0 = time.monotonic()
        try:
            what = getattr(s, name)()
            lost = s.check_agents()
            what += f"; agents run exactly the leader's tasks ({lost} told lost, none left)"
            passed += 1
            print(f"PASS {name} ({time.monotonic() - t0:.1f}s): {what}", flush=True)
        except Failure as e:
            failed += 1
            print(f"FAIL {name} ({time.monotonic() - t0:.1f}s): {e}", flush=True)
            for svc in ["zk"] + MASTERS + ["front"] + AGENTS + ["framework"]:
                print(f"--- {svc} (log tail) ---\n{c.logs(svc, tail=15)}", flush=True)
            recreate(c)
            s = Suite(c, n)
    print(f"{passed} passed, {failed} failed", flush=True)
    return 1 if failed else 0


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("command", choices=["status", "suite", "chronos-jobs"])
    p.add_argument("--project", default="mesosdemo")
    p.add_argument("--net", default=os.environ.get("MESOS_NET", "172.30.50"))
    p.add_argument("--tasks", type=int, default=int(os.environ.get("MESOS_DEMO_TASKS", "6")))
    p.add_argument("--only", default="", help="comma-separated scenario names")
    a = p.parse_args()
    c = Cluster(a.project, a.net)
    if a.command == "status":
        return status(c)
    if a.command == "chronos-jobs":
        chronos_jobs(c)
        print(f"chronos jobs: {sorted(chronos_counts(c) or {})}")
        return 0
    return suite(c, a.tasks, set(filter(None, a.only.split(","))))


if __name__ == "__main__":
    sys.exit(main())
