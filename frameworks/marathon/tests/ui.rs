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

def row_has(text):
    # The list re-renders every second: a row found may be replaced before it is read.
    def check(_):
        try:
            r = row()
            return r is not None and text in r.text
        except StaleElementReferenceException:
            return False
    return check

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
    wait.until(row_has('2 of 2'))
    wait.until(row_has('Running'))
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
    wait.until(row_has('2 of 2'))
    wait.until(row_has('Running'))
    click('button.scale')
    alert = wait.until(lambda _: d.switch_to.alert)
    alert.send_keys('1'); alert.accept()
    wait.until(row_has('1 of 1'))
    wait.until(row_has('Running'))
    click('button.suspend')
    wait.until(row_has('0 of 0'))
    wait.until(row_has('Suspended'))
    d.save_screenshot(shots + '/suspended.png')
    click('button.destroy')
    wait.until(lambda _: d.switch_to.alert).accept()
    wait.until(lambda _: row() is None)
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
