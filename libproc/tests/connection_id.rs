//! Each message from the network carries the inbound connection it arrived on
//! (`Ctx::connection`): frames of one connection share an id, another connection or an
//! HTTP post gets another one, a local send has none, and `Node::connection_closed`
//! resolves when that connection closes.

mod common;

use std::time::Duration;

use common::Tick;
use libproc::connection::ConnectionId;
use libproc::testing::within;
use libproc::{wire, Ctx, Handlers, Node, NodeConfig, Pid, Process};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::sync::mpsc;

/// Records each tick with its sender and connection.
struct Witness {
    out: mpsc::UnboundedSender<Seen>,
}

impl Process for Witness {
    fn install(h: &mut Handlers<Self>) {
        h.on(|me: &mut Witness, ctx: &mut Ctx<Self>, from, t: Tick| {
            let _ = me.out.send((from, t.0, ctx.connection()));
        });
    }
}

fn tick_frame(from: &str, n: u32) -> Vec<u8> {
    let body = rmp_serde::to_vec_named(&Tick(n)).unwrap();
    wire::encode_frame_bytes(from, "witness", "test.Tick", &body).to_vec()
}

async fn connect(node: &Node) -> TcpStream {
    let mut s = TcpStream::connect(node.addr()).await.unwrap();
    s.write_all(&wire::handshake("127.0.0.1:1".parse().unwrap()))
        .await
        .unwrap();
    s
}

type Seen = (Pid, u32, Option<ConnectionId>);

async fn next(rx: &mut mpsc::UnboundedReceiver<Seen>) -> Seen {
    within(Duration::from_secs(10), "a tick", rx.recv())
        .await
        .unwrap()
}

#[actix_rt::test]
async fn deliveries_name_their_connection_and_its_close_is_observable() {
    let node = Node::bind(NodeConfig::local()).await.unwrap();
    let (tx, mut got) = mpsc::unbounded_channel();
    let witness = node.spawn("witness", Witness { out: tx }).unwrap();

    // Local: no connection.
    node.send(&node.pid("other"), witness.pid(), Tick(0));
    assert_eq!(next(&mut got).await.2, None);

    // Two frames on one connection share an id; another connection has another.
    let mut a = connect(&node).await;
    a.write_all(&tick_frame("a@127.0.0.1:1", 1)).await.unwrap();
    a.write_all(&tick_frame("a@127.0.0.1:1", 2)).await.unwrap();
    let (_, _, a1) = next(&mut got).await;
    let (_, _, a2) = next(&mut got).await;
    assert!(a1.is_some());
    assert_eq!(a1, a2);
    let mut b = connect(&node).await;
    b.write_all(&tick_frame("a@127.0.0.1:1", 3)).await.unwrap();
    let (from, n, b1) = next(&mut got).await;
    assert_eq!((from.to_string().as_str(), n), ("a@127.0.0.1:1", 3));
    assert!(b1.is_some() && b1 != a1);

    // An HTTP post gets an id of its own, closed at once.
    let body = rmp_serde::to_vec_named(&Tick(4)).unwrap();
    let mut raw = format!(
        "POST /witness/test.Tick HTTP/1.1\r\nHost: x\r\nLibprocess-From: a@127.0.0.1:1\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    raw.extend_from_slice(&body);
    assert_eq!(common::http_request(node.addr(), &raw).await.0, 202);
    let (_, _, posted) = next(&mut got).await;
    let posted = posted.unwrap();
    assert!(Some(posted) != a1 && Some(posted) != b1);
    within(
        Duration::from_secs(1),
        "the post's connection to count as closed",
        node.connection_closed(posted),
    )
    .await;

    // Closing `a` resolves its `connection_closed`; `b` still delivers.
    let a_closed = node.connection_closed(a1.unwrap());
    drop(a);
    within(Duration::from_secs(10), "a's close", a_closed).await;
    b.write_all(&tick_frame("a@127.0.0.1:1", 5)).await.unwrap();
    assert_eq!(next(&mut got).await.2, b1);
}
