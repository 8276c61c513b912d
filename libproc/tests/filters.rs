//! Message filters: drop, hold and release, observe, future — and the order they act in.

mod common;

use std::time::Duration;

use common::{next, Event, Ping, Pong, Recorder};
use libproc::testing::within;
use libproc::{Match, Node, NodeConfig};
use tokio::sync::mpsc::error::TryRecvError;

async fn node() -> Node {
    Node::bind(NodeConfig::local()).await.unwrap()
}

#[actix_rt::test]
async fn drop_one_drops_exactly_the_next_match() {
    let node = node().await;
    let (a, _ea) = Recorder::new();
    let (b, mut eb) = Recorder::new();
    let a = node.spawn("a", a).unwrap();
    let b = node.spawn("b", b).unwrap();
    let rule = node
        .filters()
        .drop_one(Match::message::<Ping>().from(a.pid()).to(b.pid()));
    for seq in 1..=3 {
        node.send(
            a.pid(),
            b.pid(),
            Ping {
                seq,
                text: String::new(),
            },
        );
    }
    assert_eq!(next(&mut eb).await, Event::Ping(a.pid().clone(), 2));
    assert_eq!(next(&mut eb).await, Event::Ping(a.pid().clone(), 3));
    assert_eq!(rule.hits(), 1);
}

#[actix_rt::test]
async fn drop_all_drops_until_removed() {
    let node = node().await;
    let (a, _ea) = Recorder::new();
    let (b, mut eb) = Recorder::new();
    let a = node.spawn("a", a).unwrap();
    let b = node.spawn("b", b).unwrap();
    let rule = node.filters().drop_all(Match::message::<Ping>().to_id("b"));
    for seq in 1..=5 {
        node.send(
            a.pid(),
            b.pid(),
            Ping {
                seq,
                text: String::new(),
            },
        );
    }
    node.settle().await;
    assert_eq!(eb.try_recv(), Err(TryRecvError::Empty));
    assert_eq!(rule.hits(), 5);
    rule.remove();
    node.send(
        a.pid(),
        b.pid(),
        Ping {
            seq: 6,
            text: String::new(),
        },
    );
    assert_eq!(next(&mut eb).await, Event::Ping(a.pid().clone(), 6));
}

#[actix_rt::test]
async fn hold_keeps_messages_until_released_in_order() {
    let node = node().await;
    let (a, mut ea) = Recorder::new();
    let (b, mut eb) = Recorder::new();
    let a = node.spawn("a", a).unwrap();
    let b = node.spawn("b", b).unwrap();
    // Hold the pongs coming back to `a`.
    let mut held = node.filters().hold(Match::message::<Pong>().to(a.pid()));
    for seq in 1..=3 {
        node.send(
            a.pid(),
            b.pid(),
            Ping {
                seq,
                text: String::new(),
            },
        );
    }
    for seq in 1..=3 {
        assert_eq!(next(&mut eb).await, Event::Ping(a.pid().clone(), seq));
    }
    let first = within(Duration::from_secs(5), "a held pong", held.next())
        .await
        .unwrap();
    assert_eq!(first.name(), "demo.Pong");
    assert_eq!(first.decode::<Pong>().map(|p| p.seq), Some(1));
    node.settle().await;
    assert_eq!(
        ea.try_recv(),
        Err(TryRecvError::Empty),
        "held pongs must not arrive"
    );
    first.release();
    assert_eq!(next(&mut ea).await, Event::Pong(b.pid().clone(), 1));
    // Pongs 2 and 3 are still held; release them all, in order.
    node.settle().await;
    held.release_all();
    assert_eq!(next(&mut ea).await, Event::Pong(b.pid().clone(), 2));
    assert_eq!(next(&mut ea).await, Event::Pong(b.pid().clone(), 3));
}

