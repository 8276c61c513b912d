#!/usr/bin/env python3
"""The demo cluster's driver: `status` (leader, agents, tasks) and `suite` (the
container-level fault suite). Talks to the cluster's containers only: docker-compose /
docker CLI for faults, and each master's HTTP API at its fixed address on the compose
network (the host routes to Docker bridge networks). Every wait polls with a bounded
timeout; nothing sleeps to synchronise.

Usage (normally through docker/demo.sh and docker/fault-suite.sh):
    cluster.py status   [--project P] [--net 172.30.50]
    cluster.py suite    [--project P] [--net 172.30.51] [--only NAME,...]
"""

import argparse
import json
import os
import subprocess
import sys
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
    ports = {"master1": 5050, "master2": 5060, "master3": 5070}
    print("masters:")
    for m in MASTERS:
        info = c.inspect(m)
        st = info["State"]["Status"] if info else "absent"
        code, _ = http_get(c.master_url(m, "/master/state"), 1.0)
        role = {200: "leading", 307: "standby"}.get(code, f"no answer ({code})")
        print(f"  {m:8} {c.ips[m]:15} host port {ports[m]}  container {st:8} {role}")
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
        self.seen = set()
        self.log_skip = 0  # framework log lines already judged by a failed scenario
        self.ignore = set()  # tasks a failed scenario touched

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
                if t["id"] in self.ignore:
                    continue
                if t["id"] in where:
                    raise Failure(f"task {t['id']} is in both {where[t['id']]} and {lst}")
                where[t["id"]] = lst
                self.seen.add(t["id"])
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
        for line in self.c.logs("framework").splitlines()[self.log_skip:]:
            parts = line.split()
            if len(parts) >= 6 and parts[0] == "Task" and parts[2:5] == ["is", "in", "state"]:
                tid, st = parts[1], parts[5]
                if tid in self.ignore:
                    continue
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

    def reset_history(self):
        """After a failed scenario: judge the next ones on their own (the tasks that
        scenario touched are left out of later checks)."""
        self.ignore |= self.seen
        for _m, st in self.c.leaders():
            for lst in tasks_by_list(framework(st) or {}).values():
                self.ignore |= {t["id"] for t in lst}
        self.log_skip = len(self.c.logs("framework").splitlines())

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
    def master_kill(self):
        m0, s0 = self.wait_steady("a steady cluster", hold=STABLE)
        before = running(framework(s0))
        fid = framework(s0)["id"]
        self.c.docker("kill", self.c.container(m0))
        guard = self.single_leader_guard("after the kill")

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
        self.c.docker("start", self.c.container(m0))
        self.wait_container_running(m0)
        self.wait_standby(m0)
        self.wait_steady("a steady cluster after the old leader rejoined", on_poll=guard)
        self.c.probe("probe-master-kill")
        return f"{m0} killed, {m1} leads, {len(after)} tasks kept their ids and agents"

    def master_pause(self):
        m0, s0 = self.wait_steady("a steady cluster", hold=STABLE)
        before = running(framework(s0))
        info0 = self.c.inspect(m0)
        restarts0, started0 = info0["RestartCount"], info0["State"]["StartedAt"]
        self.c.docker("pause", self.c.container(m0))
        try:
            def new_leader(m, s):
                self.check(s)
                return m != m0 and steady(self.n)(m, s)
            # A paused master cannot answer, so any 200 comes from another one.
            m1, s1 = self.c.wait(f"a new leader while {m0} is paused", new_leader,
                                 on_poll=self.single_leader_guard("while paused"))
        finally:
            self.c.docker("unpause", self.c.container(m0), check=False)
        if running(framework(s1)) != before:
            raise Failure(f"tasks changed: {before} -> {running(framework(s1))}")
        # Unpaused, the old leader finds its session expired: it must exit (code 3, and
        # the restart policy brings it back as a standby) or stay non-leading.
        guard = self.single_leader_guard("after the unpause")
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
        m2, s2 = self.wait_steady("a steady cluster after the unpause", on_poll=guard)
        if m2 == m0:
            raise Failure(f"{m0} leads again")
        if running(framework(s2)) != before:
            raise Failure(f"tasks changed: {before} -> {running(framework(s2))}")
        self.c.probe("probe-master-pause")
        return f"{m0} paused past its session, {m1} leads, {m0} {outcome}; tasks kept"

    def agent_partition(self):
        _, s0 = self.wait_steady("a steady cluster", hold=STABLE)
        agent, aid, cut = self.busiest_agent(s0)
        others = {t: a for t, a in running(framework(s0)).items() if a != aid}
        self.c.docker("network", "disconnect", "-f", self.c.network, self.c.container(agent))
        try:
            def removed(_m, s):
                self.check(s)
                f = framework(s)
                gone = all(t not in running(f) for t in cut)
                return gone and aid not in active_agents(s) and len(running(f)) == self.n
            _, s1 = self.c.wait(f"{agent} marked unreachable and its {len(cut)} task(s) "
                                f"replaced elsewhere", removed)
        finally:
            self.c.docker("network", "connect", "--ip", self.c.ips[agent], self.c.network,
                          self.c.container(agent), check=False)
        f1 = framework(s1)
        states = {t["id"]: t["state"] for t in f1.get("completed_tasks", []) + f1.get("unreachable_tasks", [])}
        if any(t not in states for t in cut):
            raise Failure(f"partitioned tasks {cut} not all accounted: {states}")
        for t, a in others.items():
            if running(f1).get(t) != a:
                raise Failure(f"task {t} on a healthy agent was disturbed")
        _, s2 = self.wait_steady(f"{agent} back and {self.n} running tasks")
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

    def zk_restart_then_master_kill(self):
        """ZooKeeper restarts; once the cluster is steady again the leader is SIGKILLed:
        the standbys went through the same restart and one must take over on its own."""
        m0, s0 = self.wait_steady("a steady cluster", hold=STABLE)
        before = running(framework(s0))
        fid = framework(s0)["id"]
        self.c.docker("restart", "-t", "2", self.c.container("zk"))
        guard = self.single_leader_guard("after the ZooKeeper restart")
        m1, s1 = self.wait_steady("a steady cluster after the ZooKeeper restart",
                                  on_poll=guard, hold=STABLE)
        if running(framework(s1)) != before:
            raise Failure(f"tasks changed: {before} -> {running(framework(s1))}")
        self.c.docker("kill", self.c.container(m1))

        def new_leader(m, s):
            self.check(s)
            return m != m1 and steady(self.n)(m, s)
        m2, s2 = self.c.wait(f"a leader other than the killed {m1}", new_leader,
                             on_poll=self.single_leader_guard("after the kill"))
        if framework(s2)["id"] != fid:
            raise Failure(f"framework id changed: {fid} -> {framework(s2)['id']}")
        if running(framework(s2)) != before:
            raise Failure(f"tasks changed over the failover: {before} -> {running(framework(s2))}")
        self.c.docker("start", self.c.container(m1))
        self.wait_container_running(m1)
        self.wait_standby(m1)
        self.wait_steady("a steady cluster after the killed leader rejoined",
                         on_poll=self.single_leader_guard("after the rejoin"))
        self.c.probe("probe-zk-restart-then-kill")
        return f"ZooKeeper restarted ({m0} -> {m1} leads); {m1} killed, {m2} took over"

    def zk_restart_during_launch(self):
        """The framework restarts (fails over, reconciles, and launches what is missing)
        and ZooKeeper restarts under it while it does."""
        _, s0 = self.wait_steady("a steady cluster", hold=STABLE)
        before = running(framework(s0))
        self.c.docker("restart", "-t", "1", self.c.container("framework"))
        self.c.docker("restart", "-t", "2", self.c.container("zk"))
        guard = self.single_leader_guard("after the ZooKeeper restart")
        _, s1 = self.wait_steady("a steady cluster after the framework and ZooKeeper "
                                 "restarts", on_poll=guard)
        after = running(framework(s1))
        if after != before:
            raise Failure(f"tasks changed: {before} -> {after}")
        self.c.probe("probe-zk-restart-launch")
        return f"framework and ZooKeeper restarted together; {len(after)} tasks kept, none twice"


