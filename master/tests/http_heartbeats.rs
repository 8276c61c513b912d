//! v1 API streams get HEARTBEAT events at the master's heartbeat interval (15 s in
//! production; shortened here so that a real-time test sees several): the scheduler
//! stream after SUBSCRIBED, and the operator SUBSCRIBE stream.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::{config, Mute};
use libproc::testing::within;
use libproc::{Node, NodeConfig};
use master::MasterConfig;
use proto::v1::recordio;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const LIMIT: Duration = Duration::from_secs(30);

/// POSTs `body` and returns the first `n` events of the streamed answer (the chunked
/// framing is read off naively: every chunk here holds whole records).
async fn events(addr: SocketAddr, path: &str, body: Value, n: usize) -> Vec<Value> {
    let body = body.to_string();
    let mut sock = tokio::net::TcpStream::connect(addr).await.unwrap();
    let req = format!(
        "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    sock.write_all(req.as_bytes()).await.unwrap();
    within(LIMIT, "stream events", async {
        let mut raw = Vec::new();
        let mut out = Vec::new();
        loop {
            let mut buf = [0u8; 4096];
            let got = sock.read(&mut buf).await.unwrap();
            assert!(got > 0, "stream closed: {}", String::from_utf8_lossy(&raw));
            raw.extend_from_slice(&buf[..got]);
            // Re-parse from the start each time: head, then chunks of RecordIO records.
            let text = raw.clone();
            let Some(head) = text.windows(4).position(|w| w == b"\r\n\r\n") else {
                continue;
            };
            assert!(
                text.starts_with(b"HTTP/1.1 200"),
                "{}",
                String::from_utf8_lossy(&text)
            );
            let mut rest = &text[head + 4..];
            let mut decoder = recordio::Decoder::new();
            out.clear();
            while let Some(nl) = rest.windows(2).position(|w| w == b"\r\n") {
                let size =
                    usize::from_str_radix(std::str::from_utf8(&rest[..nl]).unwrap(), 16).unwrap();
                if rest.len() < nl + 2 + size + 2 {
                    break;
                }
                for rec in decoder.feed(&rest[nl + 2..nl + 2 + size]).unwrap() {
                    out.push(serde_json::from_slice::<Value>(&rec).unwrap());
                }
                rest = &rest[nl + 2 + size + 2..];
            }
            if out.len() >= n {
                out.truncate(n);
                return out;
            }
        }
    })
    .await
}

async fn master() -> Node {
    let node = Node::bind(NodeConfig::local()).await.unwrap();
    node.spawn("allocator", Mute).unwrap();
    let config = MasterConfig {
        http_heartbeat_interval: Duration::from_millis(50),
        ..config()
    };
    master::spawn_master(&node, config).unwrap();
    node
}

#[actix_rt::test]
async fn scheduler_streams_get_heartbeats() {
    let node = master().await;
    let sub =
        json!({"type": "SUBSCRIBE", "subscribe": {"framework_info": {"name": "hb", "user": "x"}}});
    let got = events(node.addr(), "/api/v1/scheduler", sub, 3).await;
    assert_eq!(got[0]["type"], "SUBSCRIBED", "{got:?}");
    assert_eq!(got[0]["subscribed"]["heartbeat_interval_seconds"], 0.05);
    assert_eq!(got[1]["type"], "HEARTBEAT", "{got:?}");
    assert_eq!(got[2]["type"], "HEARTBEAT", "{got:?}");
}

#[actix_rt::test]
async fn operator_streams_get_heartbeats() {
    let node = master().await;
    let got = events(
        node.addr(),
        "/master/api/v1",
        json!({"type": "SUBSCRIBE"}),
        3,
    )
    .await;
    assert_eq!(got[0]["type"], "SUBSCRIBED", "{got:?}");
    assert_eq!(got[1]["type"], "HEARTBEAT", "{got:?}");
    assert_eq!(got[2]["type"], "HEARTBEAT", "{got:?}");
}
