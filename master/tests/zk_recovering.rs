//! A newly elected master keeps the messages that come while it recovers the registry and
//! handles them once it leads (Mesos drops them; the senders' randomized retry backoff
//! then added up to seconds to every failover). Two masters on a real ZooKeeper; the
//! second reaches ZooKeeper through a `TcpProxy` that refuses new connections, so the
//! registry (which a master opens its own connection for when elected) cannot be read
//! until the test lets it.

use std::time::Duration;

use detector::tcp_proxy::TcpProxy;
use detector::zk_test_server::ZkServer;
use detector::ZkUrl;
use libproc::testing::within;
use libproc::{Ctx, Handlers, Node, NodeConfig, Pid, Process};
use master::leadership::Leadership;
use master::{MasterConfig, MasterHandle};
use proto::messages::*;
use proto::{AgentId, AgentInfo, Resources};
use tokio::sync::mpsc::{unbounded_channel, UnboundedSender};

const LIMIT: Duration = Duration::from_secs(60);

/// A fake agent that registers once (never retries) and reports the answer.
struct OneShotAgent(UnboundedSender<AgentId>);
impl Process for OneShotAgent {
    fn install(h: &mut Handlers<Self>) {
        h.on(
            |_me: &mut OneShotAgent, ctx: &mut Ctx<Self>, from: Pid, _p: PingSlaveMessage| {
                ctx.send(&from, PongSlaveMessage {});
            },
        );
        h.on(
            |me: &mut OneShotAgent, _ctx: &mut Ctx<Self>, _from: Pid, m: SlaveRegisteredMessage| {
                let _ = me.0.send(m.slave_id);
            },
        );
    }
}

async fn start_master(url: ZkUrl, seed: u64) -> (Node, MasterHandle) {
    let node = Node::bind(NodeConfig::new("127.0.0.1:0".parse().unwrap()))
        .await
        .expect("bind");
    let config = MasterConfig {
        id_seed: seed,
        zk: Some(url),
        zk_session_timeout: Duration::from_secs(4),
        registry: "replicated_log".into(),
        ..MasterConfig::default()
    };
    let h = master::spawn(&node, config, None).expect("spawn master");
    (node, h)
}

async fn until_leadership(h: &MasterHandle, want: Leadership, what: &str) {
    within(LIMIT, what, async {
        while h.master.call(|m, _| m.leadership()).await.ok() != Some(want) {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
}

#[actix_rt::test]
async fn a_registration_during_recovery_is_handled_once_the_master_leads() {
    let Some(zk) = ZkServer::start().await else {
        return;
    };
    let proxy = TcpProxy::start(([127, 0, 0, 1], zk.port()).into()).unwrap();
    let (node_a, a) = start_master(zk.url("/mesos"), 1).await;
    until_leadership(&a, Leadership::Leading, "A leads").await;
    let (node_b, b) = start_master(
        ZkUrl {
            servers: proxy.servers(),
            path: "/mesos".into(),
        },
        2,
    )
    .await;
    within(LIMIT, "B sees A lead", async {
        while b.master.call(|m, _| m.leader().is_some()).await.ok() != Some(true) {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    // B's session stays up; the registry connection it opens once elected is refused.
    proxy.refuse_new();
    node_a.terminate(a.pid());
    until_leadership(&b, Leadership::Recovering, "B elected and recovering").await;

    let (tx, mut rx) = unbounded_channel();
    let agent = node_b
        .spawn("slave(1)", OneShotAgent(tx))
        .unwrap()
        .pid()
        .clone();
    node_b.send(
        &agent,
        b.pid(),
        RegisterSlaveMessage {
            slave: AgentInfo::new("agent-host", "cpus:2;mem:1024".parse().unwrap()),
            checkpointed_resources: Resources::new(),
            version: "1.11.0".into(),
        },
    );
    // The message has reached B (still recovering) before the registry can be read:
    // kept (before: dropped, and this agent never retries).
    within(LIMIT, "B to see the registration", async {
        loop {
            let seen = b
                .master
                .call(|m, _| {
                    m.leadership() == Leadership::Recovering
                        && m.deferred_messages() + m.dropped_messages() > 0
                })
                .await
                .unwrap_or(false);
            if seen {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    proxy.restore();
    until_leadership(&b, Leadership::Leading, "B leads").await;
    let id = within(LIMIT, "the agent registered without retrying", rx.recv())
        .await
        .expect("agent gone");
    assert!(!id.to_string().is_empty());
}
