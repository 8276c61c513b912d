//! Two masters on two nodes contending through a real ZooKeeper (skipped with a message
//! when Debian's `zookeeper` package is missing): the non-leader redirects and drops; the
//! leader works and persists its registry in ZooKeeper; when the leader goes, the other
//! takes over with the registry; when ZooKeeper is gone past the session timeout, the
//! leader stops.

use std::net::SocketAddr;
use std::time::Duration;

use detector::zk_test_server::ZkServer;
use libproc::testing::within;
use libproc::{Ctx, Handlers, Node, NodeConfig, Pid, Process};
use master::leadership::Leadership;
use master::{MasterConfig, MasterHandle};
use proto::messages::*;
use proto::{AgentId, AgentInfo, Resources};
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};

const LIMIT: Duration = Duration::from_secs(60);

/// A fake agent: answers pings, forwards (re)registration answers to the test.
struct FakeAgent(UnboundedSender<AgentId>);
impl Process for FakeAgent {
    fn install(h: &mut Handlers<Self>) {
        h.on(
            |_me: &mut FakeAgent, ctx: &mut Ctx<Self>, from: Pid, _p: PingSlaveMessage| {
                ctx.send(&from, PongSlaveMessage {});
            },
        );
        h.on(
            |me: &mut FakeAgent, _ctx: &mut Ctx<Self>, _from: Pid, m: SlaveRegisteredMessage| {
                let _ = me.0.send(m.slave_id);
            },
        );
        h.on(
            |me: &mut FakeAgent, _ctx: &mut Ctx<Self>, _from: Pid, m: SlaveReregisteredMessage| {
                let _ = me.0.send(m.slave_id);
            },
        );
    }
}

fn config(zk: &ZkServer, seed: u64) -> MasterConfig {
    MasterConfig {
        id_seed: seed,
        zk: Some(zk.url("/mesos")),
        zk_session_timeout: Duration::from_secs(2),
        registry: "zookeeper".into(),
        ..MasterConfig::default()
    }
}

async fn start_master(zk: &ZkServer, seed: u64) -> (Node, MasterHandle) {
    let node = Node::bind(NodeConfig::new("127.0.0.1:0".parse().unwrap()))
        .await
        .expect("bind");
    let h = master::spawn(&node, config(zk, seed), None).expect("spawn master");
    (node, h)
}

async fn leadership(h: &MasterHandle) -> Option<Leadership> {
    h.master.call(|m, _| m.leadership()).await.ok()
}

