"""Drives the master's web UI in headless Chromium (selenium) against a running cluster.

Run by tests/tests/webui.rs, which starts the cluster and the tasks first:
  python webui_test.py --master URL --browser PATH --driver PATH --screenshots DIR
                       [--ticker TASK_ID] [--failed TASK_ID] [--mesos-execute PATH] [--master-log]
                       [--standby URL [--leader-unreachable HOST]]
  python webui_test.py --restart-master PATH --work-dir DIR --browser PATH --driver PATH --screenshots DIR

Checks (each wait bounded; the script exits non-zero with a reason on the first failure):
- the home page's agent, task and resource figures equal /master/state's, and its CPU and
  memory charts (SVG) have samples ending at the allocated figures;
- a deep link to a framework loads directly; the agent page lists the ticker's executor;
  its sandbox lists stdout, whose viewer shows the task's output and grows while followed;
- back and forward move between the sandbox, the agent page and the file viewer;
- a failed task's page shows its status history (source, reason, message);
- with --master-log, the home page links the master's log, whose page shows it;
- with --mesos-execute, a task launched while the home page is open appears on it through
  the master's event stream (the page runs on SUBSCRIBE): no reload, no read of
  /master/state after the first (the browser's own resource timing says), and the figures
  then equal /master/state's again;
- with --standby, the standby master's page ends up on the leader's; with
  --leader-unreachable too (the leader advertises that unresolvable host), it stays on the
  standby and shows the leader's state read through it;
- with --restart-master (the script runs that mesos-master itself, in --work-dir): the
  page follows it, notices when it dies, and once it is started again on the same port
  reconnects on its own and shows the new master (its id), following its stream again;
- the browser console holds no errors (with --restart-master, but for the failed
  connections to the dead master).
Screenshots of the home, framework, agent and sandbox pages go to --screenshots.
"""

import argparse
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

from selenium import webdriver
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException, TimeoutException
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

WAIT = 30  # seconds for any one thing to appear (the machine may be loaded)
SCALARS = ["cpus", "gpus", "mem", "disk"]
console = []


def fail(why):
    print(f"FAIL: {why}", flush=True)
    raise SystemExit(1)


def get_json(url):
    with urllib.request.urlopen(url, timeout=10) as r:
        return json.loads(r.read().decode())


def wait_for(driver, what, cond, timeout=WAIT):
    """Waits until cond(driver) is truthy (bounded) and returns its value. The pages
    re-render on every poll, so an element may go stale between two lookups: retried."""
    try:
        return WebDriverWait(driver, timeout, poll_frequency=0.2,
                             ignored_exceptions=(NoSuchElementException, StaleElementReferenceException)).until(lambda d: cond(d))
    except TimeoutException:
        shot = os.path.join(ARGS.screenshots, "failure.png")
        driver.save_screenshot(shot)
        fail(f"timed out after {timeout}s waiting for {what} (url {driver.current_url}; screenshot {shot})")


def drain_console(driver):
    console.extend(driver.get_log("browser"))


def expected_figures(state):
    """What the home page should show, computed here from /master/state independently."""
    out = {
        "agents-activated": state.get("activated_slaves", 0),
        "agents-deactivated": state.get("deactivated_slaves", 0),
    }
    counts = {}
    for key in ("frameworks", "completed_frameworks"):
        for f in state.get(key, []):
            for lst in ("tasks", "unreachable_tasks", "completed_tasks"):
                for t in f.get(lst, []):
                    counts[t["state"]] = counts.get(t["state"], 0) + 1
    for s, n in counts.items():
        out[f"tasks-{s}"] = n
    for s in ("TASK_STAGING", "TASK_STARTING", "TASK_RUNNING", "TASK_FINISHED", "TASK_KILLED", "TASK_FAILED", "TASK_LOST"):
        out.setdefault(f"tasks-{s}", 0)
    agents = state.get("slaves", [])
    for k in SCALARS:
        total = sum(a.get("resources", {}).get(k, 0) for a in agents)
        used = sum(a.get("used_resources", {}).get(k, 0) for a in agents)
        offered = sum(a.get("offered_resources", {}).get(k, 0) for a in agents)
        out[f"{k}-total"] = total
        out[f"{k}-used"] = used
        out[f"{k}-offered"] = offered
        out[f"{k}-idle"] = max(0, total - used - offered)
    return out


