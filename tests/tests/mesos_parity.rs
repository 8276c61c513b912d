//! Parity with what Mesos's ecosystem reads from a master and an agent started as
//! separate processes: the metric names of Mesos's `/metrics/snapshot` (and the same in
//! Prometheus `/metrics` text) from start-up, as zeros rather than absent.

use cluster::procs::get_json;
use cluster::testkit::MultiCluster;

/// Mesos master names dashboards and mesos-exporter read.
const MASTER_NAMES: &[&str] = &[
    "master/cpus_total",
    "master/cpus_used",
    "master/cpus_percent",
    "master/cpus_revocable_total",
    "master/cpus_revocable_used",
    "master/cpus_revocable_percent",
    "master/mem_total",
    "master/mem_used",
    "master/mem_percent",
    "master/disk_total",
    "master/disk_used",
    "master/disk_percent",
    "master/gpus_total",
    "master/gpus_used",
    "master/gpus_percent",
    "master/elected",
    "master/uptime_secs",
    "master/slaves_active",
    "master/slaves_connected",
    "master/slaves_disconnected",
    "master/slaves_inactive",
    "master/slaves_unreachable",
    "master/slave_registrations",
    "master/slave_reregistrations",
    "master/slave_removals",
    "master/frameworks_active",
    "master/frameworks_connected",
    "master/frameworks_disconnected",
    "master/frameworks_inactive",
    "master/outstanding_offers",
    "master/operator_event_stream_subscribers",
    "master/tasks_staging",
    "master/tasks_starting",
    "master/tasks_running",
    "master/tasks_killing",
    "master/tasks_finished",
    "master/tasks_failed",
    "master/tasks_killed",
    "master/tasks_lost",
    "master/tasks_error",
    "master/tasks_unreachable",
    "master/valid_status_updates",
    "master/invalid_status_updates",
    "master/valid_status_update_acknowledgements",
    "master/invalid_status_update_acknowledgements",
    "master/valid_framework_to_executor_messages",
    "master/invalid_framework_to_executor_messages",
    "master/valid_executor_to_framework_messages",
    "master/invalid_executor_to_framework_messages",
    "master/event_queue_messages",
    "master/event_queue_dispatches",
    "master/event_queue_http_requests",
    "master/messages_launch_tasks",
    "master/messages_register_framework",
    "master/messages_status_update",
    "master/messages_decline_offers",
    "master/dropped_messages",
    "allocator/mesos/allocation_runs",
    "allocator/mesos/allocation_run_ms",
    "allocator/mesos/event_queue_dispatches",
    "allocator/mesos/offer_filters/active",
    "allocator/mesos/resources/cpus/total",
    "allocator/mesos/resources/cpus/offered_or_allocated",
    "allocator/mesos/resources/mem/total",
    "allocator/mesos/resources/disk/offered_or_allocated",
    "system/cpus_total",
    "system/load_1min",
    "system/load_5min",
    "system/load_15min",
    "system/mem_total_bytes",
    "system/mem_free_bytes",
];

/// Mesos agent names mesos-exporter's agent mode reads.
const AGENT_NAMES: &[&str] = &[
    "slave/tasks_staging",
    "slave/tasks_starting",
    "slave/tasks_running",
    "slave/tasks_killing",
    "slave/tasks_finished",
    "slave/tasks_failed",
    "slave/tasks_killed",
    "slave/tasks_lost",
    "slave/tasks_gone",
    "slave/executors_registering",
    "slave/executors_running",
    "slave/executors_terminating",
    "slave/executors_terminated",
    "slave/executors_preempted",
    "slave/frameworks_active",
    "slave/cpus_total",
    "slave/cpus_used",
    "slave/cpus_percent",
    "slave/cpus_revocable_total",
    "slave/mem_total",
    "slave/mem_used",
    "slave/mem_percent",
    "slave/disk_total",
    "slave/disk_used",
    "slave/disk_percent",
    "slave/gpus_total",
    "slave/uptime_secs",
    "slave/registered",
    "slave/recovery_errors",
    "slave/valid_status_updates",
    "slave/invalid_status_updates",
    "slave/container_launch_errors",
    "containerizer/mesos/container_destroy_errors",
    "containerizer/fetcher/task_fetches_succeeded",
    "containerizer/fetcher/task_fetches_failed",
    "system/cpus_total",
    "system/load_1min",
    "system/load_5min",
    "system/load_15min",
    "system/mem_total_bytes",
    "system/mem_free_bytes",
];

