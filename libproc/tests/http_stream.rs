//! Streamed HTTP responses: chunks go out as the process sends them, the body ends when
//! the process drops its sender, and the process learns when the client goes away.

use std::time::Duration;

use libproc::http::{body_channel, BodySender};
use libproc::testing::within;
use libproc::{Ctx, Handlers, HttpResponse, Node, NodeConfig, Process};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

struct Streamer {
    sender: Option<BodySender>,
    closed: mpsc::UnboundedSender<&'static str>,
}

impl Process for Streamer {
    fn install(h: &mut Handlers<Self>) {
        h.route_deferred("open", |me: &mut Streamer, ctx: &mut Ctx<Self>, _req, r| {
            let (tx, closed, stream) = body_channel(16);
            let _ = tx.send("first;");
            me.sender = Some(tx);
            let report = me.closed.clone();
            ctx.spawn(closed, move |_me: &mut Streamer, _ctx, ()| {
                let _ = report.send("closed");
            });
            r.respond(HttpResponse::streaming(200, "text/plain", stream));
        });
        h.route("more", |me: &mut Streamer, _ctx: &mut Ctx<Self>, _req| {
            if let Some(tx) = &me.sender {
                let _ = tx.send("more;");
            }
            HttpResponse::text(202, "")
        });
        h.route("end", |me: &mut Streamer, _ctx: &mut Ctx<Self>, _req| {
            me.sender = None;
            HttpResponse::text(202, "")
        });
    }
}

async fn read_until(sock: &mut tokio::net::TcpStream, seen: &mut Vec<u8>, needle: &str) {
    within(Duration::from_secs(10), needle, async {
        while !String::from_utf8_lossy(seen).contains(needle) {
            let mut buf = [0u8; 1024];
            let n = sock.read(&mut buf).await.expect("read");
            assert!(n > 0, "connection closed before {needle:?}: {seen:?}");
            seen.extend_from_slice(&buf[..n]);
        }
    })
    .await;
}

async fn open(node: &Node) -> (tokio::net::TcpStream, Vec<u8>) {
    let mut sock = tokio::net::TcpStream::connect(node.addr()).await.unwrap();
    sock.write_all(b"GET /s/open HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut seen = Vec::new();
    read_until(&mut sock, &mut seen, "first;").await;
    (sock, seen)
}

#[actix_rt::test]
async fn chunks_flow_until_the_sender_is_dropped() {
    let node = Node::bind(NodeConfig::local()).await.unwrap();
    let (ctx, mut closed) = mpsc::unbounded_channel();
    node.spawn(
        "s",
        Streamer {
            sender: None,
            closed: ctx,
        },
    )
    .unwrap();
    let (mut sock, mut seen) = open(&node).await;
    let head = String::from_utf8_lossy(&seen).to_string();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(head.contains("transfer-encoding: chunked"), "{head}");
    let (status, _) = libproc::testing::http_request(node.addr(), "POST", "/s/more", b"")
        .await
        .unwrap();
    assert_eq!(status, 202);
    read_until(&mut sock, &mut seen, "more;").await;
    libproc::testing::http_request(node.addr(), "POST", "/s/end", b"")
        .await
        .unwrap();
    // The last chunk (`0\r\n\r\n`) ends the body.
    read_until(&mut sock, &mut seen, "0\r\n\r\n").await;
    let why = within(Duration::from_secs(10), "closed", closed.recv()).await;
    assert_eq!(why, Some("closed"));
}

#[actix_rt::test]
async fn the_process_learns_when_the_client_goes_away() {
    let node = Node::bind(NodeConfig::local()).await.unwrap();
    let (ctx, mut closed) = mpsc::unbounded_channel();
    node.spawn(
        "s",
        Streamer {
            sender: None,
            closed: ctx,
        },
    )
    .unwrap();
    let (sock, _) = open(&node).await;
    drop(sock);
    let why = within(Duration::from_secs(10), "closed", closed.recv()).await;
    assert_eq!(why, Some("closed"));
}