def shown_figures(driver):
    # Read in one script, so a re-render cannot happen half-way.
    return driver.execute_script(
        "return Object.fromEntries([...document.querySelectorAll('[data-figure][data-value]')]"
        ".map((e) => [e.dataset.figure, e.dataset.value]))")


def figures_match(driver, master):
    """None if the page's figures equal the current /master/state's, else the differences."""
    expected = expected_figures(get_json(f"{master}/master/state"))
    shown = shown_figures(driver)
    diff = {}
    for k, v in expected.items():
        got = shown.get(k)
        if got is None or abs(float(got) - float(v)) > 1e-6:
            diff[k] = (v, got)
    return diff or None


def check_home(driver, master):
    driver.get(f"{master}/#/")
    wait_for(driver, "the home page's figures", lambda d: d.find_elements(By.CSS_SELECTOR, '[data-figure="agents-activated"]'))
    # The page polls every 2 s; the cluster is settled, so they agree within a few polls.
    last = {}

    def agree(d):
        nonlocal last
        last = figures_match(d, master)
        return last is None

    try:
        WebDriverWait(driver, WAIT, poll_frequency=0.5, ignored_exceptions=(StaleElementReferenceException,)).until(agree)
    except TimeoutException:
        fail(f"home page figures differ from /master/state (expected, shown): {last}")
    shown = shown_figures(driver)
    for s in ("TASK_FINISHED", "TASK_FAILED", "TASK_KILLED", "TASK_RUNNING"):
        if float(shown.get(f"tasks-{s}", 0)) < 1:
            fail(f"expected at least one {s} task on the home page, figures: {shown}")
    # The charts are drawn from the samples the page collects; each ends at the allocated figure.
    for chart, figure in (("CPUs allocated", "cpus-used"), ("Memory allocated", "mem-used")):
        wait_for(driver, f"the '{chart}' chart ending at the {figure} figure",
                 lambda d: chart_ends_at(d, chart, "allocated", float(shown_figures(d)[figure])))
    driver.save_screenshot(os.path.join(ARGS.screenshots, "home.png"))
    print(f"home figures agree with /master/state: {json.dumps(shown, sort_keys=True)}", flush=True)


def chart_series(driver, chart, series):
    """(points, latest value) of a series of an SVG chart on the page, or None."""
    return driver.execute_script(
        "const p = [...document.querySelectorAll('svg.chart')].find((c) => c.dataset.chart === arguments[0])"
        "?.querySelector(`path[data-series=\"${CSS.escape(arguments[1])}\"]`);"
        "return p ? [Number(p.dataset.points), Number(p.dataset.last), p.getAttribute('d')] : null;", chart, series)


def chart_ends_at(driver, chart, series, value):
    got = chart_series(driver, chart, series)
    return got is not None and got[0] >= 2 and got[2].count("L") >= 1 and abs(got[1] - value) < 1e-6


def find_task(state, task_id):
    for key in ("frameworks", "completed_frameworks"):
        for f in state.get(key, []):
            for lst in ("tasks", "unreachable_tasks", "completed_tasks"):
                for t in f.get(lst, []):
                    if t["id"] == task_id:
                        return f, t
    return None, None


def hash_of(driver):
    return urllib.parse.urlparse(driver.current_url).fragment


