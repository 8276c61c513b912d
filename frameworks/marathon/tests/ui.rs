//! The web UI in headless Chromium (selenium from the tests' virtualenv) against a real
//! cluster: create an app from the form, see it running in the list with its instances,
//! open its page (host, ports, state), scale it (prompt), suspend it, destroy it.
//! Screenshots go to `target/screenshots/marathon/`.

mod common;

use std::time::Duration;

const SCRIPT: &str = r#"
import sys
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait
from selenium.webdriver.support import expected_conditions as EC
from selenium.common.exceptions import StaleElementReferenceException

url, browser, driver, shots = sys.argv[1:5]
opts = webdriver.ChromeOptions()
opts.binary_location = browser
for a in ('--headless=new', '--no-sandbox', '--disable-dev-shm-usage', '--window-size=1280,800'):
    opts.add_argument(a)
d = webdriver.Chrome(service=Service(driver), options=opts)
wait = WebDriverWait(d, 90, poll_frequency=0.2)

def row():
    for r in d.find_elements(By.CSS_SELECTOR, 'tr.app-row'):
        if r.get_attribute('data-id') == '/ui-app':
            return r
    return None

def row_has(*texts):
    # The list re-renders every second: a row found may be replaced before it is read.
    # All texts are checked on one reading of the row (one rendered state).
    def check(_):
        try:
            r = row()
            t = r.text if r is not None else ''
            return r is not None and all(x in t for x in texts)
        except StaleElementReferenceException:
            return False
    return check

def row_gone(_):
    try:
        return row() is None
    except StaleElementReferenceException:
        return False

def click(css):
    def attempt(_):
        try:
            row().find_element(By.CSS_SELECTOR, css).click()
            return True
        except (StaleElementReferenceException, AttributeError):
            return False
    wait.until(attempt)

try:
    d.get(url + '/')
    d.find_element(By.ID, 'new-id').send_keys('/ui-app')
    d.find_element(By.ID, 'new-cmd').send_keys('sleep 1000')
    n = d.find_element(By.ID, 'new-instances'); n.clear(); n.send_keys('2')
    m = d.find_element(By.ID, 'new-mem'); m.clear(); m.send_keys('16')
    d.find_element(By.ID, 'create-button').click()
    wait.until(row_has('2 of 2', 'Running'))
    d.save_screenshot(shots + '/list.png')
    click('a.app-link')
    def two_running(_):
        try:
            return len([r for r in d.find_elements(By.CSS_SELECTOR, 'tr.task-row') if 'TASK_RUNNING' in r.text]) == 2
        except StaleElementReferenceException:
            return False
    wait.until(two_running)
    d.save_screenshot(shots + '/app.png')
    d.find_element(By.LINK_TEXT, '\u2190 All applications').click()
    wait.until(row_has('2 of 2', 'Running'))
    click('button.scale')
    # switch_to.alert raises NoAlertPresentException (not ignored by WebDriverWait) while
    # the prompt is not open yet; alert_is_present waits for it.
    alert = wait.until(EC.alert_is_present())
    alert.send_keys('1'); alert.accept()
    wait.until(row_has('1 of 1', 'Running'))
    click('button.suspend')
    wait.until(row_has('0 of 0', 'Suspended'))
    d.save_screenshot(shots + '/suspended.png')
    click('button.destroy')
    wait.until(EC.alert_is_present()).accept()
    wait.until(row_gone)
    print('OK', flush=True)
finally:
    d.quit()
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ui_creates_scales_suspends_and_destroys() {
    let Some(py) = libproc::testing::python_env("marathon UI") else {
        return;
    };
    let Some((browser, driver)) = libproc::testing::chromium("marathon UI") else {
        return;
    };
    let c = common::cluster("marathon-ui", &[""]).await;
    let (mut m, addr) = common::marathon(&c, "marathon", &[]).await;
    // `/ping` answers before the election and the framework's registration; until then the
    // API answers 503 and the form's create would fail (the cause of this test's flakiness).
    cluster::procs::wait_json(
        addr,
        "/v2/info",
        Duration::from_secs(90),
        "marathon elected and registered",
        |v| v["elected"] == true && v["frameworkId"].is_string(),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", m.log_text()));
    let shots = libproc::testing::repo_root().join("target/screenshots/marathon");
    std::fs::create_dir_all(&shots).unwrap();
    let script = c.dir.path().join("ui.py");
    std::fs::write(&script, SCRIPT).unwrap();
    let run = tokio::process::Command::new(&py)
        .arg(&script)
        .arg(format!("http://{addr}"))
        .arg(&browser)
        .arg(&driver)
        .arg(&shots)
        .kill_on_drop(true)
        .output();
    let out = libproc::testing::within(Duration::from_secs(300), "the UI script", run)
        .await
        .expect("python runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() || !stdout.contains("OK") {
        panic!(
            "UI script failed: {}\n{stdout}\n{}\n--- marathon ---\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr),
            cluster::testkit::tail(&m.log_text(), 40)
        );
    }
    m.kill();
}