async fn until_leadership(h: &MasterHandle, want: Leadership, what: &str) {
    within(LIMIT, what, async {
        while leadership(h).await != Some(want) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
}

async fn http_get(addr: SocketAddr, path: &str) -> (u16, String, String) {
    within(
        Duration::from_secs(10),
        "HTTP response",
        libproc::testing::http_get_full(addr, path),
    )
    .await
    .expect("HTTP exchange")
}

fn register(node: &Node, agent: &Pid, master: &Pid) {
    node.send(
        agent,
        master,
        RegisterSlaveMessage {
            slave: AgentInfo::new("agent-host", "cpus:2;mem:1024".parse().unwrap()),
            checkpointed_resources: Resources::new(),
            version: "1.11.0".into(),
        },
    );
}

async fn next_id(rx: &mut UnboundedReceiver<AgentId>, what: &str) -> AgentId {
    within(LIMIT, what, rx.recv()).await.expect("agent gone")
}

#[actix_rt::test]
async fn two_masters_fail_over_through_zookeeper() {
    let Some(mut zk) = ZkServer::start().await else {
        return;
    };
    let (node_a, a) = start_master(&zk, 1).await;
    until_leadership(&a, Leadership::Leading, "A leads").await;
    let (node_b, b) = start_master(&zk, 2).await;
    // B knows A leads.
    within(LIMIT, "B sees A", async {
        loop {
            let l = b.master.call(|m, _| m.leader().cloned()).await.unwrap();
            if l.is_some_and(|l| l.pid == a.pid().to_string()) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert_eq!(leadership(&b).await, Some(Leadership::Contending));

    // The non-leader redirects leader-only routes, keeps health and redirect.
    let (status, head, _) = http_get(node_b.addr(), "/master/state").await;
    assert_eq!(status, 307, "{head}");
    let want = format!(
        "location: //127.0.0.1:{}/master/state",
        node_a.addr().port()
    );
    assert!(head.contains(&want), "{head}");
    assert_eq!(http_get(node_b.addr(), "/master/health").await.0, 200);
    let (status, head, _) = http_get(node_b.addr(), "/master/redirect").await;
    assert_eq!(status, 307);
    assert!(
        head.contains(&format!("location: //127.0.0.1:{}", node_a.addr().port())),
        "{head}"
    );

    // The leader works: /state names it, an agent registers.
    let (status, _, body) = http_get(node_a.addr(), "/master/state").await;
    assert_eq!(status, 200);
    let state: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(state["leader"], a.pid().to_string());
    let (tx, mut rx) = unbounded_channel();
    let agent = node_a
        .spawn("slave(1)", FakeAgent(tx))
        .unwrap()
        .pid()
        .clone();
    register(&node_a, &agent, a.pid());
    let agent_id = next_id(&mut rx, "registered with A").await;

    // The non-leader drops agent messages (counted), answers nothing.
    register(&node_a, &agent, b.pid());
    within(LIMIT, "B drops the registration", async {
        while b.master.call(|m, _| m.dropped_messages()).await.unwrap() == 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(rx.try_recv().is_err(), "the non-leader answered");

    // The registry reaches ZooKeeper.
    let store =
        detector::zk_store::ZkBlobStore::new(&zk.url("/mesos"), "registry", Duration::from_secs(4));
    within(LIMIT, "registry persisted", async {
        loop {
            if let Ok(Some(bytes)) = store.load().await {
                let r = master::registry::Registry::decode(&bytes).unwrap();
                if r.agents.contains_key(&agent_id) {
                    break;
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;

    // A goes away (its session closes): B is elected and recovers the registry.
    node_a.terminate(a.pid());
    until_leadership(&b, Leadership::Leading, "B leads").await;
    let recovered = b
        .master
        .call(|m, _| {
            m.core()
                .recovered_agents()
                .keys()
                .cloned()
                .collect::<Vec<_>>()
        })
        .await
        .unwrap();
    assert_eq!(recovered, vec![agent_id.clone()]);
    let (status, _, body) = http_get(node_b.addr(), "/master/state").await;
    assert_eq!(status, 200);
    let state: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(state["leader"], b.pid().to_string());
    let (status, head, _) = http_get(node_b.addr(), "/master/redirect").await;
    assert_eq!(status, 307);
    assert!(
        head.contains(&format!("location: //127.0.0.1:{}", node_b.addr().port())),
        "{head}"
    );
    let (_, _, metrics) = http_get(node_b.addr(), "/metrics/snapshot").await;
    let metrics: serde_json::Value = serde_json::from_str(&metrics).unwrap_or_default();
    if let Some(v) = metrics.get("master/elected") {
        assert_eq!(v.as_f64(), Some(1.0), "{metrics}");
    }

    // The agent re-registers with B.
    node_a.send(
        &agent,
        b.pid(),
        ReregisterSlaveMessage {
            slave: {
                let mut i = AgentInfo::new("agent-host", "cpus:2;mem:1024".parse().unwrap());
                i.id = Some(agent_id.clone());
                i
            },
            checkpointed_resources: Resources::new(),
            executor_infos: vec![],
            tasks: vec![],
            frameworks: vec![],
            version: "1.11.0".into(),
        },
    );
    assert_eq!(next_id(&mut rx, "re-registered with B").await, agent_id);
    assert!(b
        .master
        .call(|m, _| m.core().recovered_agents().is_empty())
        .await
        .unwrap());

    // ZooKeeper goes away for longer than the session timeout: B stops.
    zk.stop();
    within(LIMIT, "B stops", async {
        while b.master.is_alive() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    node_a.shutdown();
    node_b.shutdown();
}

#[actix_rt::test]
async fn ten_thousand_agents_persist_and_recover_in_zookeeper() {
    let Some(zk) = ZkServer::start().await else {
        return;
    };
    let mut reg = master::registry::Registry::default();
    for n in 0..10_000u32 {
        let id = AgentId::new(format!("5a1f0c2e-7d3b-4c11-9e0f-0123456789ab-S{n}"));
        let mut info = AgentInfo::new(
            format!("agent-{n}.rack-{}.example.com", n % 40),
            "cpus:32;mem:131072;disk:1000000;ports:[31000-32000]"
                .parse()
                .unwrap(),
        );
        info.id = Some(id.clone());
        if n % 10 == 0 {
            reg.mark_unreachable(&id, &info, 1_700_000_000.0 + n as f64);
        } else {
            reg.admit(&id, &info);
        }
    }
    let bytes = reg.encode();
    let store = master::registry::RegistryStore::ZooKeeper(detector::zk_store::ZkBlobStore::new(
        &zk.url("/mesos"),
        "registry",
        Duration::from_secs(4),
    ));
    let t = std::time::Instant::now();
    store.store(bytes.clone(), None).await.expect("store");
    let stored = t.elapsed();
    // A fresh store (a new leader's) reads it back.
    let fresh = master::registry::RegistryStore::ZooKeeper(detector::zk_store::ZkBlobStore::new(
        &zk.url("/mesos"),
        "registry",
        Duration::from_secs(4),
    ));
    let t = std::time::Instant::now();
    let back = fresh.load().await.expect("load");
    let loaded = t.elapsed();
    eprintln!(
        "REGISTRY: 10000 agents = {} bytes; store {stored:?}, load {loaded:?}",
        bytes.len()
    );
    assert_eq!(back, reg);
    assert_eq!(back.agents.len(), 9_000);
    assert_eq!(back.unreachable.len(), 1_000);
}
