//! The transport survives partitions: a peer that accepts and never reads, a connect that
//! never completes, or a peer whose outbound queue overflows all end in `exited` for the
//! linkers within a bound, counted in the node's stats; the node then talks to others as
//! before.

mod common;

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::time::{Duration, Instant};

use common::{next, Event, Ping, Recorder};
use libproc::transport::{BoxStream, Listener};
use libproc::{LinkMode, Node, NodeConfig, Pid, TcpTransport, Transport};

/// A TCP listener with a tiny receive buffer that accepts connections and never reads
/// them: a peer whose process stopped reading (or a stopped process whose kernel still
/// holds the socket). Connections are kept open until the listener task is dropped.
async fn deaf_listener() -> (SocketAddr, tokio::task::JoinHandle<()>) {
    let sock = tokio::net::TcpSocket::new_v4().unwrap();
    sock.set_recv_buffer_size(4096).unwrap();
    sock.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let l = sock.listen(16).unwrap();
    let addr = l.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = l.accept().await {
            held.push(s);
        }
    });
    (addr, task)
}

fn big_ping(seq: u64) -> Ping {
    Ping {
        seq,
        text: "x".repeat(256 * 1024),
    }
}

async fn linker(node: &Node) -> (Pid, tokio::sync::mpsc::UnboundedReceiver<Event>) {
    let (rec, events) = Recorder::new();
    let r = node.spawn("linker", rec).unwrap();
    (r.pid().clone(), events)
}

#[actix_rt::test]
async fn a_peer_that_stops_reading_exits_within_the_write_timeout() {
    let write_timeout = Duration::from_millis(300);
    let node = Node::bind(NodeConfig::local().write_timeout(write_timeout))
        .await
        .unwrap();
    let (me, mut events) = linker(&node).await;
    let (deaf, _task) = deaf_listener().await;
    let peer = Pid::new("victim", deaf);
    node.link(&me, &peer, LinkMode::Reuse);
    // 16 MiB: far more than the socket buffers hold, so a write stalls.
    let start = Instant::now();
    for seq in 0..64 {
        node.send(&me, &peer, big_ping(seq));
    }
    assert_eq!(next(&mut events).await, Event::Exited(peer.clone()));
    let took = start.elapsed();
    eprintln!("exited {took:?} after the first send (write timeout {write_timeout:?})");
    let st = node.stats();
    assert_eq!(st.outbound_timeouts, 1, "{st:?}");
    // The bound: filling the buffers, then the write timeout (generous slack for a loaded
    // machine; without the timeout no exited ever comes).
    assert!(
        took < write_timeout + Duration::from_secs(5),
        "took {took:?}"
    );
    // The dropped messages are counted; nothing stays queued.
    assert!(st.dropped_unreachable > 0, "{st:?}");
    assert_eq!(st.outbound_queued_bytes, 0, "{st:?}");
}

#[actix_rt::test]
async fn a_full_outbound_queue_breaks_the_connection_and_exits_linkers() {
    let node = Node::bind(
        NodeConfig::local()
            .max_outbound_queue_bytes(1024 * 1024)
            .write_timeout(Duration::from_secs(60)),
    )
    .await
    .unwrap();
    let (me, mut events) = linker(&node).await;
    let (deaf, _task) = deaf_listener().await;
    let peer = Pid::new("victim", deaf);
    node.link(&me, &peer, LinkMode::Reuse);
    for seq in 0..64 {
        node.send(&me, &peer, big_ping(seq));
    }
    assert_eq!(next(&mut events).await, Event::Exited(peer.clone()));
    let st = node.stats();
    assert_eq!(st.outbound_overflows, 1, "{st:?}");
    assert!(st.dropped_queue_full >= 1, "{st:?}");
    assert_eq!(st.outbound_timeouts, 0, "{st:?}");

    // A good peer is still reachable, and the next send to the broken one reconnects.
    let other = Node::bind(NodeConfig::local()).await.unwrap();
    let (echo, _) = Recorder::new();
    other.spawn("echo", echo).unwrap();
    node.send(
        &me,
        &other.pid("echo"),
        Ping {
            seq: 1,
            text: String::new(),
        },
    );
    assert_eq!(next(&mut events).await, Event::Pong(other.pid("echo"), 1));
}

