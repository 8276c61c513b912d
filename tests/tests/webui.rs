//! The master's web UI in a real browser: headless Chromium driven by selenium
//! (`tests/python/webui_test.py`) against a real multi-process cluster (the master and two
//! agents on their own ports, so the UI reads the agents' sandboxes cross-origin), and HA
//! clusters with real ZooKeeper for a standby master's page: sent to the leader when the
//! browser reaches it, else showing the leader's state read through the standby.
//!
//! Needs the workspace binaries (`cargo build --workspace --bins`), the Python virtualenv
//! (`scripts/python-env.sh`) and Debian's chromium and chromium-driver; without the last
//! two a run skips (and fails under CI). Screenshots go to `target/screenshots/webui/`.

use std::path::PathBuf;
use std::time::Duration;

use cluster::ha::{HaCluster, HaConfig};
use cluster::procs::{self, Proc};
use cluster::testkit::{require_bins, tail, wait_exit, MultiCluster};

/// Bound on anything the cluster side waits for (generous: the machine may be loaded).
const LIMIT: Duration = Duration::from_secs(30);
/// Bound on one browser script run (it bounds each of its own waits too).
const BROWSER_LIMIT: Duration = Duration::from_secs(240);

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(PathBuf::from)
        .unwrap_or_default()
}

/// What the browser script needs: the interpreter, the browser and its driver.
struct Browser {
    python: PathBuf,
    chromium: PathBuf,
    driver: PathBuf,
}

fn browser(test: &str) -> Option<Browser> {
    let python = libproc::testing::python_env(test)?;
    let (chromium, driver) = libproc::testing::chromium(test)?;
    Some(Browser {
        python,
        chromium,
        driver,
    })
}

/// Runs the selenium script with `args` (bounded) and panics with its output and
/// `logs()` unless it succeeds.
async fn run_script(
    b: &Browser,
    log_dir: &std::path::Path,
    args: &[String],
    logs: impl Fn() -> String,
) {
    let screenshots = repo_root().join("target/screenshots/webui");
    let mut all = vec![
        repo_root()
            .join("tests/python/webui_test.py")
            .display()
            .to_string(),
        format!("--browser={}", b.chromium.display()),
        format!("--driver={}", b.driver.display()),
        format!("--screenshots={}", screenshots.display()),
    ];
    all.extend(args.iter().cloned());
    std::fs::create_dir_all(log_dir).expect("the log directory");
    let log = log_dir.join("webui_test.log");
    let out = std::fs::File::create(&log).expect("the script's log file");
    let child = std::process::Command::new(&b.python)
        .args(&all)
        .stdout(out.try_clone().expect("a second handle on the log"))
        .stderr(out)
        .stdin(std::process::Stdio::null())
        .spawn()
        .expect("the selenium script starts");
    let mut p = Proc {
        name: "webui_test.py".into(),
        child,
        log,
    };
    let status = wait_exit(&mut p, BROWSER_LIMIT).await;
    let output = p.log_text();
    match status {
        Ok(s) if s.success() => eprintln!("{output}"),
        other => panic!("the browser test failed ({other:?}):\n{output}\n{}", logs()),
    }
}

/// Waits (bounded) until the task named `name` is in state `state` in `/master/state`.
async fn wait_task(c: &MultiCluster, name: &str, state: &str) {
    let found = procs::wait_json(
        c.master_addr,
        "/master/state",
        LIMIT,
        &format!("task {name} in {state}"),
        |s| {
            ["frameworks", "completed_frameworks"].iter().any(|k| {
                s[k].as_array().into_iter().flatten().any(|f| {
                    ["tasks", "completed_tasks"].iter().any(|l| {
                        f[l].as_array()
                            .into_iter()
                            .flatten()
                            .any(|t| t["id"] == name && t["state"] == state)
                    })
                })
            })
        },
    )
    .await;
    if let Err(e) = found {
        panic!("{e}\n{}", c.logs());
    }
}

