//! The detector and the contender against a real ZooKeeper (Debian's package, started per
//! test by `zk_test_server`; each test skips with a message if it is not installed).

use std::time::Duration;

use detector::contender::{contend, ContenderEvent, Lease};
use detector::tcp_proxy::TcpProxy;
use detector::zk_store::ZkBlobStore;
use detector::zk_test_server::ZkServer;
use detector::{MasterAddress, NewMasterDetected};
use libproc::testing::within;
use libproc::{Ctx, Handlers, Node, NodeConfig, Pid, Process};
use proto::MasterInfo;
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};

const LIMIT: Duration = Duration::from_secs(60);

/// Forwards every `NewMasterDetected` to the test.
struct Forwarder(UnboundedSender<NewMasterDetected>);
impl Process for Forwarder {
    fn install(h: &mut Handlers<Self>) {
        h.on(
            |me: &mut Forwarder, _ctx: &mut Ctx<Self>, _from: Pid, m: NewMasterDetected| {
                let _ = me.0.send(m);
            },
        );
    }
}

fn info(n: u16) -> MasterInfo {
    MasterInfo::new(
        format!("master-{n}"),
        std::net::Ipv4Addr::LOCALHOST,
        5050 + n,
        "localhost",
        "1.11.0",
    )
}

struct Candidate {
    events: UnboundedReceiver<ContenderEvent>,
    task: tokio::task::JoinHandle<()>,
    lease: Lease,
}

fn candidate(zk: &ZkServer, n: u16, timeout: Duration) -> Candidate {
    candidate_at(zk.url("/mesos"), n, timeout)
}

fn candidate_at(url: detector::ZkUrl, n: u16, timeout: Duration) -> Candidate {
    let (tx, events) = unbounded_channel();
    let lease = Lease::new();
    let task = tokio::task::spawn_local(contend(url, timeout, info(n), lease.clone(), move |e| {
        let _ = tx.send(e);
    }));
    Candidate {
        events,
        task,
        lease,
    }
}

async fn until_event(
    c: &mut Candidate,
    what: &str,
    pred: impl Fn(&ContenderEvent) -> bool,
) -> ContenderEvent {
    within(LIMIT, what, async {
        loop {
            let e = c.events.recv().await.expect("contender stopped");
            if pred(&e) {
                return e;
            }
        }
    })
    .await
}

async fn detector(
    zk: &ZkServer,
    timeout: Duration,
) -> (Node, UnboundedReceiver<NewMasterDetected>) {
    detector_at(zk.url("/mesos"), timeout).await
}

async fn detector_at(
    url: detector::ZkUrl,
    timeout: Duration,
) -> (Node, UnboundedReceiver<NewMasterDetected>) {
    let node = Node::bind(NodeConfig::new("127.0.0.1:0".parse().unwrap()))
        .await
        .expect("bind");
    let (tx, rx) = unbounded_channel();
    let sink = node.spawn("sink", Forwarder(tx)).expect("spawn sink");
    let d = detector::DetectorProcess::new(MasterAddress::ZooKeeper(url), sink.pid().clone())
        .with_session_timeout(timeout);
    node.spawn("detector", d).expect("spawn detector");
    (node, rx)
}

async fn until_leader(
    rx: &mut UnboundedReceiver<NewMasterDetected>,
    want: Option<&MasterInfo>,
    what: &str,
) {
    within(LIMIT, what, async {
        loop {
            let m = rx.recv().await.expect("detector stopped");
            if m.info.as_ref() == want {
                if let Some(w) = want {
                    assert_eq!(m.master, Some(w.pid.parse().unwrap()));
                }
                return;
            }
        }
    })
    .await
}

#[actix_rt::test]
async fn first_contender_leads_and_the_second_takes_over() {
    let Some(zk) = ZkServer::start().await else {
        return;
    };
    let t = Duration::from_secs(4);
    let mut a = candidate(&zk, 1, t);
    until_event(&mut a, "A elected", |e| *e == ContenderEvent::Elected).await;
    let mut b = candidate(&zk, 2, t);
    let ContenderEvent::Contending(b_path) = until_event(&mut b, "B contending", |e| {
        matches!(e, ContenderEvent::Contending(_))
    })
    .await
    else {
        unreachable!()
    };
    until_event(&mut b, "B sees A lead", |e| {
        *e == ContenderEvent::Leader(Some(info(1)))
    })
    .await;
    assert!(a.lease.valid() && b.lease.valid());

    let (_node, mut rx) = detector(&zk, t).await;
    until_leader(&mut rx, Some(&info(1)), "detector reports A").await;

    // The znodes hold exactly Mesos's MasterInfo JSON.
    let c = detector::zk::connect(&zk.servers(), t).await.unwrap();
    let mut children = c.list_children("/mesos").await.unwrap();
    children.sort();
    assert_eq!(children.len(), 2, "{children:?}");
    assert!(children
        .iter()
        .all(|c| c.starts_with("json.info_") && c.len() == 20));
    let (data, _) = c
        .get_data(&format!("/mesos/{}", children[0]))
        .await
        .unwrap();
    assert_eq!(String::from_utf8(data).unwrap(), info(1).to_json());
    let (data, _) = c.get_data(&b_path).await.unwrap();
    assert_eq!(String::from_utf8(data).unwrap(), info(2).to_json());

    // A's session ends (its client is dropped): B leads, the detector follows.
    a.task.abort();
    until_event(&mut b, "B elected", |e| *e == ContenderEvent::Elected).await;
    until_leader(&mut rx, Some(&info(2)), "detector reports B").await;

    // B withdraws: no leader.
    b.task.abort();
    until_leader(&mut rx, None, "detector reports no leader").await;
}

