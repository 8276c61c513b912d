//! The web UI in headless Chromium (Selenium from the test virtualenv): the job list with
//! totals, graph position and last status; creating a dependent job through the form (and
//! a refused schedule showing its reason); the job page with its schedule, next run and
//! dependency graph (SVG); run now. Screenshots go to `target/screenshots/chronos/`.

use std::net::SocketAddr;
use std::process::Command;
use std::rc::Rc;
use std::sync::Arc;

use chronos::core::Chronos;
use chronos::framework::{wall_clock, ChronosScheduler};
use chronos::http::{serve, Backend, HttpState};
use chronos::store::MemStore;
use frameworks::scheduler;
use libproc::testing::{chromium, http_request, python_env, repo_root};
use libproc::{Node, NodeConfig};
use proto::FrameworkInfo;

const SCRIPT: &str = r#"
import sys, os
from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.support.ui import WebDriverWait
from selenium.webdriver.support import expected_conditions as EC

url, browser, driver_path, shots = sys.argv[1:5]
os.makedirs(shots, exist_ok=True)
opts = webdriver.ChromeOptions()
opts.binary_location = browser
for a in ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1200,900"]:
    opts.add_argument(a)
d = webdriver.Chrome(service=Service(driver_path), options=opts)
wait = WebDriverWait(d, 30)
try:
    d.get(url + "/")
    wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, "tr[data-job='nightly']")))
    assert d.find_element(By.ID, "total").text == "1", d.find_element(By.ID, "total").text
    assert d.find_element(By.ID, "failed").text == "0"
    row = d.find_element(By.CSS_SELECTOR, "tr[data-job='nightly']")
    assert "root" in row.text and "fresh" in row.text, row.text
    d.save_screenshot(shots + "/list.png")

    # A refused schedule shows the reason.
    d.find_element(By.ID, "new-job").click()
    wait.until(EC.presence_of_element_located((By.ID, "job-form")))
    d.find_element(By.ID, "name").send_keys("broken")
    d.find_element(By.ID, "command").send_keys("true")
    sched = d.find_element(By.ID, "schedule"); sched.clear(); sched.send_keys("R/soon/PT1H")
    d.find_element(By.ID, "save").click()
    wait.until(lambda d: "soon" in d.find_element(By.ID, "form-error").text)

    # A dependent job through the form.
    d.get(url + "/#/new")
    wait.until(EC.presence_of_element_located((By.ID, "job-form")))
    d.find_element(By.ID, "name").send_keys("report")
    d.find_element(By.ID, "command").send_keys("echo report")
    d.find_element(By.ID, "parents").send_keys("nightly")
    d.find_element(By.ID, "owner").send_keys("ops@example.com")
    d.find_element(By.ID, "save").click()
    wait.until(lambda d: d.find_elements(By.ID, "job-name") and d.find_element(By.ID, "job-name").text == "report")
    svg = d.find_element(By.ID, "graph")
    labels = [t.text for t in svg.find_elements(By.TAG_NAME, "text")]
    assert sorted(labels) == ["nightly", "report"], labels
    assert len(svg.find_elements(By.TAG_NAME, "line")) == 1
    d.save_screenshot(shots + "/job.png")

    # The parent's page: schedule and next run; run now.
    d.get(url + "/#/job/nightly")
    wait.until(lambda d: d.find_elements(By.ID, "next-run"))
    assert "2030-" in d.find_element(By.ID, "next-run").text, d.find_element(By.ID, "next-run").text
    d.find_element(By.CSS_SELECTOR, "button.run").click()
    import json, urllib.request
    def queued(_):
        jobs = json.load(urllib.request.urlopen(url + "/v1/scheduler/jobs"))
        return any(j["name"] == "nightly" and j["queued"] == 1 for j in jobs)
    wait.until(queued)
    d.get(url + "/")
    wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, "tr[data-job='report']")))
    assert d.find_element(By.ID, "total").text == "2"
    assert "child of nightly" in d.find_element(By.CSS_SELECTOR, "tr[data-job='report']").text
    d.save_screenshot(shots + "/list2.png")
    print("ok")
finally:
    d.quit()
"#;

#[actix_rt::test]
#[ignore = "unfinished: the list step passes, the refused-schedule form step times out in Selenium (not yet debugged)"]
async fn the_web_ui_lists_creates_shows_and_runs_jobs() {
    let Some(py) = python_env("chronos_ui") else {
        return;
    };
    let Some((browser, driver)) = chromium("chronos_ui") else {
        return;
    };
    let node = Node::bind(NodeConfig::new("127.0.0.1:0".parse().unwrap()))
        .await
        .unwrap();
    let store = MemStore::new();
    let sched = ChronosScheduler::new(
        Chronos::new(),
        Rc::new(store.clone()),
        wall_clock(),
        Rc::new(|| true),
    );
    let handle = scheduler::run(
        &node,
        "master@127.0.0.1:1".parse().unwrap(),
        FrameworkInfo::new("chronos", "root"),
        sched,
    )
    .unwrap();
    let state = Arc::new(HttpState::default());
    state.set(Backend::Leader(handle.process.clone()));
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr: SocketAddr = l.local_addr().unwrap();
    tokio::task::spawn_local(serve(l, state));
    let job = r#"{"name":"nightly","command":"true","schedule":"R/2030-01-01T02:00:00Z/P1D","owner":"o","scheduleTimeZone":"Europe/Paris"}"#;
    let (s, b) = http_request(addr, "POST", "/v1/scheduler/iso8601", job.as_bytes())
        .await
        .unwrap();
    assert_eq!(s, 204, "{b}");

    let shots = repo_root().join("target/screenshots/chronos");
    let url = format!("http://{addr}");
    // Selenium blocks: run it on a thread while this runtime serves the UI.
    let out = tokio::task::spawn_blocking(move || {
        Command::new(py)
            .arg("-c")
            .arg(SCRIPT)
            .arg(url)
            .arg(browser)
            .arg(driver)
            .arg(shots)
            .output()
    })
    .await
    .unwrap()
    .unwrap();
    assert!(
        out.status.success() && String::from_utf8_lossy(&out.stdout).contains("ok"),
        "selenium: {}\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // The job made through the UI is stored, and run now queued a run.
    let rec = store.records();
    assert_eq!(rec["report"].def.parents, vec!["nightly"]);
    assert_eq!(rec["nightly"].state.runs.len(), 1);
    node.shutdown();
}
