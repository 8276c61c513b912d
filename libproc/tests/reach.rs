//! Who can reach a process from the network: a `Reach::LocalOnly` process gets no message
//! from another node (frame or HTTP post), and no message from the network may claim a
//! sender living on the receiving node. Every refusal is counted.

mod common;

use std::time::Duration;

use common::{http_request, next, Event, Ping, Recorder, Tick};
use libproc::testing::{eventually, within};
use libproc::{wire, Ctx, Handlers, Node, NodeConfig, Pid, Process, Reach};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::sync::mpsc;

/// An internal helper (as the allocator is): records the ticks it gets.
struct Internal {
    out: mpsc::UnboundedSender<(Pid, u32)>,
}

impl Process for Internal {
    const REACH: Reach = Reach::LocalOnly;
    fn install(h: &mut Handlers<Self>) {
        h.on(|me: &mut Internal, _ctx: &mut Ctx<Self>, from, t: Tick| {
            let _ = me.out.send((from, t.0));
        });
    }
}

fn ping_body(seq: u64) -> Vec<u8> {
    rmp_serde::to_vec_named(&Ping {
        seq,
        text: String::new(),
    })
    .unwrap()
}

fn tick_body(n: u32) -> Vec<u8> {
    rmp_serde::to_vec_named(&Tick(n)).unwrap()
}

/// `POST /<to>/<name>` claiming `from`; returns the status.
async fn post(node: &Node, to: &str, name: &str, from: &str, body: &[u8]) -> u16 {
    let mut raw = format!(
        "POST /{to}/{name} HTTP/1.1\r\nHost: x\r\nLibprocess-From: {from}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    raw.extend_from_slice(body);
    http_request(node.addr(), &raw).await.0
}

#[actix_rt::test]
async fn a_local_only_process_hears_its_node_and_nobody_else() {
    let server = Node::bind(NodeConfig::local()).await.unwrap();
    let (tx, mut ticks) = mpsc::unbounded_channel();
    let internal = server.spawn("allocator", Internal { out: tx }).unwrap();
    let (echo, _) = Recorder::new();
    server.spawn("echo", echo).unwrap();

    // Its own node reaches it.
    server.send(&server.pid("echo"), internal.pid(), Tick(1));
    let got = within(Duration::from_secs(10), "the local tick", ticks.recv()).await;
    assert_eq!(got, Some((server.pid("echo"), 1)));

    // Another node does not: its tick is dropped, its ping to a network process after it
    // (same connection, so in order) arrives, hence the tick is not merely late.
    let client = Node::bind(NodeConfig::local()).await.unwrap();
    let (rec, mut events) = Recorder::new();
    let c = client.spawn("client", rec).unwrap();
    client.send(c.pid(), internal.pid(), Tick(2));
    client.send(
        c.pid(),
        &server.pid("echo"),
        Ping {
            seq: 1,
            text: String::new(),
        },
    );
    assert_eq!(next(&mut events).await, Event::Pong(server.pid("echo"), 1));
    assert_eq!(server.stats().dropped_local_only, 1);

    // Nor does an HTTP post (403), whoever it claims to be.
    assert_eq!(
        post(
            &server,
            "allocator",
            "test.Tick",
            "tool@127.0.0.1:9",
            &tick_body(3)
        )
        .await,
        403
    );
    assert_eq!(server.stats().dropped_local_only, 2);

    // Locally it still works, and nothing from the network got through.
    server.send(&server.pid("echo"), internal.pid(), Tick(4));
    let got = within(
        Duration::from_secs(10),
        "the second local tick",
        ticks.recv(),
    )
    .await;
    assert_eq!(got, Some((server.pid("echo"), 4)));
    assert!(ticks.try_recv().is_err());

    let (_, body) = common::http_get(server.addr(), "/metrics/snapshot").await;
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["libproc/messages_dropped_local_only"], 2);
}

#[actix_rt::test]
async fn a_message_from_the_network_claiming_a_local_sender_is_refused() {
    let server = Node::bind(NodeConfig::local()).await.unwrap();
    let (echo, mut events) = Recorder::new();
    server.spawn("echo", echo).unwrap();
    server.spawn("master", Recorder::new().0).unwrap();
    let port = server.addr().port();

    // Over a raw actor connection: frames claiming the master (this node's own address,
    // or its port on the wildcard address) are dropped; one from a foreign PID after them
    // is delivered.
    let mut s = TcpStream::connect(server.addr()).await.unwrap();
    s.write_all(&wire::handshake("127.0.0.1:1".parse().unwrap()))
        .await
        .unwrap();
    let forged = [
        server.pid("master").to_string(),
        format!("master@0.0.0.0:{port}"),
    ];
    for (i, from) in forged.iter().enumerate() {
        let f = wire::encode_frame_bytes(from, "echo", "demo.Ping", &ping_body(i as u64));
        s.write_all(&f).await.unwrap();
    }
    let honest = wire::encode_frame_bytes("tool@127.0.0.1:1", "echo", "demo.Ping", &ping_body(9));
    s.write_all(&honest).await.unwrap();
    assert_eq!(
        next(&mut events).await,
        Event::Ping("tool@127.0.0.1:1".parse().unwrap(), 9)
    );
    assert_eq!(server.stats().dropped_forged_local, 2);

    // Over HTTP: 403 and counted; a foreign sender still gets 202.
    let me = server.pid("master").to_string();
    assert_eq!(
        post(&server, "echo", "demo.Ping", &me, &ping_body(10)).await,
        403
    );
    assert_eq!(server.stats().dropped_forged_local, 3);
    assert_eq!(
        post(
            &server,
            "echo",
            "demo.Ping",
            "tool@127.0.0.1:9",
            &ping_body(11)
        )
        .await,
        202
    );
    assert_eq!(
        next(&mut events).await,
        Event::Ping("tool@127.0.0.1:9".parse().unwrap(), 11)
    );

    // Another node on the same host (another port) is not "local".
    let client = Node::bind(NodeConfig::local()).await.unwrap();
    let (rec, mut replies) = Recorder::new();
    let c = client.spawn("client", rec).unwrap();
    client.send(
        c.pid(),
        &server.pid("echo"),
        Ping {
            seq: 12,
            text: String::new(),
        },
    );
    assert_eq!(
        next(&mut replies).await,
        Event::Pong(server.pid("echo"), 12)
    );
    eventually(Duration::from_secs(5), "the counters", || {
        server.stats().dropped_forged_local == 3
    })
    .await;
}
