//! A Mesos-DNS-style reader ([`cluster::mesos_dns`]) builds the same task A and SRV records
//! from `/master/state` before and after a master failover (real `mesos-master`s contending
//! through a real ZooKeeper, real agents, `long-lived-framework`), and every state it reads
//! on the way parses (no framework `pid` that is not a UPID, even while the new leader only
//! knows the framework from its agents). Needs Debian's `zookeeper` (skipped without it
//! unless `CI` is set). Build the binaries first: `cargo build --workspace --bins`.

use std::collections::BTreeMap;
use std::time::Instant;

use cluster::ha::{HaCluster, HaConfig, FRAMEWORK};
use cluster::mesos_dns::{label, records, Records};

const DOMAIN: &str = "mesos";

/// The records of the framework's tasks: A (`task.framework.domain`) and SRV.
fn task_records(r: &Records) -> (BTreeMap<String, Vec<String>>, BTreeMap<String, Vec<u16>>) {
    let suffix = format!(".{}.{DOMAIN}", label(FRAMEWORK));
    let a =
        r.a.iter()
            .filter(|(n, _)| n.ends_with(&suffix) && !n.ends_with(&format!(".slave{suffix}")))
            .map(|(n, ips)| (n.clone(), ips.iter().cloned().collect()))
            .collect();
    let srv = r
        .srv
        .iter()
        .filter(|(n, _)| n.ends_with(&suffix))
        .map(|(n, t)| (n.clone(), t.iter().map(|(_, p)| *p).collect()))
        .collect();
    (a, srv)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mesos_dns_records_survive_a_master_failover() {
    let config = HaConfig {
        agent_resources: "cpus:2;mem:1024;disk:1024;ports:[31000-31000]".into(),
        instances: 2,
        task_resources: "cpus:0.1;mem:32;ports:[31000-31000]".into(),
        ..HaConfig::default()
    };
    let Some(mut cluster) = HaCluster::start("mesos-dns", config).await else {
        libproc::testing::skip_unless_ci(
            "mesos-dns",
            "ZooKeeper is not installed (apt-get install zookeeper)",
        );
        return;
    };
    let base = cluster.baseline().await;
    let (leader, state) = cluster.wait_leader("the leader", |_, _| true).await;
    let before = records(&state, DOMAIN).unwrap_or_else(|e| cluster.fail(&e));
    let (a, srv) = task_records(&before);
    assert_eq!(a.len(), 2, "one A record per running task: {before:?}");
    assert!(
        a.values().all(|ips| ips == &vec!["127.0.0.1".to_string()]),
        "{a:?}"
    );
    // tcp and udp per task, each on the task's port.
    assert_eq!(srv.len(), 4, "{srv:?}");
    assert!(srv.values().all(|p| p == &vec![31000]), "{srv:?}");
    let leader_port = cluster.master_addr(leader).port();
    assert!(before.srv["_leader._tcp.mesos"].contains(&("leader.mesos".into(), leader_port)));

    let killed_at = Instant::now();
    cluster.kill_master(leader);
    // Every state the new leader shows on the way must parse, until the records are back.
    let mut seen = 0;
    let (new_leader, after) = cluster
        .wait_leader("the task records back on the new leader", |i, s| {
            if i == leader {
                return false;
            }
            seen += 1;
            match records(s, DOMAIN) {
                Ok(r) => task_records(&r) == (a.clone(), srv.clone()),
                Err(e) => panic!("Mesos-DNS would refuse this state ({e}): {s}"),
            }
        })
        .await;
    let after = records(&after, DOMAIN).unwrap_or_else(|e| cluster.fail(&e));
    let new_port = cluster.master_addr(new_leader).port();
    assert!(after.srv["_leader._tcp.mesos"].contains(&("leader.mesos".into(), new_port)));
    assert_eq!(after.a["leader.mesos"], before.a["leader.mesos"]);
    eprintln!(
        "records back {:?} after the SIGKILL of the leader ({seen} states read)",
        killed_at.elapsed()
    );
    cluster
        .wait_recovered(&base, Some((leader, &state["id"])), killed_at)
        .await;
}
