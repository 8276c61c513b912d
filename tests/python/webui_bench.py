"""Benchmark: the web UI with a large cluster (1,000 agents, 10,000 tasks by default).

Serves master/webui/ and a synthetic /master/state from a local HTTP server (a stand-in
for the master: the UI only reads public JSON and the operator event stream), loads the
home, agents and framework pages in headless Chromium and prints JSON: the state's size,
the time from navigation start to the first rendered page, and how long a page update
(one re-render) takes. Then, on the home page, 1,000 tasks finish at once: `burst_ms` is
the time from the change on the server to the end of the render that shows all of it.

Both of the UI's sources run in the same run: `stream` (the server answers
POST /api/v1 SUBSCRIBE with a RecordIO event stream; the burst is 1,000 TASK_UPDATED
events) and `polling`, the baseline (the server refuses SUBSCRIBE, so the UI polls
/master/state every 2 s; the burst is a new state document).

  target/pyenv/bin/python tests/python/webui_bench.py [--agents 1000] [--tasks 10000]
"""

import argparse
import http.server
import json
import os
import queue
import threading
import time

from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.support.ui import WebDriverWait

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "master", "webui")


def synthetic_state(agents, tasks, frameworks=20):
    now = time.time()
    slaves = [{
        "id": f"agent-{i}-S0", "pid": f"slave(1)@10.0.{i // 250}.{i % 250}:5051",
        "hostname": f"host-{i}.example", "port": 5051,
        "resources": {"cpus": 16, "mem": 65536, "disk": 1048576, "gpus": 0},
        "used_resources": {"cpus": 0, "mem": 0, "disk": 0, "gpus": 0},
        "offered_resources": {}, "attributes": {"rack": f"r{i % 40}"},
        "active": True, "registered_time": now - 3600, "version": "1.11.0",
    } for i in range(agents)]
    fws = [{
        "id": f"fw-{j}", "name": f"framework-{j}", "user": "root", "role": "*", "roles": ["*"],
        "active": True, "registered_time": now - 3000, "tasks": [], "completed_tasks": [],
        "unreachable_tasks": [], "offers": [], "used_resources": {"cpus": 0, "mem": 0},
        "offered_resources": {},
    } for j in range(frameworks)]
    for k in range(tasks):
        f = fws[k % frameworks]
        a = slaves[k % agents]
        running = k % 5 != 0
        t = {
            "id": f"task-{k}", "name": f"task-{k}", "framework_id": f["id"], "slave_id": a["id"],
            "executor_id": "", "state": "TASK_RUNNING" if running else "TASK_FINISHED",
            "resources": {"cpus": 0.1, "mem": 64},
            "statuses": [{"state": "TASK_RUNNING", "timestamp": now - 100}],
        }
        if running:
            f["tasks"].append(t)
            f["used_resources"]["cpus"] += 0.1
            f["used_resources"]["mem"] += 64
            a["used_resources"]["cpus"] += 0.1
            a["used_resources"]["mem"] += 64
        else:
            f["completed_tasks"].append(t)
    return {
        "version": "1.11.0", "id": "bench-master", "pid": "master@127.0.0.1:5050",
        "leader": "master@127.0.0.1:5050", "hostname": "127.0.0.1", "start_time": now - 4000,
        "elected_time": now - 4000, "cluster": "bench",
        "leader_info": {"hostname": "127.0.0.1", "port": 5050},
        "activated_slaves": agents, "deactivated_slaves": 0, "unreachable_slaves": 0,
        "slaves": slaves, "frameworks": fws, "completed_frameworks": [],
    }


def record(event):
    """One RecordIO record: the JSON's length in bytes, a newline, the JSON."""
    body = json.dumps(event).encode()
    return str(len(body)).encode() + b"\n" + body


class Master:
    """What the stand-in master serves: the state document, and the open event streams."""

    def __init__(self, state, stream):
        self.state = state
        self.state_bytes = json.dumps(state).encode()
        self.stream = stream
        self.streams = []
        self.lock = threading.Lock()

    def finish(self, n):
        """Finishes the first n running tasks: in the state document, and as TASK_UPDATED
        events to every open stream (written in one go)."""
        now = time.time()
        events = []
        for f in self.state["frameworks"]:
            while f["tasks"] and len(events) < n:
                t = f["tasks"].pop(0)
                t["state"] = "TASK_FINISHED"
                status = {"state": "TASK_FINISHED", "timestamp": now}
                t["statuses"].append(status)
                f["completed_tasks"].append(t)
                events.append(record({"type": "TASK_UPDATED", "task_updated": {
                    "framework_id": {"value": f["id"]}, "state": "TASK_FINISHED",
                    "status": {"task_id": {"value": t["id"]}, "uuid": f"u-{t['id']}", **status}}}))
        with self.lock:
            for q in self.streams:
                q.put(b"".join(events))
        self.state_bytes = json.dumps(self.state).encode()
        return len(events)


