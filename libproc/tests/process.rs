//! Process lifecycle on one node: ids, local links, terminate, dispatch.

mod common;

use common::{next, Event, Ping, Recorder};
use libproc::{Ctx, Handlers, Node, NodeConfig, Process, SpawnError};

#[actix_rt::test]
async fn ids_are_unique_and_validated() {
    let node = Node::bind(NodeConfig::local()).await.unwrap();
    assert_eq!(node.generate_id("slave"), "slave(1)");
    assert_eq!(node.generate_id("slave"), "slave(2)");
    let (r, _) = Recorder::new();
    node.spawn("master", r).unwrap();
    let (r, _) = Recorder::new();
    assert_eq!(
        node.spawn("master", r).err(),
        Some(SpawnError::DuplicateId("master".into()))
    );
    for bad in ["", "a@b", "a/b"] {
        let (r, _) = Recorder::new();
        assert!(matches!(node.spawn(bad, r), Err(SpawnError::InvalidId(_))));
    }
}

#[actix_rt::test]
async fn terminate_notifies_local_linkers_and_frees_the_id() {
    let node = Node::bind(NodeConfig::local()).await.unwrap();
    let (a, mut ea) = Recorder::new();
    let (b, _) = Recorder::new();
    let a = node.spawn("a", a).unwrap();
    let b = node.spawn("b", b).unwrap();
    node.link(a.pid(), b.pid(), libproc::LinkMode::Reuse);
    assert!(node.terminate(b.pid()));
    assert_eq!(next(&mut ea).await, Event::Exited(b.pid().clone()));
    node.settle().await;
    assert!(!b.is_alive());
    // Messages to it are now dropped and counted.
    node.send(
        a.pid(),
        b.pid(),
        Ping {
            seq: 1,
            text: String::new(),
        },
    );
    assert_eq!(node.stats().dropped_unknown_process, 1);
    // Linking to a dead local process exits at once.
    node.link(a.pid(), b.pid(), libproc::LinkMode::Reuse);
    assert_eq!(next(&mut ea).await, Event::Exited(b.pid().clone()));
    let (again, _) = Recorder::new();
    node.spawn("b", again).expect("the id is free again");
}

struct Slow {
    seen: Vec<u64>,
    on_stop: Option<tokio::sync::oneshot::Sender<usize>>,
}
impl Process for Slow {
    fn install(h: &mut Handlers<Self>) {
        h.on(|me: &mut Slow, _ctx: &mut Ctx<Self>, _from, p: Ping| me.seen.push(p.seq));
    }
    fn stopped(&mut self) {
        if let Some(tx) = self.on_stop.take() {
            let _ = tx.send(self.seen.len());
        }
    }
}

#[actix_rt::test]
async fn terminate_overtakes_queued_messages() {
    let node = Node::bind(NodeConfig::local()).await.unwrap();
    let (a, _) = Recorder::new();
    let a = node.spawn("a", a).unwrap();
    let (tx, handled) = tokio::sync::oneshot::channel();
    let slow = node
        .spawn(
            "slow",
            Slow {
                seen: vec![],
                on_stop: Some(tx),
            },
        )
        .unwrap();
    // Queue many messages and terminate before the actor gets to run.
    for seq in 0..1000 {
        node.send(
            a.pid(),
            slow.pid(),
            Ping {
                seq,
                text: String::new(),
            },
        );
    }
    node.terminate(slow.pid());
    let handled = libproc::testing::within(std::time::Duration::from_secs(5), "stop", handled)
        .await
        .unwrap();
    assert_eq!(handled, 0, "nothing queued before the terminate is handled");
}

#[actix_rt::test]
async fn call_runs_code_on_the_process_in_turn() {
    let node = Node::bind(NodeConfig::local()).await.unwrap();
    let (a, _) = Recorder::new();
    let a = node.spawn("a", a).unwrap();
    let slow = node
        .spawn(
            "slow",
            Slow {
                seen: vec![],
                on_stop: None,
            },
        )
        .unwrap();
    for seq in 0..10 {
        node.send(
            a.pid(),
            slow.pid(),
            Ping {
                seq,
                text: String::new(),
            },
        );
    }
    let seen = slow
        .call(|s, ctx| (s.seen.clone(), ctx.pid().to_string()))
        .await
        .unwrap();
    assert_eq!(seen.0, (0..10).collect::<Vec<_>>());
    assert_eq!(seen.1, slow.pid().to_string());
    node.terminate(slow.pid());
    node.settle().await;
    assert!(slow.call(|s, _| s.seen.len()).await.is_err());
}
