//! Shared fixture of the marathon suites: a multi-process cluster whose agents share the
//! host but not their port ranges (tasks bind their `$PORT0`), optionally with attributes,
//! and `marathon` processes on it.

#![allow(dead_code)]

use std::net::SocketAddr;

use cluster::procs::Proc;
use cluster::testkit::{start_server, MultiCluster};

/// A [`MultiCluster`] that, dropped, also SIGKILLs every process left in its sandboxes:
/// the tasks of a killed executor would otherwise outlive the suite.
pub struct Cluster(pub MultiCluster);

impl std::ops::Deref for Cluster {
    type Target = MultiCluster;
    fn deref(&self) -> &MultiCluster {
        &self.0
    }
}

impl std::ops::DerefMut for Cluster {
    fn deref_mut(&mut self) -> &mut MultiCluster {
        &mut self.0
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let pids: Vec<String> = cluster::ha::processes_under(self.0.dir.path())
            .into_iter()
            .map(|(pid, _)| pid.to_string())
            .collect();
        if !pids.is_empty() {
            let _ = std::process::Command::new("kill")
                .arg("-9")
                .args(&pids)
                .status();
        }
    }
}

/// A master and one agent per entry of `attributes` (`""` for none); agent `i` (from 1)
/// advertises host name `agent<i>` and offers ports `[30000+1000i, 30999+1000i]`.
pub async fn cluster(prefix: &str, attributes: &[&str]) -> Cluster {
    cluster_with_hosts(prefix, attributes, |i| format!("agent{i}"), 31000).await
}

/// [`cluster`] with agent `i`'s host name from `hostname(i)` (e.g. `127.0.0.1`, for
/// suites whose scheduler reaches the tasks itself) and its ports from
/// `port_base + 1000(i-1)` (suites whose tasks bind ports use distinct bases, as they run
/// in parallel).
pub async fn cluster_with_hosts(
    prefix: &str,
    attributes: &[&str],
    hostname: impl Fn(usize) -> String,
    port_base: usize,
) -> Cluster {
    cluster::testkit::require_bins(&["marathon", "mesos-master", "mesos-agent", "mesos-executor"]);
    let mut c = MultiCluster::start(prefix, 0, "").await;
    for (i, attrs) in attributes.iter().enumerate() {
        let work_dir = c.agent_work_dir(i + 1);
        let master = c.master_arg();
        let lo = port_base + 1000 * i;
        let hostname = hostname(i + 1);
        let resources = format!("cpus:4;mem:2048;disk:1000;ports:[{lo}-{}]", lo + 999);
        let attrs = attrs.to_string();
        let started = start_server(
            &format!("agent-{}", i + 1),
            "mesos-agent",
            |p| {
                let mut a = vec![
                    master.clone(),
                    format!("--port={p}"),
                    format!("--work_dir={}", work_dir.display()),
                    format!("--resources={resources}"),
                    format!("--hostname={hostname}"),
                ];
                if !attrs.is_empty() {
                    a.push(format!("--attributes={attrs}"));
                }
                a
            },
            "/state",
            &c.log_dir(),
        )
        .await;
        match started {
            Ok((p, addr)) => {
                c.agents.push(p);
                c.agent_addrs.push(addr);
            }
            Err(e) => panic!("{e}\n{}", c.logs()),
        }
    }
    if let Err(e) = c.wait_activated(attributes.len()).await {
        panic!("{e}\n{}", c.logs());
    }
    Cluster(c)
}

/// Sends `method path` with a JSON body; returns status and parsed JSON (Null if none).
pub async fn call(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: &serde_json::Value,
) -> (u16, serde_json::Value) {
    let raw = if body.is_null() {
        Vec::new()
    } else {
        body.to_string().into_bytes()
    };
    let (status, text) = libproc::testing::http_request(addr, method, path, &raw)
        .await
        .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
    (
        status,
        serde_json::from_str(&text).unwrap_or(serde_json::Value::Null),
    )
}

/// Starts `marathon` on the cluster with `extra` flags; waits for `/ping`.
pub async fn marathon(c: &MultiCluster, name: &str, extra: &[String]) -> (Proc, SocketAddr) {
    let master = c.master_arg();
    let extra = extra.to_vec();
    start_server(
        name,
        "marathon",
        |p| {
            let mut a = vec![master.clone(), format!("--http_port={p}")];
            a.extend(extra.iter().cloned());
            a
        },
        "/ping",
        &c.log_dir(),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"))
}