def check_ticker(driver, master):
    state = get_json(f"{master}/master/state")
    framework, task = find_task(state, ARGS.ticker)
    if not task:
        fail(f"no task {ARGS.ticker} in /master/state")
    fw_id, agent_id = framework["id"], task["slave_id"]

    # A deep link to the framework page, loaded directly.
    driver.get(f"{master}/#/frameworks/{urllib.parse.quote(fw_id)}")
    wait_for(driver, "the framework page listing the ticker task",
             lambda d: ARGS.ticker in d.find_element(By.ID, "tasks").text and framework["name"] in d.find_element(By.ID, "title").text)
    used = framework.get("used_resources", {})
    for chart, key in (("CPUs allocated", "cpus"), ("Memory allocated", "mem")):
        wait_for(driver, f"the framework's '{chart}' chart ending at its {used.get(key)} {key}",
                 lambda d: chart_ends_at(d, chart, framework["name"], float(used.get(key, 0))))
    driver.save_screenshot(os.path.join(ARGS.screenshots, "framework.png"))

    # Its agent page lists the executor with a sandbox link (read from the agent, cross-origin).
    driver.find_element(By.CSS_SELECTOR, f'#tasks a[href="#/agents/{agent_id}"]').click()
    wait_for(driver, "the agent page's executor with a sandbox link",
             lambda d: d.find_elements(By.CSS_SELECTOR, '#executors a[href*="/browse?"]'))
    driver.save_screenshot(os.path.join(ARGS.screenshots, "agent.png"))
    agent_hash = hash_of(driver)

    driver.find_element(By.CSS_SELECTOR, '#executors a[href*="/browse?"]').click()
    wait_for(driver, "stdout in the sandbox listing", lambda d: d.find_elements(By.CSS_SELECTOR, 'a[data-entry="stdout"]'))
    listing_hash = hash_of(driver)
    driver.find_element(By.CSS_SELECTOR, 'a[data-entry="stdout"]').click()
    pre = wait_for(driver, "the task's output in the file viewer",
                   lambda d: (e := d.find_element(By.ID, "file-content")) and "tick" in e.text and e)
    first = pre.text.count("tick")
    first_size = int(pre.get_attribute("data-size"))
    # The task prints a line every 0.5 s; the viewer follows the file as it grows.
    wait_for(driver, "the followed stdout to grow",
             lambda d: int(d.find_element(By.ID, "file-content").get_attribute("data-size")) > first_size
             and d.find_element(By.ID, "file-content").text.count("tick") >= first + 3)
    driver.save_screenshot(os.path.join(ARGS.screenshots, "sandbox.png"))
    href = driver.find_element(By.ID, "download").get_attribute("href")
    with urllib.request.urlopen(href, timeout=10) as r:
        if b"tick" not in r.read():
            fail(f"the download link {href} does not give the file")
    file_hash = hash_of(driver)
    print(f"stdout grew while followed: {first} -> {driver.find_element(By.ID, 'file-content').text.count('tick')} lines", flush=True)

    # Back and forward: viewer -> listing -> agent page -> listing -> viewer.
    driver.back()
    wait_for(driver, "back to the sandbox listing", lambda d: hash_of(d) == listing_hash and d.find_elements(By.CSS_SELECTOR, 'a[data-entry="stdout"]')
             and d.find_element(By.ID, "viewer").get_attribute("hidden") is not None)
    driver.back()
    wait_for(driver, "back to the agent page", lambda d: hash_of(d) == agent_hash and d.find_elements(By.ID, "executors"))
    driver.forward()
    wait_for(driver, "forward to the sandbox listing", lambda d: hash_of(d) == listing_hash and d.find_elements(By.CSS_SELECTOR, 'a[data-entry="stdout"]'))
    driver.forward()
    wait_for(driver, "forward to the file viewer", lambda d: hash_of(d) == file_hash and "tick" in d.find_element(By.ID, "file-content").text)


def check_failed_task(driver, master):
    state = get_json(f"{master}/master/state")
    framework, task = find_task(state, ARGS.failed)
    if not task:
        fail(f"no task {ARGS.failed} in /master/state")
    driver.get(f"{master}/#/tasks/{urllib.parse.quote(framework['id'])}/{urllib.parse.quote(ARGS.failed)}")
    # The command executor explains the failure in the update's message (no reason code).
    wait_for(driver, "the failed task's status history with its source and message",
             lambda d: all(x in d.find_element(By.ID, "statuses").text
                           for x in ("Running", "Failed", "SOURCE_EXECUTOR", "exited with status 3")))


