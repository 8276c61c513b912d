//! The stock `marathon` Python client (PyPI 0.13) against our `marathon` on a real
//! multi-process cluster: create an app with a health check, scale it, roll an update with
//! `minimumHealthCapacity: 1.0` while polling that healthy running instances never drop
//! below the target, then delete it.

use std::time::Duration;

mod common;

/// The client-side script: prints `OK` at the end, raises (non-zero exit) on any breach.
const SCRIPT: &str = r#"
import sys, time, collections, collections.abc
# marathon 0.13 predates Python 3.10, which moved Iterable to collections.abc.
collections.Iterable = collections.abc.Iterable
from marathon import MarathonClient
from marathon.models import MarathonApp, MarathonHealthCheck
from marathon.models.app import MarathonUpgradeStrategy

c = MarathonClient(sys.argv[1], timeout=20)

def wait(what, cond, limit=120):
    deadline = time.time() + limit
    while time.time() < deadline:
        v = cond()
        if v:
            return v
        time.sleep(0.2)
    raise SystemExit("timed out waiting for " + what + ": " + repr([ (t.id, t.state, t.health_check_results) for t in c.list_tasks('/web')]))

def healthy(tasks):
    return [t for t in tasks if t.state == 'TASK_RUNNING' and t.health_check_results and t.health_check_results[0].alive]

app = MarathonApp(
    cmd='exec python3 -m http.server "$PORT0" --bind 127.0.0.1',
    cpus=0.1, mem=32, instances=2,
    env={'VERSION': '1'},
    health_checks=[MarathonHealthCheck(protocol='MESOS_HTTP', path='/', port_index=0,
        grace_period_seconds=60, interval_seconds=1, timeout_seconds=2,
        max_consecutive_failures=5, delay_seconds=0)],
    upgrade_strategy=MarathonUpgradeStrategy(minimum_health_capacity=1.0, maximum_over_capacity=0.5),
)
created = c.create_app('/web', app)
assert created and created.id == '/web', created
assert created.cpus == 0.1 and created.instances == 2
wait('2 healthy', lambda: len(healthy(c.list_tasks('/web'))) == 2 and not c.list_deployments())
print('created', flush=True)

c.scale_app('/web', instances=3)
wait('3 healthy after scale', lambda: len(healthy(c.list_tasks('/web'))) == 3 and not c.list_deployments())
assert c.get_app('/web').instances == 3
print('scaled', flush=True)

a = c.get_app('/web')
a.env = {'VERSION': '2'}
r = c.update_app('/web', a)
new_version = r['version']
assert r['deploymentId']
lowest = 3
deadline = time.time() + 180
while True:
    tasks = c.list_tasks('/web')
    h = healthy(tasks)
    lowest = min(lowest, len(h))
    if len(h) < 3:
        raise SystemExit('healthy instances dropped to %d during the rolling update: %r' % (len(h), [(t.id, t.version, t.state, t.health_check_results) for t in tasks]))
    if not c.list_deployments() and len(tasks) == 3 and all(t.version == new_version for t in tasks) and len(h) == 3:
        break
    if time.time() > deadline:
        raise SystemExit('rolling update did not finish: ' + repr([(t.id, t.version, t.state) for t in tasks]))
    time.sleep(0.1)
assert c.get_app('/web').env == {'VERSION': '2'}
print('upgraded, lowest healthy', lowest, flush=True)

c.delete_app('/web')
wait('app gone', lambda: not c.list_apps() and not c.list_tasks())
print('OK', flush=True)
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stock_python_client_creates_scales_upgrades_and_deletes() {
    let Some(py) = libproc::testing::python_env("marathon python client") else {
        return;
    };
    let cluster = common::cluster("marathon-py", &["", ""]).await;
    let (mut marathon, addr) = common::marathon(&cluster, "marathon", &[]).await;
    let script = cluster.dir.path().join("client.py");
    std::fs::write(&script, SCRIPT).unwrap();
    let run = tokio::process::Command::new(&py)
        .arg(&script)
        .arg(format!("http://{addr}"))
        .kill_on_drop(true)
        .output();
    let out = libproc::testing::within(Duration::from_secs(420), "the Python client script", run)
        .await
        .expect("python runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() || !stdout.contains("OK") {
        panic!(
            "client failed: {}\n--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}\n--- marathon ---\n{}\n{}",
            out.status,
            cluster::testkit::tail(&marathon.log_text(), 60),
            cluster.logs()
        );
    }
    marathon.kill();
}