/// Every name is a number in the JSON snapshot and a sample in the Prometheus text.
async fn assert_names(addr: std::net::SocketAddr, names: &[&str]) -> serde_json::Value {
    let snap = get_json(addr, "/metrics/snapshot").await.expect("snapshot");
    let missing: Vec<&&str> = names.iter().filter(|n| !snap[**n].is_number()).collect();
    assert!(missing.is_empty(), "missing on {addr}: {missing:?}\n{snap}");
    let (status, text) = libproc::testing::http_get(addr, "/metrics")
        .await
        .expect("/metrics");
    assert_eq!(status, 200);
    let missing: Vec<&&str> = names
        .iter()
        .filter(|n| {
            let prom = n.replace('/', "_");
            !text
                .lines()
                .any(|l| l.starts_with(&format!("{prom}{{")) || l.starts_with(&format!("{prom} ")))
        })
        .collect();
    assert!(
        missing.is_empty(),
        "missing in /metrics on {addr}: {missing:?}"
    );
    snap
}

#[tokio::test]
async fn mesos_metric_names_are_there_from_start_up() {
    let c = MultiCluster::start("metrics-parity", 1, "cpus:2;mem:512;disk:100").await;
    let master = assert_names(c.master_addr, MASTER_NAMES).await;
    assert_eq!(master["master/elected"], 1.0);
    assert!(master["system/cpus_total"].as_f64().unwrap_or(0.0) >= 1.0);
    assert!(master["system/mem_total_bytes"].as_f64().unwrap_or(0.0) > 0.0);
    // The gauges follow the cluster: one agent with 2 CPUs.
    let snap = wait_metric(&c, c.master_addr, "master/cpus_total", 2.0).await;
    assert_eq!(snap["master/mem_total"], 512.0);
    assert_eq!(snap["master/slave_registrations"], 1.0);
    let agent = assert_names(c.agent_addrs[0], AGENT_NAMES).await;
    assert_eq!(agent["slave/cpus_total"], 2.0);
    assert_eq!(agent["slave/tasks_running"], 0.0);
    let agent = wait_metric(&c, c.agent_addrs[0], "slave/registered", 1.0).await;
    assert!(agent["slave/uptime_secs"].as_f64().is_some());
}

/// Waits (bounded) until metric `name` on `addr` is `value`; the snapshot then.
async fn wait_metric(
    c: &MultiCluster,
    addr: std::net::SocketAddr,
    name: &str,
    value: f64,
) -> serde_json::Value {
    cluster::procs::wait_json(
        addr,
        "/metrics/snapshot",
        std::time::Duration::from_secs(30),
        &format!("{name} = {value}"),
        |s| s[name] == value,
    )
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", c.logs()))
}

