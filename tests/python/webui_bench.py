"""Benchmark: the web UI with a large cluster (1,000 agents, 10,000 tasks by default).

Serves master/webui/ and a synthetic /master/state from a local HTTP server (a stand-in
for the master: the UI only reads public JSON), loads the home, agents and framework pages
in headless Chromium and prints JSON: the state's size, the time from navigation start to
the first rendered page, and how long a page update (one poll's re-render) takes.

  target/pyenv/bin/python tests/python/webui_bench.py [--agents 1000] [--tasks 10000]
"""

import argparse
import http.server
import json
import os
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


def serve(state_bytes):
    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a, **kw):
            super().__init__(*a, directory=ROOT, **kw)

        def log_message(self, *a):
            pass

        def do_GET(self):
            path = self.path.split("?")[0]
            bodies = {
                "/master/state": state_bytes,
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

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--agents", type=int, default=1000)
    p.add_argument("--tasks", type=int, default=10000)
    p.add_argument("--browser", default="/usr/bin/chromium")
    p.add_argument("--driver", default="/usr/bin/chromedriver")
    args = p.parse_args()
    state = json.dumps(synthetic_state(args.agents, args.tasks)).encode()
    server = serve(state)
    base = f"http://127.0.0.1:{server.server_address[1]}"
    options = Options()
    options.binary_location = args.browser
    for a in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--window-size=1400,1000"):
        options.add_argument(a)
    driver = webdriver.Chrome(service=Service(args.driver), options=options)
    out = {"agents": args.agents, "tasks": args.tasks, "state_bytes": len(state)}
    try:
        for page in ("/", "/agents", "/frameworks/fw-0"):
            driver.get("about:blank")
            driver.get(f"{base}/#{page}")
            WebDriverWait(driver, 60, poll_frequency=0.05).until(
                lambda d: d.execute_script("return document.body.dataset.renders"))
            # ms from navigation start to the end of the first render of the page.
            first = int(driver.execute_script("return document.body.dataset.firstRenderAt"))
            # Later polls re-render the page (every 2 s): collect a few update times.
            WebDriverWait(driver, 60, poll_frequency=0.1).until(
                lambda d: int(d.execute_script("return document.body.dataset.renders")) >= 4)
            renders = driver.execute_script("return Number(document.body.dataset.renderMs)")
            out[page] = {"first_render_ms": first, "update_render_ms": renders}
    finally:
        driver.quit()
        server.shutdown()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