/// TCP listening, but connects that never complete (SYNs into a black hole).
struct BlackholeConnects(TcpTransport);

impl Transport for BlackholeConnects {
    fn listen(
        &self,
        addr: SocketAddr,
    ) -> Pin<Box<dyn Future<Output = io::Result<Box<dyn Listener>>> + Send + '_>> {
        self.0.listen(addr)
    }
    fn connect(
        &self,
        _addr: SocketAddr,
    ) -> Pin<Box<dyn Future<Output = io::Result<BoxStream>> + Send + '_>> {
        Box::pin(std::future::pending())
    }
}

#[actix_rt::test]
async fn a_connect_that_never_completes_exits_within_the_connect_timeout() {
    let node = Node::bind(
        NodeConfig::local()
            .transport(BlackholeConnects(TcpTransport::default()))
            .connect_timeout(Duration::from_millis(200)),
    )
    .await
    .unwrap();
    let (me, mut events) = linker(&node).await;
    let peer = Pid::new("victim", "127.0.0.1:9".parse().unwrap());
    node.link(&me, &peer, LinkMode::Reuse);
    node.send(
        &me,
        &peer,
        Ping {
            seq: 1,
            text: String::new(),
        },
    );
    assert_eq!(next(&mut events).await, Event::Exited(peer));
    let st = node.stats();
    assert_eq!(st.outbound_timeouts, 1, "{st:?}");
    assert_eq!(st.dropped_unreachable, 1, "{st:?}");
}

/// A transport whose connections are in-memory pipes nobody reads: every write stalls
/// once the pipe's 1 KiB fills. Runs under a paused clock, so the bound is exact.
struct DeafPipes(
    libproc::MemNetwork,
    std::sync::Arc<std::sync::Mutex<Vec<BoxStream>>>,
);

impl Transport for DeafPipes {
    fn listen(
        &self,
        addr: SocketAddr,
    ) -> Pin<Box<dyn Future<Output = io::Result<Box<dyn Listener>>> + Send + '_>> {
        self.0.listen(addr)
    }
    fn connect(
        &self,
        _addr: SocketAddr,
    ) -> Pin<Box<dyn Future<Output = io::Result<BoxStream>> + Send + '_>> {
        Box::pin(async move {
            let (near, far) = tokio::io::duplex(1024);
            self.1.lock().unwrap().push(Box::new(far));
            Ok(Box::new(near) as BoxStream)
        })
    }
}

#[test]
fn under_a_paused_clock_exited_comes_exactly_one_write_timeout_after_the_stall() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .unwrap();
    let local = tokio::task::LocalSet::new();
    local.block_on(&rt, async {
        let write_timeout = Duration::from_secs(7);
        let node = Node::bind(
            NodeConfig::local()
                .transport(DeafPipes(Default::default(), Default::default()))
                .write_timeout(write_timeout),
        )
        .await
        .unwrap();
        let (me, mut events) = linker(&node).await;
        let peer = Pid::new("victim", "127.0.0.1:9".parse().unwrap());
        node.link(&me, &peer, LinkMode::Reuse);
        let start = tokio::time::Instant::now();
        node.send(&me, &peer, big_ping(1));
        let ev = libproc::testing::within(Duration::from_secs(60), "exited", events.recv()).await;
        assert_eq!(ev, Some(Event::Exited(peer)));
        // The handshake fits the pipe; the first frame stalls at once.
        assert_eq!(start.elapsed(), write_timeout);
        assert_eq!(node.stats().outbound_timeouts, 1);
    });
}