def serve(master):
    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a, **kw):
            super().__init__(*a, directory=ROOT, **kw)

        def log_message(self, *a):
            pass

        def do_GET(self):
            path = self.path.split("?")[0]
            bodies = {
                "/master/state": master.state_bytes,
                "/metrics/snapshot": b"{}",
                "/roles": b'{"roles": []}',
            }
            if path in bodies:
                body = bodies[path]
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                return
            super().do_GET()

        def do_POST(self):
            # The operator API: SUBSCRIBE only, and only when streaming.
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            if self.path != "/api/v1" or not master.stream:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()  # HTTP/1.0: the body ends when the connection closes
            q = queue.Queue()
            with master.lock:
                master.streams.append(q)
            try:
                self.wfile.write(record({"type": "SUBSCRIBED", "subscribed": {
                    "get_state": {}, "heartbeat_interval_seconds": 5}}))
                self.wfile.flush()
                while True:
                    try:
                        data = q.get(timeout=5)
                    except queue.Empty:
                        data = record({"type": "HEARTBEAT"})
                    self.wfile.write(data)
                    self.wfile.flush()
            except OSError:
                pass  # the page went away
            finally:
                with master.lock:
                    master.streams.remove(q)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def run(driver, args, stream):
    """The figures of one source ('stream' or 'polling') against a fresh stand-in master."""
    master = Master(synthetic_state(args.agents, args.tasks), stream)
    server = serve(master)
    base = f"http://127.0.0.1:{server.server_address[1]}"
    out = {}
    try:
        for page in ("/", "/agents", "/frameworks/fw-0"):
            driver.get("about:blank")
            driver.get(f"{base}/#{page}")
            WebDriverWait(driver, 60, poll_frequency=0.05).until(
                lambda d: d.execute_script("return document.body.dataset.renders"))
            source = driver.execute_script("return document.body.dataset.source")
            if source != ("stream" if stream else "polling"):
                raise SystemExit(f"the page runs on {source}")
            # ms from navigation start to the end of the first render of the page.
            first = int(driver.execute_script("return document.body.dataset.firstRenderAt"))
            # Later changes re-render the page: a few tasks finish (10 events, or the next poll).
            renders = int(driver.execute_script("return document.body.dataset.renders"))
            master.finish(10)
            WebDriverWait(driver, 60, poll_frequency=0.05).until(
                lambda d: int(d.execute_script("return document.body.dataset.renders")) > renders)
            update = driver.execute_script("return Number(document.body.dataset.renderMs)")
            out[page] = {"first_render_ms": first, "update_render_ms": update}
        # A burst on the home page: 1,000 tasks finish at once.
        driver.get("about:blank")
        driver.get(f"{base}/#/")
        figure = '[data-figure="tasks-TASK_FINISHED"]'
        WebDriverWait(driver, 60, poll_frequency=0.05).until(
            lambda d: d.execute_script(f"return document.querySelector('{figure}')?.dataset.value"))
        finished = int(driver.execute_script(f"return document.querySelector('{figure}').dataset.value"))
        time.sleep(0.5)  # let the page settle after its first render (not a synchronisation)
        t0 = time.time() * 1000
        n = master.finish(1000)
        WebDriverWait(driver, 60, poll_frequency=0.02).until(
            lambda d: int(d.execute_script(f"return document.querySelector('{figure}').dataset.value")) == finished + n)
        at = int(driver.execute_script("return document.body.dataset.lastRenderAt"))
        out["burst_1000_tasks_finish"] = {"burst_ms": at - round(t0),
                                          "render_ms": driver.execute_script("return Number(document.body.dataset.renderMs)")}
    finally:
        server.shutdown()
    return out, len(master.state_bytes)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--agents", type=int, default=1000)
    p.add_argument("--tasks", type=int, default=10000)
    p.add_argument("--browser", default="/usr/bin/chromium")
    p.add_argument("--driver", default="/usr/bin/chromedriver")
    args = p.parse_args()
    options = Options()
    options.binary_location = args.browser
    for a in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--window-size=1400,1000"):
        options.add_argument(a)
    driver = webdriver.Chrome(service=Service(args.driver), options=options)
    out = {"agents": args.agents, "tasks": args.tasks}
    try:
        out["stream"], out["state_bytes"] = run(driver, args, stream=True)
        out["polling"], _ = run(driver, args, stream=False)
    finally:
        driver.quit()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
