//! What strangers can make a node spend is bounded: connections that stall half-way (in the
//! protocol sniff, the handshake, a frame or HTTP headers) are closed after the inbound
//! timeout, connections over the cap are closed at once, and partial frames of all
//! connections together stay within the node's byte budget. Through all of it the node
//! keeps serving its good peers.

mod common;

use std::time::Duration;

use common::{next, Event, Ping, Recorder};
use libproc::testing::{eventually, within};
use libproc::{wire, Node, NodeConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const TIMEOUT: Duration = Duration::from_millis(300);

/// Waits until the node closes the raw connection (read returns 0 or an error).
async fn closed_by_node(mut s: TcpStream) {
    let mut b = [0u8; 256];
    let r = within(
        Duration::from_secs(5),
        "the node to close the connection",
        async {
            loop {
                match s.read(&mut b).await {
                    // An HTTP error response may come first; wait for the close.
                    Ok(n) if n > 0 => continue,
                    other => return other,
                }
            }
        },
    )
    .await;
    assert!(matches!(r, Ok(0) | Err(_)), "connection still open: {r:?}");
}

async fn setup(config: NodeConfig) -> (Node, Node, tokio::sync::mpsc::UnboundedReceiver<Event>) {
    let server = Node::bind(config).await.unwrap();
    let (echo, _) = Recorder::new();
    server.spawn("echo", echo).unwrap();
    let client = Node::bind(NodeConfig::local()).await.unwrap();
    let (rec, events) = Recorder::new();
    client.spawn("client", rec).unwrap();
    (server, client, events)
}

async fn round_trip(
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

async fn raw_peer(node: &Node) -> TcpStream {
    let mut s = TcpStream::connect(node.addr()).await.unwrap();
    s.write_all(&wire::handshake("127.0.0.1:1".parse().unwrap()))
        .await
        .unwrap();
    s
}

#[actix_rt::test]
async fn slowloris_connections_are_closed_after_the_inbound_timeout() {
    let (server, client, mut events) = setup(NodeConfig::local().inbound_timeout(TIMEOUT)).await;
    // Two bytes of the 4-byte sniff, then silence.
    let mut sniff = TcpStream::connect(server.addr()).await.unwrap();
    sniff.write_all(b"LP").await.unwrap();
    // The magic, then half a handshake.
    let mut hello = TcpStream::connect(server.addr()).await.unwrap();
    hello.write_all(b"LPRC\x01\x00").await.unwrap();
    // A good handshake, then two bytes of a frame's length.
    let mut frame = raw_peer(&server).await;
    frame.write_all(&[0, 0]).await.unwrap();
    // A frame's header and part of its body, then silence.
    let mut body = raw_peer(&server).await;
    body.write_all(&[0, 0, 1, 0, 0x94]).await.unwrap();
    // Half an HTTP request head.
    let mut http = TcpStream::connect(server.addr()).await.unwrap();
    http.write_all(b"GET /__processes__ HTTP/1.1\r\nHo")
        .await
        .unwrap();
    // An HTTP request whose body never comes.
    let mut http_body = TcpStream::connect(server.addr()).await.unwrap();
    http_body
        .write_all(b"POST /echo/x HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nab")
        .await
        .unwrap();

    round_trip(&server, &client, 1, &mut events).await;
    for s in [sniff, hello, frame, body, http, http_body] {
        closed_by_node(s).await;
    }
    let st = server.stats();
    // Four actor-protocol stalls and the HTTP body are counted here; hyper closes the
    // half-sent HTTP head itself.
    assert_eq!(st.connections_timed_out, 5, "{st:?}");
    assert_eq!(st.connections_malformed, 0, "{st:?}");
    round_trip(&server, &client, 2, &mut events).await;
    eventually(
        Duration::from_secs(5),
        "stalled connections released",
        || {
            let st = server.stats();
            st.inbound_buffered_bytes == 0 && st.inbound_connections == 1
        },
    )
    .await;
}

#[actix_rt::test]
async fn an_idle_peer_connection_between_frames_stays_open() {
    let (server, client, mut events) = setup(NodeConfig::local().inbound_timeout(TIMEOUT)).await;
    round_trip(&server, &client, 1, &mut events).await;
    // Idle for several inbound timeouts: a connection with no partial frame is not
    // half-sent, so it stays.
    tokio::time::sleep(TIMEOUT * 4).await;
    round_trip(&server, &client, 2, &mut events).await;
    let st = server.stats();
    assert_eq!(st.connections_timed_out, 0, "{st:?}");
    // One inbound and one outbound (the pongs), neither closed.
    assert_eq!(
        (st.connections_opened, st.connections_closed),
        (2, 0),
        "{st:?}"
    );
}

#[actix_rt::test]
async fn connections_over_the_cap_are_closed_at_once_and_the_node_serves_on() {
    let (server, client, mut events) = setup(NodeConfig::local().max_inbound_connections(3)).await;
    // The client node's connection takes one place.
    round_trip(&server, &client, 1, &mut events).await;
    let idle1 = TcpStream::connect(server.addr()).await.unwrap();
    let idle2 = TcpStream::connect(server.addr()).await.unwrap();
    eventually(Duration::from_secs(5), "three connections in", || {
        server.stats().inbound_connections == 3
    })
    .await;
    let over = TcpStream::connect(server.addr()).await.unwrap();
    closed_by_node(over).await;
    assert_eq!(server.stats().connections_refused, 1);
    // The admitted ones keep working, and a freed place is taken again.
    round_trip(&server, &client, 2, &mut events).await;
    drop(idle1);
    eventually(Duration::from_secs(5), "a place freed", || {
        server.stats().inbound_connections == 2
    })
    .await;
    let (status, _) = common::http_get(server.addr(), "/__processes__").await;
    assert_eq!(status, 200);
    drop(idle2);
}

#[actix_rt::test]
async fn partial_big_frames_from_many_connections_stay_within_the_byte_budget() {
    let max_frame = 1024 * 1024;
    let budget = 3 * 1024 * 1024;
    let (server, client, mut events) = setup(
        NodeConfig::local()
            .max_frame_bytes(max_frame)
            .max_inbound_buffered_bytes(budget),
    )
    .await;
    // Eight peers each announce a 1 MiB frame and send 600 KiB of it: 4.8 MB if all
    // were buffered.
    let chunk = vec![0u8; 600 * 1024];
    let mut conns = Vec::new();
    for _ in 0..8 {
        let mut s = raw_peer(&server).await;
        // The node may close a connection mid-write (over budget): ignore write errors.
        let _ = s.write_all(&(max_frame as u32).to_be_bytes()).await;
        let _ = s.write_all(&chunk).await;
        conns.push(s);
    }
    // Settled: every connection still open holds its whole partial frame, the others were
    // closed over budget.
    let held = 600 * 1024 + 4;
    eventually(
        Duration::from_secs(10),
        "all partial frames read or refused",
        || {
            let st = server.stats();
            let open = 8 - st.connections_over_budget.min(8) as usize;
            st.inbound_buffered_bytes as usize == held * open
        },
    )
    .await;
    let st = server.stats();
    assert!(st.inbound_buffered_bytes as usize <= budget, "{st:?}");
    assert!(st.connections_over_budget >= 3, "{st:?}");
    assert_eq!(st.connections_malformed, 0, "{st:?}");
    // Small frames still flow.
    round_trip(&server, &client, 1, &mut events).await;
    // Closing the stalled peers returns their bytes.
    drop(conns);
    eventually(Duration::from_secs(5), "budget released", || {
        server.stats().inbound_buffered_bytes == 0
    })
    .await;
}

#[actix_rt::test]
async fn http_bodies_being_received_count_against_the_byte_budget() {
    let mut config = NodeConfig::local().max_inbound_buffered_bytes(1024 * 1024);
    config.max_http_body_bytes = 4 * 1024 * 1024;
    let (server, client, mut events) = setup(config).await;
    let mut s = TcpStream::connect(server.addr()).await.unwrap();
    let head = "POST /echo/x HTTP/1.1\r\nHost: x\r\nContent-Length: 3000000\r\n\r\n";
    s.write_all(head.as_bytes()).await.unwrap();
    let _ = s.write_all(&vec![b'a'; 1536 * 1024]).await;
    let mut resp = Vec::new();
    let _ = within(
        Duration::from_secs(5),
        "the refusal",
        s.read_to_end(&mut resp),
    )
    .await;
    let resp = String::from_utf8_lossy(&resp);
    assert!(resp.starts_with("HTTP/1.1 503"), "{resp}");
    let st = server.stats();
    assert_eq!(st.connections_over_budget, 1, "{st:?}");
    assert_eq!(st.inbound_buffered_bytes, 0, "{st:?}");
    round_trip(&server, &client, 1, &mut events).await;
}

#[actix_rt::test]
async fn many_malformed_connections_close_only_themselves() {
    let (server, client, mut events) = setup(NodeConfig::local()).await;
    let mut bad = Vec::new();
    for i in 0..20u8 {
        let mut s = raw_peer(&server).await;
        s.write_all(&[0, 0, 0, 5, 0xc1, i, 0xc1, 0xc1, 0xc1])
            .await
            .unwrap();
        bad.push(s);
    }
    for s in bad {
        closed_by_node(s).await;
    }
    assert_eq!(server.stats().connections_malformed, 20);
    round_trip(&server, &client, 1, &mut events).await;
}

/// A TCP connection to `node` from the loopback address `source` (another "host").
async fn connect_from(source: &str, node: &Node) -> TcpStream {
    let sock = tokio::net::TcpSocket::new_v4().unwrap();
    sock.bind(format!("{source}:0").parse().unwrap()).unwrap();
    sock.connect(node.addr()).await.unwrap()
}

#[actix_rt::test]
async fn one_peer_cannot_take_every_connection_place() {
    let (server, client, mut events) = setup(NodeConfig::local().max_connections_per_peer(3)).await;
    // The client node (127.0.0.1) holds one place; two idle connections take the rest.
    round_trip(&server, &client, 1, &mut events).await;
    let idle1 = TcpStream::connect(server.addr()).await.unwrap();
    let idle2 = TcpStream::connect(server.addr()).await.unwrap();
    eventually(Duration::from_secs(5), "three connections in", || {
        server.stats().inbound_connections == 3
    })
    .await;
    let over = TcpStream::connect(server.addr()).await.unwrap();
    closed_by_node(over).await;
    let st = server.stats();
    assert_eq!(
        (st.connections_refused_per_peer, st.connections_refused),
        (1, 0),
        "{st:?}"
    );
    // Another host still gets in.
    let mut other = connect_from("127.0.0.2", &server).await;
    other
        .write_all(b"GET /__processes__ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut answer = Vec::new();
    within(
        Duration::from_secs(5),
        "the other host's answer",
        other.read_to_end(&mut answer),
    )
    .await
    .unwrap();
    assert!(answer.starts_with(b"HTTP/1.1 200"), "{answer:?}");
    // A place freed is taken again; the good peer kept working all along.
    drop(idle1);
    eventually(Duration::from_secs(5), "a place freed", || {
        server.stats().inbound_connections == 2
    })
    .await;
    let (status, _) = common::http_get(server.addr(), "/__processes__").await;
    assert_eq!(status, 200);
    round_trip(&server, &client, 2, &mut events).await;
    drop(idle2);
}

#[actix_rt::test]
async fn too_many_http_headers_get_431() {
    let (server, _client, _events) = setup(NodeConfig::local().max_http_headers(10)).await;
    let many: String = (0..20).map(|i| format!("X-H{i}: v\r\n")).collect();
    let raw = format!("GET /__processes__ HTTP/1.1\r\nHost: x\r\n{many}Connection: close\r\n\r\n");
    assert_eq!(
        common::http_request(server.addr(), raw.as_bytes()).await.0,
        431
    );
    let few = "GET /__processes__ HTTP/1.1\r\nHost: x\r\nX-A: 1\r\nConnection: close\r\n\r\n";
    assert_eq!(
        common::http_request(server.addr(), few.as_bytes()).await.0,
        200
    );
}

#[actix_rt::test]
async fn an_http_head_sent_byte_by_byte_is_cut_off_at_the_inbound_timeout() {
    let (server, _client, _events) = setup(NodeConfig::local().inbound_timeout(TIMEOUT)).await;
    let mut s = TcpStream::connect(server.addr()).await.unwrap();
    // A byte every TIMEOUT / 6: each read is "recent", but the head as a whole is not.
    let head = format!(
        "GET /__processes__ HTTP/1.1\r\nHost: x\r\n{}",
        "X-Slow: 1\r\n".repeat(20)
    );
    let started = std::time::Instant::now();
    let mut sent = 0;
    for b in head.as_bytes() {
        if s.write_all(&[*b]).await.is_err() {
            break;
        }
        sent += 1;
        tokio::time::sleep(TIMEOUT / 6).await;
        if started.elapsed() > TIMEOUT * 8 {
            break;
        }
    }
    assert!(
        started.elapsed() < TIMEOUT * 8,
        "the node took {sent} bytes over {:?} and still reads",
        started.elapsed()
    );
    closed_by_node(s).await;
    let (status, _) = common::http_get(server.addr(), "/__processes__").await;
    assert_eq!(status, 200);
}

#[actix_rt::test]
async fn an_http_body_over_the_cap_gets_413_announced_or_chunked() {
    let mut config = NodeConfig::local();
    config.max_http_body_bytes = 1024;
    let (server, _client, _events) = setup(config).await;
    let big = "x".repeat(2000);
    let raw = format!(
        "POST /echo/demo.Ping HTTP/1.1\r\nHost: x\r\nLibprocess-From: a@127.0.0.1:1\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{big}",
        big.len()
    );
    assert_eq!(
        common::http_request(server.addr(), raw.as_bytes()).await.0,
        413
    );
    // Chunked: no length announced, the cap still holds.
    let raw = format!(
        "POST /echo/demo.Ping HTTP/1.1\r\nHost: x\r\nLibprocess-From: a@127.0.0.1:1\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n{:x}\r\n{big}\r\n0\r\n\r\n",
        big.len()
    );
    assert_eq!(
        common::http_request(server.addr(), raw.as_bytes()).await.0,
        413
    );
    assert_eq!(server.stats().inbound_buffered_bytes, 0);
}