def check_master_log(driver, master):
    driver.get(f"{master}/#/")
    wait_for(driver, "the master log link on the home page", lambda d: d.find_elements(By.ID, "master-log"))
    driver.find_element(By.ID, "master-log").click()
    wait_for(driver, "the master's log in the viewer",
             lambda d: hash_of(d) == "/log" and "Master started" in d.find_element(By.ID, "file-content").text
             and int(d.find_element(By.ID, "file-content").get_attribute("data-size")) > 0)
    driver.save_screenshot(os.path.join(ARGS.screenshots, "master-log.png"))
    with urllib.request.urlopen(f"{master}/files/download?path=/master/log", timeout=10) as r:
        if b"Master started" not in r.read():
            fail("/files/download?path=/master/log does not give the log")
    try:
        urllib.request.urlopen(f"{master}/files/read?path=/etc/passwd", timeout=10)
        fail("the master's /files/read serves a path other than /master/log")
    except urllib.error.HTTPError as e:
        if e.code != 404:
            fail(f"/files/read?path=/etc/passwd answered {e.code}, not 404")
    print("the master's log shows on its page", flush=True)


def state_reads(driver):
    """How many /master/state requests this document made (the browser's resource timing)."""
    return driver.execute_script(
        "return performance.getEntriesByType('resource')"
        ".filter((e) => new URL(e.name).pathname === '/master/state').length")


def check_recordio(driver):
    """The page's RecordIO parser frames records fed a byte at a time (cut inside the
    length and inside a multi-byte character) and refuses a stream that is not RecordIO."""
    got = driver.execute_async_script("""
      const done = arguments[arguments.length - 1];
      import('/static/recordio.js').then(({ RecordIOParser }) => {
        const enc = new TextEncoder();
        const records = ['{"type":"HEARTBEAT"}', '{"name":"tâche ü"}', '{}'];
        const bytes = enc.encode(records.map((r) => `${enc.encode(r).length}\\n${r}`).join(''));
        const parser = new RecordIOParser();
        const out = [];
        for (let i = 0; i < bytes.length; i++) out.push(...parser.push(bytes.subarray(i, i + 1)));
        let refused = null;
        try { new RecordIOParser().push(enc.encode('{"not":"recordio"}\\n')); } catch (e) { refused = e.message; }
        done({ same: JSON.stringify(out) === JSON.stringify(records), out, refused });
      }, (e) => done({ error: String(e) }));""")
    if not got.get("same") or not got.get("refused"):
        fail(f"the RecordIO parser: {got}")