#[actix_rt::test]
async fn zookeeper_restart_within_the_session_timeout_keeps_leadership() {
    let Some(mut zk) = ZkServer::start().await else {
        return;
    };
    // Long enough for a JVM restart.
    let t = Duration::from_secs(15);
    let mut a = candidate(&zk, 1, t);
    until_event(&mut a, "A elected", |e| *e == ContenderEvent::Elected).await;
    let (_node, mut rx) = detector(&zk, t).await;
    until_leader(&mut rx, Some(&info(1)), "detector reports A").await;

    zk.stop();
    let stopped = tokio::time::Instant::now();
    zk.start_again().await;
    let restarted = tokio::time::Instant::now();
    eprintln!("ZooKeeper restart took {:?}", restarted - stopped);
    // The lease is renewed by round trips after the restart: the session survived.
    within(LIMIT, "lease renewed after the restart", async {
        while a.lease.until().is_none_or(|u| u < restarted + t) {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    while let Ok(e) = a.events.try_recv() {
        assert!(
            !matches!(e, ContenderEvent::Lost(_)),
            "lost leadership: {e:?}"
        );
    }
    // Same candidacy znode, still the only one.
    let c = detector::zk::connect(&zk.servers(), t).await.unwrap();
    let children = c.list_children("/mesos").await.unwrap();
    assert_eq!(children.len(), 1, "{children:?}");
    // The detector never reported the leader gone.
    while let Ok(m) = rx.try_recv() {
        assert_eq!(m.info, Some(info(1)), "detector flapped: {m:?}");
    }
}

#[actix_rt::test]
async fn zookeeper_down_past_the_session_timeout_loses_leadership_then_recontends() {
    let Some(mut zk) = ZkServer::start().await else {
        return;
    };
    let t = Duration::from_secs(2);
    let mut a = candidate(&zk, 1, t);
    until_event(&mut a, "A elected", |e| *e == ContenderEvent::Elected).await;
    let (_node, mut rx) = detector(&zk, t).await;
    until_leader(&mut rx, Some(&info(1)), "detector reports A").await;

    zk.stop();
    let ContenderEvent::Lost(why) =
        until_event(&mut a, "A loses", |e| matches!(e, ContenderEvent::Lost(_))).await
    else {
        unreachable!()
    };
    assert!(why.contains("session"), "{why}");
    assert!(!a.lease.valid());
    until_leader(&mut rx, None, "detector reports no leader").await;

    // The master would exit and be restarted: contend again.
    zk.start_again().await;
    let mut a2 = candidate(&zk, 3, t);
    until_event(&mut a2, "A' elected", |e| *e == ContenderEvent::Elected).await;
    until_leader(&mut rx, Some(&info(3)), "detector reports A'").await;
}

#[actix_rt::test]
async fn blob_store_holds_megabytes_in_chunks_and_fences() {
    let Some(zk) = ZkServer::start().await else {
        return;
    };
    let t = Duration::from_secs(4);
    let store = ZkBlobStore::new(&zk.url("/mesos"), "registry", t);
    assert_eq!(store.load().await.unwrap(), None);
    let big: Vec<u8> = (0..3_000_000u32).map(|i| (i * 7 % 251) as u8).collect();
    store.store(&big, None).await.unwrap();
    assert_eq!(store.load().await.unwrap().as_deref(), Some(&big[..]));
    store.store(b"small", None).await.unwrap();
    // A second handle (a new leader) reads what the first wrote; old chunks are gone.
    let other = ZkBlobStore::new(&zk.url("/mesos"), "registry", t);
    assert_eq!(other.load().await.unwrap().as_deref(), Some(&b"small"[..]));
    let c = detector::zk::connect(&zk.servers(), t).await.unwrap();
    assert_eq!(c.list_children("/mesos/registry").await.unwrap().len(), 1);
    // A writer whose fence znode is gone cannot switch the registry.
    let e = other
        .store(b"stale", Some("/mesos/json.info_0000000099"))
        .await
        .unwrap_err();
    assert!(
        matches!(e, detector::zk_store::StoreError::Fenced(_)),
        "{e}"
    );
    assert_eq!(store.load().await.unwrap().as_deref(), Some(&b"small"[..]));
}

fn through(proxy: &TcpProxy) -> detector::ZkUrl {
    detector::ZkUrl {
        servers: proxy.servers(),
        path: "/mesos".into(),
    }
}

/// The leader's connection to ZooKeeper goes silent while its periodic read is in flight;
/// the client gives the connection up (the read fails) and reconnects once the network is
/// back, well within the session timeout. The leader must read again at once and keep its
/// lease: before, it waited for the connection forever after seeing it come back, its
/// lease ran out and its master exited although its session (and znode) lived on.
#[actix_rt::test]
async fn a_leader_whose_connection_drops_mid_request_keeps_its_lease() {
    let Some(zk) = ZkServer::start().await else {
        return;
    };
    let t = Duration::from_secs(4);
    let proxy = TcpProxy::start(([127, 0, 0, 1], zk.port()).into()).unwrap();
    let mut a = candidate_at(through(&proxy), 1, t);
    until_event(&mut a, "A elected", |e| *e == ContenderEvent::Elected).await;
    let (_node, mut rx) = detector_at(through(&proxy), t).await;
    until_leader(&mut rx, Some(&info(1)), "detector reports A").await;

    // Silence: the contender reads every t/4, so a read is in flight when the clients
    // give their connections up (after 2/5 of the session timeout without an answer);
    // they then try new connections through the proxy.
    let accepted = proxy.accepted();
    proxy.blackhole();
    within(t, "the clients to give up their connections", async {
        while proxy.accepted() < accepted + 2 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    proxy.restore();
    let restored = tokio::time::Instant::now();
    within(t, "A's lease renewed after the reconnection", async {
        while a.lease.until().is_none_or(|u| u <= restored + t) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    while let Ok(e) = a.events.try_recv() {
        assert!(!matches!(e, ContenderEvent::Lost(_)), "A lost: {e:?}");
    }

    // The detector still follows: A withdraws, B (direct) leads, the detector says so.
    let mut b = candidate(&zk, 2, t);
    until_event(&mut b, "B sees A lead", |e| {
        *e == ContenderEvent::Leader(Some(info(1)))
    })
    .await;
    a.task.abort();
    until_event(&mut b, "B elected", |e| *e == ContenderEvent::Elected).await;
    until_leader(
        &mut rx,
        Some(&info(2)),
        "detector reports B after the outage",
    )
    .await;
}

/// ZooKeeper unreachable (connections refused) for less than the session timeout: the
/// leader stays leader with a valid lease and the same znode, and nobody else is elected.
#[actix_rt::test]
async fn a_cut_shorter_than_the_session_timeout_keeps_the_leader() {
    let Some(zk) = ZkServer::start().await else {
        return;
    };
    let t = Duration::from_secs(4);
    let proxy = TcpProxy::start(([127, 0, 0, 1], zk.port()).into()).unwrap();
    let mut a = candidate_at(through(&proxy), 1, t);
    let ContenderEvent::Contending(a_path) = until_event(&mut a, "A contending", |e| {
        matches!(e, ContenderEvent::Contending(_))
    })
    .await
    else {
        unreachable!()
    };
    until_event(&mut a, "A elected", |e| *e == ContenderEvent::Elected).await;
    let mut b = candidate(&zk, 2, t);
    until_event(&mut b, "B sees A lead", |e| {
        *e == ContenderEvent::Leader(Some(info(1)))
    })
    .await;
    for round in 0..3 {
        let accepted = proxy.accepted();
        proxy.cut();
        // Until the client has tried (and been refused) a new connection.
        within(t, "A's client to try again", async {
            while proxy.accepted() == accepted {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await;
        proxy.restore();
        let restored = tokio::time::Instant::now();
        within(t, "A's lease renewed after the cut", async {
            while a.lease.until().is_none_or(|u| u <= restored + t) {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await;
        while let Ok(e) = a.events.try_recv() {
            assert!(
                !matches!(e, ContenderEvent::Lost(_)),
                "round {round}: A lost: {e:?}"
            );
        }
        while let Ok(e) = b.events.try_recv() {
            assert_ne!(e, ContenderEvent::Elected, "round {round}: B elected");
        }
    }
    let c = detector::zk::connect(&zk.servers(), t).await.unwrap();
    let mut children = c.list_children("/mesos").await.unwrap();
    children.sort();
    assert_eq!(
        format!("/mesos/{}", children[0]),
        a_path,
        "A's znode still leads"
    );
}
