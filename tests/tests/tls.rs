//! TLS across real processes: `mesos-master`, `mesos-agent`, `mesos-execute` and the
//! executor, all set up by the `LIBPROCESS_SSL_*` environment alone (no per-binary flag),
//! run a task to `TASK_FINISHED` with TLS required and authentication on (the agent and
//! the framework prove their secrets over the TLS connections); the master refuses plain
//! HTTP and answers HTTPS; a missing certificate fails start-up saying which file.
//!
//! Build the binaries first: `cargo build --workspace --bins`.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use cluster::procs::{self, Proc};
use cluster::testkit::{require_bins, tail, wait_exit, TempDir};
use libproc::testing::{http_get, https_get, TestCa};
use libproc::tls::Tls;

/// Bound on anything a test waits for (generous: the machine may be loaded).
const LIMIT: Duration = Duration::from_secs(60);

/// Waits until `GET path` over TLS answers 200 and `ok` holds for the body (bounded).
async fn wait_https(
    tls: &Tls,
    addr: SocketAddr,
    path: &str,
    what: &str,
    ok: impl Fn(&str) -> bool,
) -> Result<String, String> {
    let start = Instant::now();
    let mut last = String::from("no answer");
    while start.elapsed() < LIMIT {
        match https_get(tls, addr, path).await {
            Ok((200, body)) if ok(&body) => return Ok(body),
            Ok((status, body)) => last = format!("{status}: {}", tail(&body, 5)),
            Err(e) => last = e.to_string(),
        }
        // Polling processes we do not control: there is no event to wait for.
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err(format!("{what}: not within {LIMIT:?}; last: {last}"))
}

fn logs(procs: &[&Proc]) -> String {
    procs
        .iter()
        .map(|p| {
            format!(
                "--- {} log (tail) ---\n{}\n",
                p.name,
                tail(&p.log_text(), 40)
            )
        })
        .collect()
}

#[tokio::test]
async fn a_tls_only_cluster_with_authentication_runs_a_task_and_refuses_plain_http() {
    require_bins(&[
        "mesos-master",
        "mesos-agent",
        "mesos-execute",
        "mesos-executor",
    ]);
    let dir = TempDir::new("tls-cluster");
    let log_dir = dir.path().join("logs");
    let ca = TestCa::new("cluster CA");
    let files = ca.issue(dir.path(), "node");
    let env = files.env();
    let tls = Tls::new(&files.settings()).unwrap();
    let credentials = dir.path().join("credentials.json");
    std::fs::write(
        &credentials,
        r#"{"credentials":[{"principal":"ops","secret":"ops-s3cret"},
            {"principal":"agent","secret":"agent-s3cret"}]}"#,
    )
    .unwrap();
    let agent_credential = dir.path().join("agent-credential");
    std::fs::write(&agent_credential, "agent agent-s3cret\n").unwrap();

    let master_addr = SocketAddr::from(([127, 0, 0, 1], procs::free_port()));
    let master = Proc::start_env(
        "master",
        "mesos-master",
        &[
            format!("--port={}", master_addr.port()),
            "--allocation_interval=100ms".into(),
            "--authenticate_frameworks".into(),
            "--authenticate_agents".into(),
            format!("--credentials=file://{}", credentials.display()),
        ],
        &env,
        &log_dir,
    )
    .unwrap();
    wait_https(&tls, master_addr, "/master/state", "the master up", |_| {
        true
    })
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", logs(&[&master])));

    let agent_port = procs::free_port();
    let agent = Proc::start_env(
        "agent",
        "mesos-agent",
        &[
            format!("--master={master_addr}"),
            format!("--port={agent_port}"),
            format!("--work_dir={}", dir.path().join("agent").display()),
            "--resources=cpus:2;mem:1024;disk:1024".into(),
            format!("--credential={}", agent_credential.display()),
        ],
        &env,
        &log_dir,
    )
    .unwrap();
    wait_https(
        &tls,
        master_addr,
        "/master/state",
        "the agent registered over TLS",
        |b| {
            serde_json::from_str::<serde_json::Value>(b)
                .is_ok_and(|s| s["activated_slaves"].as_u64() == Some(1))
        },
    )
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", logs(&[&master, &agent])));

    let mut exec = Proc::start_env(
        "mesos-execute",
        "mesos-execute",
        &[
            format!("--master={master_addr}"),
            "--name=hello".into(),
            "--command=echo hello".into(),
            "--principal=ops".into(),
            "--secret=ops-s3cret".into(),
        ],
        &env,
        &log_dir,
    )
    .unwrap();
    let status = wait_exit(&mut exec, LIMIT)
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", logs(&[&exec, &master, &agent])));
    let out = exec.log_text();
    assert_eq!(
        status.code(),
        Some(0),
        "mesos-execute failed:\n{out}\n{}",
        logs(&[&master, &agent])
    );
    assert!(out.contains("TASK_FINISHED"), "no TASK_FINISHED:\n{out}");

    // A plain request is closed unanswered; the same over TLS is answered.
    let plain = http_get(master_addr, "/master/state").await;
    assert!(plain.is_err(), "plain HTTP was answered: {plain:?}");
    let (status, body) = https_get(&tls, master_addr, "/master/state").await.unwrap();
    assert_eq!(status, 200);
    assert!(
        body.contains("\"hello\""),
        "the task is in the state: {body}"
    );
    let (_, metrics) = https_get(&tls, master_addr, "/metrics/snapshot")
        .await
        .unwrap();
    let metrics: serde_json::Value = serde_json::from_str(&metrics).unwrap();
    assert!(
        metrics["libproc/connections_refused_plaintext"].as_f64() >= Some(1.0),
        "the refusal is not counted: {metrics}"
    );
    // Both registrations went through authentication, none was refused.
    assert!(
        metrics["master/authentication_successes"].as_f64() >= Some(2.0),
        "the agent and the framework did not authenticate: {metrics}"
    );
    assert_eq!(
        metrics["master/registrations_refused_authentication"].as_f64(),
        Some(0.0),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_missing_certificate_fails_start_up_naming_the_file() {
    require_bins(&["mesos-master", "mesos-agent"]);
    let dir = TempDir::new("tls-bad-cert");
    let files = TestCa::new("cluster CA").issue(dir.path(), "node");
    let absent = dir.path().join("absent-cert.pem");
    let mut env = files.env();
    for (k, v) in &mut env {
        if k == "LIBPROCESS_SSL_CERT_FILE" {
            *v = absent.display().to_string();
        }
    }
    let port = procs::free_port();
    for (name, args) in [
        ("mesos-master", vec![format!("--port={port}")]),
        (
            "mesos-agent",
            vec![
                format!("--master=127.0.0.1:{port}"),
                format!("--port={}", procs::free_port()),
                format!("--work_dir={}", dir.path().join("agent").display()),
            ],
        ),
    ] {
        let mut p = Proc::start_env(name, name, &args, &env, &dir.path().join("logs")).unwrap();
        let status = wait_exit(&mut p, LIMIT).await.unwrap();
        assert!(!status.success(), "{name} started without its certificate");
        let log = p.log_text();
        assert!(
            log.contains(&format!(
                "LIBPROCESS_SSL_CERT_FILE={}: cannot read",
                absent.display()
            )),
            "{name} does not say which file:\n{log}"
        );
    }
}