SCENARIOS = ["master_kill", "master_pause", "agent_restart", "zk_restart",
             "zk_restart_then_master_kill", "zk_restart_during_launch", "agent_partition"]


def suite(c, n, only):
    s = Suite(c, n)
    passed = failed = 0
    names = [x for x in SCENARIOS if not only or x in only]
    for name in names:
        t0 = time.monotonic()
        try:
            what = getattr(s, name)()
            passed += 1
            print(f"PASS {name} ({time.monotonic() - t0:.1f}s): {what}", flush=True)
        except Failure as e:
            failed += 1
            print(f"FAIL {name} ({time.monotonic() - t0:.1f}s): {e}", flush=True)
            for svc in ["zk"] + MASTERS + AGENTS + ["framework"]:
                print(f"--- {svc} (log tail) ---\n{c.logs(svc, tail=15)}", flush=True)
            s.reset_history()
    print(f"{passed} passed, {failed} failed", flush=True)
    return 1 if failed else 0


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("command", choices=["status", "suite"])
    p.add_argument("--project", default="mesosdemo")
    p.add_argument("--net", default=os.environ.get("MESOS_NET", "172.30.50"))
    p.add_argument("--tasks", type=int, default=int(os.environ.get("MESOS_DEMO_TASKS", "6")))
    p.add_argument("--only", default="", help="comma-separated scenario names")
    a = p.parse_args()
    c = Cluster(a.project, a.net)
    if a.command == "status":
        return status(c)
    return suite(c, a.tasks, set(filter(None, a.only.split(","))))


if __name__ == "__main__":
    sys.exit(main())
