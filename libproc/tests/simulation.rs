//! Deterministic simulation: two nodes on an in-memory network, one thread, a paused
//! clock. Periodic pings on timers, a link, and a node crash that delivers `exited` — the
//! whole scenario runs in virtual time, and two runs give the same trace.

mod common;

use std::time::Duration;

use common::{Ping, Pong};
use libproc::{Ctx, Handlers, MemNetwork, Node, NodeConfig, Pid, Process};
use tokio::sync::mpsc;

#[derive(serde::Serialize, serde::Deserialize)]
struct Beat;
libproc::message!(Beat, "sim.Beat");

/// Pings its peer every second; records pongs and the peer's exit with virtual times.
struct Heart {
    peer: Pid,
    seq: u64,
    start: tokio::time::Instant,
    trace: mpsc::UnboundedSender<String>,
}

impl Heart {
    fn log(&self, what: String) {
        let _ = self
            .trace
            .send(format!("{:>6}ms {what}", self.start.elapsed().as_millis()));
    }
}

impl Process for Heart {
    fn install(h: &mut Handlers<Self>) {
        h.on(|me: &mut Heart, ctx: &mut Ctx<Self>, _from, _b: Beat| {
            me.seq += 1;
            ctx.send(
                &me.peer,
                Ping {
                    seq: me.seq,
                    text: String::new(),
                },
            );
            ctx.delay(Duration::from_secs(1), Beat);
        });
        h.on(|me: &mut Heart, _ctx, from: Pid, p: Pong| {
            me.log(format!("pong {} from {}", p.seq, from.id()))
        });
    }
    fn started(&mut self, ctx: &mut Ctx<Self>) {
        ctx.link(&self.peer);
        ctx.delay(Duration::from_secs(1), Beat);
    }
    fn exited(&mut self, ctx: &mut Ctx<Self>, pid: Pid) {
        self.log(format!("exited {}", pid.id()));
        ctx.stop();
    }
}

struct Echo;
impl Process for Echo {
    fn install(h: &mut Handlers<Self>) {
        h.on(|_me: &mut Echo, ctx: &mut Ctx<Self>, from: Pid, p: Ping| {
            ctx.send(
                &from,
                Pong {
                    seq: p.seq,
                    text: p.text,
                },
            )
        });
    }
}

fn run_scenario() -> (Vec<String>, Duration, Duration) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .unwrap();
    let wall = std::time::Instant::now();
    let (trace, virt) = rt.block_on(tokio::task::LocalSet::new().run_until(async {
        let net = MemNetwork::new();
        let start = tokio::time::Instant::now();
        let n1 =
            Node::bind(NodeConfig::new("10.0.0.1:5050".parse().unwrap()).transport(net.clone()))
                .await
                .unwrap();
        let n2 =
            Node::bind(NodeConfig::new("10.0.0.2:5051".parse().unwrap()).transport(net.clone()))
                .await
                .unwrap();
        n2.spawn("echo", Echo).unwrap();
        let (tx, mut rx) = mpsc::unbounded_channel();
        let heart = n1
            .spawn(
                "heart",
                Heart {
                    peer: n2.pid("echo"),
                    seq: 0,
                    start,
                    trace: tx,
                },
            )
            .unwrap();
        // Thirty virtual seconds of heartbeats.
        let mut trace = Vec::new();
        while trace.len() < 30 {
            trace.push(rx.recv().await.expect("trace"));
        }
        // The peer node dies; the link fires.
        n2.shutdown();
        let last = libproc::testing::within(Duration::from_secs(5), "exited", rx.recv())
            .await
            .unwrap();
        trace.push(last);
        n1.settle().await;
        assert!(!heart.is_alive(), "heart stops itself on exited");
        (trace, start.elapsed())
    }));
    (trace, virt, wall.elapsed())
}

#[test]
fn two_nodes_with_links_and_timers_run_deterministically_in_virtual_time() {
    let (a, virt, wall) = run_scenario();
    assert_eq!(a[0], "  1000ms pong 1 from echo");
    assert_eq!(a[29], " 30000ms pong 30 from echo");
    assert_eq!(a[30], " 30000ms exited echo");
    assert!(virt >= Duration::from_secs(30));
    assert!(
        wall < Duration::from_secs(10),
        "virtual time, not real: took {wall:?}"
    );
    let (b, _, _) = run_scenario();
    assert_eq!(a, b, "same scenario, same trace");
}