/// Runs `program args` to completion: (exit code, stdout + stderr).
fn run(program: &str, args: &[&str]) -> (i32, String) {
    cluster::testkit::require_bins(&[program]);
    let out = std::process::Command::new(cluster::procs::bin(program))
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

#[test]
fn version_and_bad_start_script_flags_on_master_and_agent() {
    for program in ["mesos-master", "mesos-agent"] {
        let (code, text) = run(program, &["--version"]);
        assert_eq!(code, 0, "{program} --version: {text}");
        assert_eq!(text.trim(), format!("mesos {}", proto::MESOS_VERSION));
        let (code, text) = run(program, &["--master=127.0.0.1:1", "--logging_level=LOUD"]);
        // The master has no --master flag: it says so, with the valid list.
        if program == "mesos-master" {
            assert_eq!(code, 2, "{text}");
            assert!(
                text.contains("unknown flag '--master'") && text.contains("--logging_level"),
                "{text}"
            );
            let (code, text) = run(program, &["--logging_level=LOUD"]);
            assert_eq!(code, 2, "{text}");
            assert!(text.contains("INFO, WARNING or ERROR"), "{text}");
        } else {
            assert_eq!(code, 2, "{text}");
            assert!(
                text.contains("--logging_level") && text.contains("INFO, WARNING or ERROR"),
                "{text}"
            );
        }
        let master_flag = if program == "mesos-agent" {
            "--master=127.0.0.1:1"
        } else {
            "--quiet"
        };
        let (code, text) = run(program, &[master_flag, "--advertise_port=big"]);
        assert_eq!(code, 2, "{text}");
        assert!(text.contains("--advertise_port"), "{text}");
    }
}

#[tokio::test]
async fn log_dir_hostname_and_advertised_address_reach_state_and_log_files() {
    let dir = cluster::testkit::TempDir::new("start-flags");
    let log_dir = dir.path().join("mesos-logs");
    let advertised_port = cluster::procs::free_port();
    let ld = log_dir.clone();
    let (master, addr) = cluster::testkit::start_server(
        "master",
        "mesos-master",
        move |p| {
            vec![
                format!("--port={p}"),
                format!("--log_dir={}", ld.display()),
                "--logging_level=INFO".into(),
                "--hostname=master.example".into(),
                "--advertise_ip=127.0.0.1".into(),
                format!("--advertise_port={advertised_port}"),
            ]
        },
        "/master/state",
        &dir.path().join("logs"),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    let state = get_json(addr, "/master/state").await.expect("state");
    let pid = state["pid"].as_str().unwrap_or_default().to_string();
    assert!(
        pid.ends_with(&format!("@127.0.0.1:{advertised_port}")),
        "{pid}"
    );
    assert_eq!(state["leader"], pid.as_str());
    assert_eq!(state["hostname"], "master.example");
    assert_eq!(state["leader_info"]["port"], advertised_port);
    assert_eq!(state["flags"]["log_dir"], log_dir.display().to_string());
    // The log file behind <log_dir>/mesos-master.INFO has the start-up lines.
    let link = log_dir.join("mesos-master.INFO");
    let text = std::fs::read_to_string(&link).unwrap_or_else(|e| panic!("{}: {e}", link.display()));
    assert!(text.contains("Master started"), "{text}");
    drop(master);
}

/// The v0 endpoints Mesos's tools and web UI read beside `/master/state`:
/// `/master/state-summary`, `/version` (master and agent report the same version),
/// `?jsonp=` wrapping JSON answers (and refusing a callback that is not a plain name), and
/// `/logging/toggle`.
#[tokio::test]
async fn state_summary_version_jsonp_and_logging_toggle() {
    use libproc::testing::{http_get, http_get_full};
    let c = MultiCluster::start("v0-endpoints", 1, "cpus:2;mem:512;disk:100").await;
    let limit = std::time::Duration::from_secs(30);
    let summary = cluster::procs::wait_json(
        c.master_addr,
        "/master/state-summary",
        limit,
        "the agent in the summary",
        |s| s["slaves"].as_array().is_some_and(|a| a.len() == 1),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", c.logs()));
    let slave = &summary["slaves"][0];
    assert_eq!(slave["TASK_RUNNING"], 0, "{slave}");
    assert_eq!(slave["framework_ids"], serde_json::json!([]), "{slave}");
    assert!(slave.get("tasks").is_none(), "{slave}");
    assert_eq!(slave["resources"]["cpus"], 2.0, "{slave}");

    let state = get_json(c.master_addr, "/master/state").await.unwrap();
    for addr in [c.master_addr, c.agent_addrs[0]] {
        let (status, body) = http_get(addr, "/version").await.unwrap();
        assert_eq!(status, 200, "{body}");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["version"], state["version"], "{body}");
    }

    let (status, head, body) = http_get_full(c.master_addr, "/master/state?jsonp=angular.cb_0")
        .await
        .unwrap();
    assert_eq!(status, 200, "{head}");
    assert!(
        head.to_ascii_lowercase().contains("text/javascript"),
        "{head}"
    );
    let inner = body
        .strip_prefix("angular.cb_0(")
        .and_then(|b| b.strip_suffix(");"))
        .unwrap_or_else(|| panic!("not wrapped: {}", &body[..body.len().min(80)]));
    let wrapped: serde_json::Value = serde_json::from_str(inner).unwrap();
    assert_eq!(wrapped["id"], state["id"]);
    let (status, _) = http_get(c.master_addr, "/master/state?jsonp=x);alert(1")
        .await
        .unwrap();
    assert_eq!(status, 400);

    let (status, body) = http_get(c.master_addr, "/logging/toggle?level=1&duration=1secs")
        .await
        .unwrap();
    assert_eq!(status, 200, "{body}");
    let (status, _) = http_get(c.master_addr, "/logging/toggle?level=x&duration=1secs")
        .await
        .unwrap();
    assert_eq!(status, 400);
}