#[actix_rt::test]
async fn future_resolves_with_the_decoded_message_and_lets_it_through() {
    let node = node().await;
    let (a, _ea) = Recorder::new();
    let (b, mut eb) = Recorder::new();
    let a = node.spawn("a", a).unwrap();
    let b = node.spawn("b", b).unwrap();
    let ping = node.filters().future::<Ping>(Match::any().to(b.pid()));
    node.send(
        a.pid(),
        b.pid(),
        Ping {
            seq: 7,
            text: "seven".into(),
        },
    );
    let (from, msg) = within(Duration::from_secs(5), "FUTURE(Ping)", ping).await;
    assert_eq!(from, *a.pid());
    assert_eq!(
        msg,
        Ping {
            seq: 7,
            text: "seven".into()
        }
    );
    assert_eq!(next(&mut eb).await, Event::Ping(a.pid().clone(), 7));
}

#[actix_rt::test]
async fn future_drop_resolves_and_drops() {
    let node = node().await;
    let (a, _ea) = Recorder::new();
    let (b, mut eb) = Recorder::new();
    let a = node.spawn("a", a).unwrap();
    let b = node.spawn("b", b).unwrap();
    let ping = node.filters().future_drop::<Ping>(Match::any());
    node.send(
        a.pid(),
        b.pid(),
        Ping {
            seq: 1,
            text: String::new(),
        },
    );
    node.send(
        a.pid(),
        b.pid(),
        Ping {
            seq: 2,
            text: String::new(),
        },
    );
    let (_, msg) = within(Duration::from_secs(5), "FUTURE(Ping)", ping).await;
    assert_eq!(msg.seq, 1);
    assert_eq!(next(&mut eb).await, Event::Ping(a.pid().clone(), 2));
}

#[actix_rt::test]
async fn observers_see_traffic_between_nodes_sharing_filters() {
    let filters = libproc::Filters::new();
    let n1 = Node::bind(NodeConfig::local().filters(filters.clone()))
        .await
        .unwrap();
    let n2 = Node::bind(NodeConfig::local().filters(filters.clone()))
        .await
        .unwrap();
    let (a, mut ea) = Recorder::new();
    let (b, _eb) = Recorder::new();
    let a = n1.spawn("a", a).unwrap();
    let b = n2.spawn("b", b).unwrap();
    let mut seen = filters.observe(Match::any().from_node(n2.addr()));
    n1.send(
        a.pid(),
        b.pid(),
        Ping {
            seq: 1,
            text: "x".into(),
        },
    );
    assert_eq!(next(&mut ea).await, Event::Pong(b.pid().clone(), 1));
    let o = within(Duration::from_secs(5), "observed pong", seen.next())
        .await
        .unwrap();
    assert_eq!(
        (o.name.as_str(), o.from.clone(), o.to.clone()),
        ("demo.Pong", b.pid().clone(), a.pid().clone())
    );
    assert_eq!(o.decode::<Pong>().unwrap().seq, 1);
}

#[actix_rt::test]
async fn sever_breaks_links_and_the_next_send_reconnects() {
    let n1 = node().await;
    let n2 = node().await;
    let (a, mut ea) = Recorder::new();
    let (b, _eb) = Recorder::new();
    let a = n1.spawn("a", a).unwrap();
    let b = n2.spawn("b", b).unwrap();
    n1.link(a.pid(), b.pid(), libproc::LinkMode::Reuse);
    n1.send(
        a.pid(),
        b.pid(),
        Ping {
            seq: 1,
            text: String::new(),
        },
    );
    assert_eq!(next(&mut ea).await, Event::Pong(b.pid().clone(), 1));
    n1.sever(n2.addr());
    assert_eq!(next(&mut ea).await, Event::Exited(b.pid().clone()));
    n1.send(
        a.pid(),
        b.pid(),
        Ping {
            seq: 2,
            text: String::new(),
        },
    );
    assert_eq!(next(&mut ea).await, Event::Pong(b.pid().clone(), 2));
}
