#!/usr/bin/env python3
"""Marathon in the demo cluster (docker-compose.yml: marathon1, marathon2): deploys the
sample web app (3 instances of busybox httpd behind MESOS_HTTP health checks) and the
fault-suite scenario `marathon_leader_kill` (SIGKILL the leading marathon's container; the
other takes over with the same FrameworkID and the app keeps exactly its 3 healthy
instances, the same tasks). Talks to each marathon at its fixed address on the compose
network; every wait polls with a bounded timeout.
    marathon.py deploy [--project P] [--net 172.30.50]
"""
import argparse
import json
import os
import sys
import time
import urllib.error
import urllib.request

import cluster

MARATHONS = ["marathon1", "marathon2"]
APP_ID = "/web"
INSTANCES = 3
WEBAPP = {
    "id": APP_ID,
    "instances": INSTANCES,
    "cpus": 0.1,
    "mem": 32,
    "cmd": "mkdir -p www && echo ok > www/index.html && exec httpd -f -p $PORT0 -h www",
    "portDefinitions": [{"port": 0, "name": "http"}],
    "healthChecks": [{"protocol": "MESOS_HTTP", "path": "/", "portIndex": 0,
                      "delaySeconds": 0, "intervalSeconds": 2, "timeoutSeconds": 2,
                      "gracePeriodSeconds": 15, "maxConsecutiveFailures": 3}],
    "upgradeStrategy": {"minimumHealthCapacity": 1.0},
}


def ip_of(c, m):
    return f"{c.net}.4{MARATHONS.index(m) + 1}"


def url(c, m, path):
    return f"http://{ip_of(c, m)}:8080{path}"


def get(c, m, path):
    code, body = cluster.http_get(url(c, m, path))
    if code != 200:
        return None
    try:
        return json.loads(body)
    except ValueError:
        return None


def leader(c):
    """The marathon that names itself leader, or None."""
    for m in MARATHONS:
        v = get(c, m, "/v2/leader")
        if v and v.get("leader") == f"{ip_of(c, m)}:8080":
            return m
    return None


def wait_for(what, pred, limit=cluster.LIMIT):
    deadline = time.monotonic() + limit
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            raise cluster.Failure(f"timed out after {limit:.0f}s waiting for {what}")
        time.sleep(cluster.POLL)  # polling containers we do not control: no event


def wait_leader(c, other_than=None):
    def pred():
        m = leader(c)
        if m and m != other_than:
            info = get(c, m, "/v2/info")
            if info and info.get("elected") and info.get("frameworkId"):
                return m, info["frameworkId"]
        return None
    return wait_for("a leading marathon" + (f" other than {other_than}" if other_than else ""),
                    pred)


def deploy(c):
    """Creates the web app unless it exists; returns the leader."""
    m, _ = wait_leader(c)
    if get(c, m, f"/v2/apps{APP_ID}") is None:
        req = urllib.request.Request(url(c, m, "/v2/apps"), data=json.dumps(WEBAPP).encode(),
                                     headers={"Content-Type": "application/json"},
                                     method="POST")
        try:
            with urllib.request.urlopen(req, timeout=5) as r:
                r.read()
        except urllib.error.HTTPError as e:
            if e.code != 409:
                raise cluster.Failure(f"POST /v2/apps: {e.code} {e.read()!r}")
    return m


def healthy_tasks(c, m):
    """The web app's task ids once exactly INSTANCES run healthy with no deployment."""
    v = get(c, m, f"/v2/apps{APP_ID}?embed=apps.tasks")
    if not v:
        return None
    a = v["app"]
    if (a.get("tasksRunning") == INSTANCES and a.get("tasksHealthy") == INSTANCES
            and not a.get("deployments")):
        return {t["id"] for t in a.get("tasks", [])}
    return None


def mesos_running(c):
    """The marathon framework's running task ids in the leading master's view."""
    ls = c.leaders()
    if len(ls) != 1:
        return None
    fs = [f for f in ls[0][1].get("frameworks", []) if f.get("name") == "marathon"]
    if len(fs) != 1:
        return None
    return {t["id"] for t in fs[0].get("tasks", []) if t.get("state") == "TASK_RUNNING"}


def leader_kill(c):
    """The fault-suite scenario (see the module doc)."""
    m0 = deploy(c)
    _, fid0 = wait_leader(c)
    before = wait_for(f"{INSTANCES} healthy web instances", lambda: healthy_tasks(c, m0))
    c.sigkill(m0)
    m1, fid1 = wait_leader(c, other_than=m0)
    if fid1 != fid0:
        raise cluster.Failure(f"the new leader registered as {fid1}, was {fid0}")
    after = wait_for(f"{INSTANCES} healthy web instances under {m1}",
                     lambda: healthy_tasks(c, m1))
    if after != before:
        raise cluster.Failure(f"web tasks changed: {sorted(before)} -> {sorted(after)}")
    running = wait_for("the master to show the same tasks",
                       lambda: (lambda r: r if r == after else None)(mesos_running(c)))
    # The killed container is restarted (restart: on-failure) and follows the new leader.
    wait_for(f"{m0} back as a follower",
             lambda: (get(c, m0, "/v2/leader") or {}).get("leader") == f"{ip_of(c, m1)}:8080")
    return (f"{m0} killed, {m1} leads with the same FrameworkID, {len(running)} web tasks "
            f"kept healthy, {m0} follows again")


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("command", choices=["deploy"])
    p.add_argument("--project", default="mesosdemo")
    p.add_argument("--net", default=os.environ.get("MESOS_NET", "172.30.50"))
    a = p.parse_args()
    c = cluster.Cluster(a.project, a.net)
    try:
        m = deploy(c)
        tasks = wait_for(f"{INSTANCES} healthy web instances", lambda: healthy_tasks(c, m),
                         limit=120)
    except cluster.Failure as e:
        sys.exit(f"marathon.py: {e}")
    print(f"marathon: {m} leads; {APP_ID} runs {len(tasks)} healthy instances")
    return 0


if __name__ == "__main__":
    sys.exit(main())
