//! The batched mailbox: a process takes its whole backlog at once and handles it in pieces;
//! order, filters and stop-inside-a-handler must not notice.

mod common;

use std::time::Duration;

use common::Tick;
use libproc::testing::within;
use libproc::{Ctx, Handlers, Match, Node, NodeConfig, Pid, Process};
use tokio::sync::mpsc;

/// Records every tick; stops itself at `stop_at` if set.
struct Counter {
    seen: Vec<u32>,
    stop_at: Option<u32>,
    done_at: usize,
    out: mpsc::UnboundedSender<Vec<u32>>,
}

impl Process for Counter {
    fn install(h: &mut Handlers<Self>) {
        h.on(
            |me: &mut Counter, ctx: &mut Ctx<Self>, _from: Pid, t: Tick| {
                me.seen.push(t.0);
                if me.stop_at == Some(t.0) {
                    let _ = me.out.send(me.seen.clone());
                    ctx.stop();
                } else if me.seen.len() == me.done_at {
                    let _ = me.out.send(me.seen.clone());
                }
            },
        );
    }

    fn stopped(&mut self) {
        if self.stop_at.is_some() {
            let _ = self.out.send(self.seen.clone());
        }
    }
}

struct Quiet;
impl Process for Quiet {
    fn install(_: &mut Handlers<Self>) {}
}

const N: u32 = 5_000; // several times the events one poll handles

#[actix_rt::test]
async fn a_large_backlog_arrives_whole_and_in_order_with_filters_seeing_each() {
    let node = Node::bind(NodeConfig::local()).await.unwrap();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let sender = node.spawn("sender", Quiet).unwrap();
    let c = node
        .spawn(
            "counter",
            Counter {
                seen: Vec::new(),
                stop_at: None,
                done_at: N as usize - 1,
                out: tx,
            },
        )
        .unwrap();
    let mut observed = node.filters().observe(Match::message::<Tick>());
    let dropped = node
        .filters()
        .drop_one(Match::message::<Tick>().to(c.pid()));
    // Queue everything in one turn of the sender, so the counter finds one big backlog.
    let to = c.pid().clone();
    sender
        .call(move |_, ctx| {
            for i in 0..N {
                ctx.send(&to, Tick(i));
            }
        })
        .await
        .unwrap();
    let seen = within(Duration::from_secs(20), "the counter", rx.recv())
        .await
        .unwrap();
    // The first one was dropped by the filter; the rest came in order.
    assert_eq!(seen, (1..N).collect::<Vec<_>>());
    assert_eq!(dropped.hits(), 1);
    let obs: Vec<u32> = observed
        .drain()
        .iter()
        .map(|o| o.decode::<Tick>().unwrap().0)
        .collect();
    assert_eq!(obs, (0..N).collect::<Vec<_>>());
    node.settle().await;
    assert_eq!(node.stats().messages_received, N as u64 - 1);
}

#[actix_rt::test]
async fn stop_inside_a_handler_handles_nothing_more_of_the_batch() {
    let node = Node::bind(NodeConfig::local()).await.unwrap();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let sender = node.spawn("sender", Quiet).unwrap();
    let c = node
        .spawn(
            "counter",
            Counter {
                seen: Vec::new(),
                stop_at: Some(10),
                done_at: usize::MAX,
                out: tx,
            },
        )
        .unwrap();
    let to = c.pid().clone();
    sender
        .call(move |_, ctx| {
            for i in 0..100 {
                ctx.send(&to, Tick(i));
            }
        })
        .await
        .unwrap();
    let seen = within(Duration::from_secs(20), "the counter", rx.recv())
        .await
        .unwrap();
    assert_eq!(seen, (0..=10).collect::<Vec<_>>());
    // What it had handled when it stopped: nothing after the stopping handler.
    let last = within(Duration::from_secs(20), "the counter to stop", rx.recv())
        .await
        .unwrap();
    assert_eq!(last, (0..=10).collect::<Vec<_>>());
    // It is gone: calls fail, nothing else was handled.
    libproc::testing::eventually(Duration::from_secs(20), "the counter to stop", || {
        !c.is_alive()
    })
    .await;
    assert!(c.call(|p, _| p.seen.len()).await.is_err());
}

/// Sends itself a tick for every tick: its mailbox is never empty.
struct Spinner;
impl Process for Spinner {
    fn install(h: &mut Handlers<Self>) {
        h.on(
            |_me: &mut Spinner, ctx: &mut Ctx<Self>, _from: Pid, t: Tick| {
                let me = ctx.pid().clone();
                ctx.send(&me, Tick(t.0.wrapping_add(1)));
            },
        );
    }
}

/// `settle` used to return silently when it gave up, so an "absent" assertion after it
/// proved nothing; now it fails the test, naming the busy process.
#[actix_rt::test]
#[should_panic(expected = "Node::settle gave up after 100 rounds: mailboxes still busy: spinner@")]
async fn settle_fails_loudly_when_a_mailbox_never_empties() {
    let node = Node::bind(NodeConfig::local()).await.unwrap();
    let s = node.spawn("spinner", Spinner).unwrap();
    node.send(s.pid(), s.pid(), Tick(0));
    // `settle` is `settle_within(10_000)`; fewer rounds keep this test short.
    node.settle_within(100).await;
}
