//! `Node::pause`: every process of a node stops for a while in the runtime's (here virtual)
//! time, as a stopped OS process: what reaches it queues and is handled late, its timers
//! fire late, and the other nodes go on.

mod common;

use std::time::Duration;

use common::{paused, Event, Ping, Recorder, Tick};
use libproc::{Ctx, Handlers, MemNetwork, Node, NodeConfig, Pid, Process};
use tokio::sync::mpsc;
use tokio::time::Instant;

/// Sets a 2 s timer when it starts and reports when it fired.
struct Timer {
    fired: mpsc::UnboundedSender<Instant>,
}

impl Process for Timer {
    fn install(h: &mut Handlers<Self>) {
        h.on(|me: &mut Timer, _: &mut Ctx<Self>, _: Pid, _: Tick| {
            let _ = me.fired.send(Instant::now());
        });
    }
    fn started(&mut self, ctx: &mut Ctx<Self>) {
        ctx.delay(Duration::from_secs(2), Tick(0));
    }
}

#[test]
fn a_paused_node_handles_messages_and_timers_late_while_others_go_on() {
    paused(async {
        let net = MemNetwork::new();
        let a = Node::bind(NodeConfig::local().transport(net.clone()))
            .await
            .unwrap();
        let b = Node::bind(NodeConfig::local().transport(net))
            .await
            .unwrap();
        let (rec_a, mut seen_a) = Recorder::new();
        let rec_a = a.spawn("recorder", rec_a).unwrap();
        let (fired, mut timer) = mpsc::unbounded_channel();
        a.spawn("timer", Timer { fired }).unwrap();
        let (rec_b, mut seen_b) = Recorder::new();
        let rec_b = b.spawn("recorder", rec_b).unwrap();
        let start = Instant::now();
        a.settle().await;

        a.pause(Duration::from_secs(5), |_| true);
        tokio::time::sleep(Duration::from_secs(1)).await;
        let ping = Ping {
            seq: 1,
            text: String::new(),
        };
        b.send(rec_b.pid(), rec_a.pid(), ping.clone());
        a.send(rec_a.pid(), rec_b.pid(), ping);

        // b is not paused: the ping sent to it (from outside any process) arrives at once.
        let got_b = libproc::testing::within(Duration::from_secs(60), "b's ping", seen_b.recv())
            .await
            .unwrap();
        assert!(matches!(got_b, Event::Ping(_, 1)));
        assert_eq!(start.elapsed(), Duration::from_secs(1), "b goes on");

        let got_a = libproc::testing::within(Duration::from_secs(60), "a's ping", seen_a.recv())
            .await
            .unwrap();
        assert!(matches!(got_a, Event::Ping(_, 1)));
        assert_eq!(
            start.elapsed(),
            Duration::from_secs(5),
            "a handles it when the pause ends"
        );
        // a's answer reaches b then.
        let pong = libproc::testing::within(Duration::from_secs(60), "a's pong", seen_b.recv())
            .await
            .unwrap();
        assert!(matches!(pong, Event::Pong(_, 1)));

        let t = timer.recv().await.unwrap();
        assert_eq!(
            t.duration_since(start),
            Duration::from_secs(5),
            "the 2 s timer fired late"
        );
    });
}
