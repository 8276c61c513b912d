//! Bad input never takes a node down: a malformed, oversized or truncated frame closes that
//! one connection (counted) while other peers keep talking; unknown targets, unknown names
//! and undecodable bodies are dropped and counted.

mod common;

use std::time::Duration;

use common::{next, Event, Ping, Recorder};
use libproc::testing::within;
use libproc::{wire, Node, NodeConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn raw_peer(node: &Node) -> TcpStream {
    let mut s = TcpStream::connect(node.addr()).await.unwrap();
    s.write_all(&wire::handshake("127.0.0.1:1".parse().unwrap()))
        .await
        .unwrap();
    s
}

/// Waits until the node closes the raw connection (read returns 0 or an error).
async fn closed_by_node(mut s: TcpStream) {
    let mut b = [0u8; 16];
    let r = within(
        Duration::from_secs(5),
        "the node to close the connection",
        s.read(&mut b),
    )
    .await;
    assert!(matches!(r, Ok(0) | Err(_)), "connection still open: {r:?}");
}

/// A good peer node whose pings must keep flowing.
async fn good_peer_round_trip(
    server: &Node,
    client: &Node,
    seq: u64,
    events: &mut tokio::sync::mpsc::UnboundedReceiver<Event>,
) {
    client.send(
        &client.pid("client"),
        &server.pid("echo"),
        Ping {
            seq,
            text: String::new(),
        },
    );
    assert_eq!(next(events).await, Event::Pong(server.pid("echo"), seq));
}

async fn setup() -> (Node, Node, tokio::sync::mpsc::UnboundedReceiver<Event>) {
    let server = Node::bind(NodeConfig::local().max_frame_bytes(1024))
        .await
        .unwrap();
    let (echo, _) = Recorder::new();
    server.spawn("echo", echo).unwrap();
    let client = Node::bind(NodeConfig::local()).await.unwrap();
    let (rec, events) = Recorder::new();
    client.spawn("client", rec).unwrap();
    (server, client, events)
}

#[actix_rt::test]
async fn garbage_frame_closes_only_its_connection() {
    let (server, client, mut events) = setup().await;
    good_peer_round_trip(&server, &client, 1, &mut events).await;

    let mut bad = raw_peer(&server).await;
    bad.write_all(&[0, 0, 0, 5, 0xc1, 0xc1, 0xc1, 0xc1, 0xc1])
        .await
        .unwrap();
    closed_by_node(bad).await;
    assert_eq!(server.stats().connections_malformed, 1);

    good_peer_round_trip(&server, &client, 2, &mut events).await;
}

#[actix_rt::test]
async fn oversized_frame_closes_only_its_connection() {
    let (server, client, mut events) = setup().await;
    let mut big = raw_peer(&server).await;
    big.write_all(&(10_000_000u32).to_be_bytes()).await.unwrap();
    closed_by_node(big).await;
    assert_eq!(server.stats().connections_malformed, 1);
    good_peer_round_trip(&server, &client, 1, &mut events).await;
}

#[actix_rt::test]
async fn bad_handshake_and_truncated_frames_are_harmless() {
    let (server, client, mut events) = setup().await;
    // Wrong version byte.
    let mut s = TcpStream::connect(server.addr()).await.unwrap();
    s.write_all(b"LPRC\x09\x00\x00").await.unwrap();
    closed_by_node(s).await;
    // A frame cut off mid-way, then the peer hangs up.
    let mut t = raw_peer(&server).await;
    let frame = wire::encode_frame_bytes("x@127.0.0.1:1", "echo", "demo.Ping", b"\x80");
    t.write_all(&frame[..frame.len() - 3]).await.unwrap();
    drop(t);
    good_peer_round_trip(&server, &client, 1, &mut events).await;
    assert_eq!(server.stats().connections_malformed, 1);
}

#[actix_rt::test]
async fn unknown_targets_names_and_bodies_are_dropped_and_counted() {
    let (server, client, mut events) = setup().await;
    let mut s = raw_peer(&server).await;
    let from = "client@127.0.0.1:1";
    let frames = [
        wire::encode_frame_bytes(from, "nobody", "demo.Ping", b"\x80"),
        wire::encode_frame_bytes(from, "echo", "no.SuchMessage", b"\x80"),
        wire::encode_frame_bytes(from, "echo", "demo.Ping", b"\xc1not msgpack"),
    ];
    for f in &frames {
        s.write_all(f).await.unwrap();
    }
    // The connection stays open and the node keeps serving.
    good_peer_round_trip(&server, &client, 1, &mut events).await;
    let st = server.stats();
    assert_eq!(
        (
            st.dropped_unknown_process,
            st.dropped_unknown_name,
            st.dropped_undecodable
        ),
        (1, 1, 1)
    );
    assert_eq!(st.connections_malformed, 0);
    // A later well-formed message on the same raw connection still arrives.
    let good = rmp_serde::to_vec_named(&Ping {
        seq: 9,
        text: String::new(),
    })
    .unwrap();
    let seen = server
        .filters()
        .future::<Ping>(libproc::Match::any().to(&server.pid("echo")));
    s.write_all(&wire::encode_frame_bytes(
        &client.pid("client").to_string(),
        "echo",
        "demo.Ping",
        &good,
    ))
    .await
    .unwrap();
    let (_, ping) = within(Duration::from_secs(5), "ping over the raw connection", seen).await;
    assert_eq!(ping.seq, 9);
}