/// Starts a mesos-execute task and waits for it to exit (finished, failed or killed).
async fn run_task(c: &MultiCluster, name: &str, command: &str, extra: &[&str]) -> Proc {
    let mut args = vec![
        c.master_arg(),
        format!("--name={name}"),
        format!("--command={command}"),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    let mut p = c.start_proc(name, "mesos-execute", &args);
    if let Err(e) = wait_exit(&mut p, LIMIT).await {
        panic!("{e}\n{}\n{}", tail(&p.log_text(), 30), c.logs());
    }
    p
}

/// The home page's figures equal /master/state's after tasks finished, failed and were
/// killed, and its allocation charts end at the allocated figures; a running task's stdout
/// shows in the sandbox viewer and grows while followed; the master's log shows; deep
/// links, back and forward work; a task launched while the page is open appears through
/// the master's event stream, without a reload and without the page reading
/// /master/state again; the console has no errors.
#[tokio::test]
async fn the_dashboard_agrees_with_the_master_and_follows_a_sandbox() {
    let test = "the_dashboard_agrees_with_the_master_and_follows_a_sandbox";
    require_bins(&[
        "mesos-master",
        "mesos-agent",
        "mesos-executor",
        "mesos-execute",
    ]);
    let Some(b) = browser(test) else { return };
    // With --log_dir, so the home page links the master's log (/files/read?path=/master/log).
    let c = MultiCluster::start_with(
        "webui",
        2,
        "cpus:2;mem:1024;disk:1024",
        |dir| vec![format!("--log_dir={}", dir.join("master-log").display())],
        &[],
    )
    .await;

    run_task(&c, "finishes", "echo done", &[]).await;
    wait_task(&c, "finishes", "TASK_FINISHED").await;
    run_task(&c, "fails", "echo about to fail; exit 3", &[]).await;
    wait_task(&c, "fails", "TASK_FAILED").await;
    run_task(&c, "killed", "sleep 1000", &["--kill_after=1secs"]).await;
    wait_task(&c, "killed", "TASK_KILLED").await;
    // Runs for the whole test, printing a line every 0.5 s.
    let _ticker = c.start_proc(
        "ticker",
        "mesos-execute",
        &[
            c.master_arg(),
            "--name=ticker".into(),
            "--command=i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.5; done".into(),
        ],
    );
    wait_task(&c, "ticker", "TASK_RUNNING").await;

    run_script(
        &b,
        &c.log_dir(),
        &[
            format!("--master=http://{}", c.master_addr),
            "--ticker=ticker".into(),
            "--failed=fails".into(),
            format!("--mesos-execute={}", procs::bin("mesos-execute").display()),
            "--master-log".into(),
        ],
        || c.logs(),
    )
    .await;
}

/// A standby master's page sends the browser to the leader's, keeping the deep link.
#[tokio::test]
async fn a_standby_masters_page_lands_on_the_leader() {
    let test = "a_standby_masters_page_lands_on_the_leader";
    let Some(b) = browser(test) else { return };
    let config = HaConfig {
        masters: 2,
        agents: 1,
        instances: 0,
        ..HaConfig::default()
    };
    let Some(ha) = HaCluster::start_without_framework("webui-ha", config).await else {
        return;
    };
    let leader = ha.leader().await;
    let standby = (leader + 1) % ha.num_masters();
    run_script(
        &b,
        &ha.dir().join("logs"),
        &[
            format!("--master=http://{}", ha.master_addr(leader)),
            format!("--standby=http://{}", ha.master_addr(standby)),
        ],
        || ha.logs(),
    )
    .await;
}

/// A standby whose leader advertises a host the browser cannot resolve (as the Docker
/// demo's `masterN`): its page stays on the standby and shows the leader's state, read
/// through the standby.
#[tokio::test]
async fn a_standby_shows_an_unreachable_leaders_state_through_itself() {
    let test = "a_standby_shows_an_unreachable_leaders_state_through_itself";
    let Some(b) = browser(test) else { return };
    let config = HaConfig {
        masters: 2,
        agents: 1,
        instances: 0,
        // RFC 2606: `.invalid` never resolves.
        master_hostname: Some("leader.invalid".into()),
        ..HaConfig::default()
    };
    let Some(ha) = HaCluster::start_without_framework("webui-ha-proxy", config).await else {
        return;
    };
    let leader = ha.leader().await;
    let standby = (leader + 1) % ha.num_masters();
    run_script(
        &b,
        &ha.dir().join("logs"),
        &[
            format!("--master=http://{}", ha.master_addr(leader)),
            format!("--standby=http://{}", ha.master_addr(standby)),
            "--leader-unreachable=leader.invalid".into(),
        ],
        || ha.logs(),
    )
    .await;
}

/// The page's event stream survives its master: killed, the page says so; started again on
/// the same port, the page reconnects on its own (backing off meanwhile) and shows the new
/// master, following its stream. The script runs the master itself, to kill and restart it.
#[tokio::test]
async fn the_page_reconnects_to_a_restarted_master() {
    let test = "the_page_reconnects_to_a_restarted_master";
    require_bins(&["mesos-master"]);
    let Some(b) = browser(test) else { return };
    let dir = cluster::testkit::TempDir::new("webui-reconnect");
    run_script(
        &b,
        &dir.path().join("logs"),
        &[
            format!("--restart-master={}", procs::bin("mesos-master").display()),
            format!("--work-dir={}", dir.path().display()),
        ],
        || {
            tail(
                &std::fs::read_to_string(dir.path().join("master.log")).unwrap_or_default(),
                40,
            )
        },
    )
    .await;
}