def check_live(driver, master):
    driver.get(f"{master}/#/")
    check_recordio(driver)
    wait_for(driver, "the home page following the master's event stream",
             lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-source") == "stream"
             and d.find_elements(By.CSS_SELECTOR, '[data-figure="tasks-TASK_RUNNING"]'))
    driver.execute_script("performance.setResourceTimingBufferSize(100000); window.sameDocument = true;")
    wait_for(driver, "the first state read to finish", lambda d: state_reads(d) == 1)
    running = float(shown_figures(driver)["tasks-TASK_RUNNING"])
    host = urllib.parse.urlparse(master).netloc
    launched = subprocess.Popen([ARGS.mesos_execute, f"--master={host}", "--name=live", "--framework_name=live",
                                 "--command=sleep 1000"], stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(driver, "the task launched after the page loaded to show as running",
                 lambda d: float(shown_figures(d)["tasks-TASK_RUNNING"]) == running + 1
                 and "live" in d.find_element(By.ID, "frameworks").text)
        last = {}

        def agree(d):
            nonlocal last
            last = figures_match(d, master)
            return last is None
        try:
            WebDriverWait(driver, WAIT, poll_frequency=0.5, ignored_exceptions=(StaleElementReferenceException,)).until(agree)
        except TimeoutException:
            fail(f"after the live launch the home page's figures differ from /master/state (expected, shown): {last}")
        if not driver.execute_script("return window.sameDocument === true"):
            fail("the page reloaded")
        reads = state_reads(driver)
        if reads != 1:
            fail(f"the page read /master/state {reads} times; the stream alone should have updated it")
        print(f"a task launched after the page loaded appeared through the event stream "
              f"({running:.0f} -> {running + 1:.0f} running, /master/state read once)", flush=True)
    finally:
        launched.terminate()
        launched.wait(10)


def start_master(port, log):
    """Starts --restart-master on `port` and waits (bounded) until it answers /master/state."""
    proc = subprocess.Popen([ARGS.restart_master, "--ip=127.0.0.1", f"--port={port}",
                             f"--work_dir={ARGS.work_dir}"], stdin=subprocess.DEVNULL, stdout=log, stderr=log)
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            fail(f"the master exited with {proc.returncode} (log in {log.name})")
        try:
            return proc, get_json(f"http://127.0.0.1:{port}/master/state")
        except OSError:
            time.sleep(0.1)  # a process we just started: nothing to wait on but its port
    proc.kill()
    fail(f"the master on port {port} did not answer within {WAIT}s")


def check_reconnect(driver):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    master = f"http://127.0.0.1:{port}"
    body = lambda d: d.find_element(By.TAG_NAME, "body")
    with open(os.path.join(ARGS.work_dir, "master.log"), "ab") as log:
        proc, state = start_master(port, log)
        try:
            driver.get(f"{master}/#/")
            wait_for(driver, "the page following the master's stream",
                     lambda d: body(d).get_attribute("data-source") == "stream"
                     and d.find_element(By.CSS_SELECTOR, '[data-figure="master-id"]').text == state["id"])
            proc.kill()
            proc.wait(10)
            wait_for(driver, "the page to say the master is gone",
                     lambda d: "error" in (d.find_element(By.ID, "status").get_attribute("class") or "")
                     and "reconnecting" in d.find_element(By.ID, "status").text)
            print(f"the page noticed: {driver.find_element(By.ID, 'status').text}", flush=True)
            proc, again = start_master(port, log)
            if again["id"] == state["id"]:
                fail("the restarted master kept its id; the check cannot tell the two apart")
            wait_for(driver, "the page to reconnect to the restarted master on its own",
                     lambda d: d.find_element(By.CSS_SELECTOR, '[data-figure="master-id"]').text == again["id"]
                     and body(d).get_attribute("data-source") == "stream"
                     and d.find_element(By.ID, "status").text.startswith("live"), timeout=WAIT * 2)
            print(f"the page reconnected: master {state['id']} -> {again['id']}", flush=True)
        finally:
            proc.kill()
            proc.wait(10)


def check_not_found_and_nav(driver, master):
    driver.get(f"{master}/#/no/such/page")
    wait_for(driver, "the not-found page", lambda d: "Not found" in d.find_element(By.ID, "view").text)
    # Every list page renders its table (the console check below covers their scripts).
    # The three mesos-execute runs that ended are completed frameworks.
    for page, table, needle in (("agents", "agents", "2 rows"), ("frameworks", "completed", "3 rows"),
                                ("roles", "roles", "rows"), ("offers", "offers", "rows")):
        driver.get(f"{master}/#/{page}")
        wait_for(driver, f"the {page} page ({needle} in #{table})", lambda d: needle in d.find_element(By.ID, table).text)


def check_standby_proxied(driver, master):
    driver.get(f"{ARGS.standby}/#/agents")
    standby = urllib.parse.urlparse(ARGS.standby)
    state = get_json(f"{master}/master/state")
    wait_for(driver, "the standby's page to show the leader's agents read through it",
             lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-leader") == "proxied"
             # A standby redirects SUBSCRIBE: the page fell back to polling (through it).
             and d.find_element(By.TAG_NAME, "body").get_attribute("data-source") == "polling"
             and f"{len(state['slaves'])} rows" in d.find_element(By.ID, "agents").text
             and state["slaves"][0]["id"] in d.find_element(By.ID, "agents").text, timeout=WAIT * 2)
    if urllib.parse.urlparse(driver.current_url).port != standby.port or hash_of(driver) != "/agents":
        fail(f"the page left the standby: {driver.current_url}")
    if "not reachable" not in driver.find_element(By.ID, "banner").text:
        fail(f"the banner does not say why: {driver.find_element(By.ID, 'banner').text}")
    # The home page's figures are the leader's.
    driver.get(f"{ARGS.standby}/#/")
    wait_for(driver, "the leader's master id on the standby's home page",
             lambda d: d.find_element(By.CSS_SELECTOR, '[data-figure="master-id"]').text == state["id"])
    print(f"standby {ARGS.standby} shows the leader's state (leader advertised as {ARGS.leader_unreachable})", flush=True)


def check_standby(driver, master):
    driver.get(f"{ARGS.standby}/#/agents")
    leader = urllib.parse.urlparse(master)
    wait_for(driver, "the standby's page to land on the leader's",
             lambda d: urllib.parse.urlparse(d.current_url).port == leader.port
             and d.find_element(By.TAG_NAME, "body").get_attribute("data-leader") == "self"
             and d.find_element(By.TAG_NAME, "body").get_attribute("data-source") == "stream"
             and "rows" in d.find_element(By.ID, "agents").text, timeout=WAIT * 2)
    if hash_of(driver) != "/agents":
        fail(f"the leader's page lost the deep link: {driver.current_url}")
    print(f"standby {ARGS.standby} sent the browser to {driver.current_url}", flush=True)


def main():
    os.makedirs(ARGS.screenshots, exist_ok=True)
    options = Options()
    options.binary_location = ARGS.browser
    for a in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--window-size=1400,1000"):
        options.add_argument(a)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(ARGS.driver), options=options)
    driver.set_page_load_timeout(WAIT)
    try:
        master = (ARGS.master or "").rstrip("/")
        if ARGS.restart_master:
            check_reconnect(driver)
            drain_console(driver)
            # The page's requests to the dead master fail, and the browser says so.
            console[:] = [e for e in console if "net::ERR_" not in e.get("message", "")]
        elif ARGS.standby and ARGS.leader_unreachable:
            check_standby_proxied(driver, master)
            drain_console(driver)
            # The probe of the unresolvable leader is expected to fail, and says so.
            console[:] = [e for e in console if ARGS.leader_unreachable not in e.get("message", "")
                          and "ERR_NAME_NOT_RESOLVED" not in e.get("message", "")]
        elif ARGS.standby:
            check_standby(driver, master)
            drain_console(driver)
        else:
            check_home(driver, master)
            drain_console(driver)
            check_ticker(driver, master)
            drain_console(driver)
            check_failed_task(driver, master)
            if ARGS.master_log:
                check_master_log(driver, master)
            check_not_found_and_nav(driver, master)
            drain_console(driver)
            if ARGS.mesos_execute:
                check_live(driver, master)
                drain_console(driver)
        errors = [e for e in console if e.get("level") == "SEVERE"]
        if errors:
            fail(f"JavaScript errors in the console: {json.dumps(errors, indent=1)}")
        print(f"OK ({len(console)} console entries, none an error)", flush=True)
    finally:
        driver.quit()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--master")
    parser.add_argument("--restart-master", dest="restart_master")
    parser.add_argument("--work-dir", dest="work_dir")
    parser.add_argument("--browser", required=True)
    parser.add_argument("--driver", required=True)
    parser.add_argument("--screenshots", required=True)
    parser.add_argument("--ticker")
    parser.add_argument("--failed")
    parser.add_argument("--mesos-execute", dest="mesos_execute")
    parser.add_argument("--master-log", dest="master_log", action="store_true")
    parser.add_argument("--standby")
    parser.add_argument("--leader-unreachable", dest="leader_unreachable")
    ARGS = parser.parse_args()
    main()
