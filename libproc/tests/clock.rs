//! Timers on a paused clock: nothing fires until the test advances time, then timers fire
//! in deadline order; cancelled timers never fire.

mod common;

use std::time::Duration;

use common::Tick;
use libproc::{Ctx, Handlers, MemNetwork, Node, NodeConfig, Process, TimerId};
use tokio::sync::mpsc;

struct Timed {
    out: mpsc::UnboundedSender<u32>,
    cancel_me: Option<TimerId>,
}

impl Process for Timed {
    fn install(h: &mut Handlers<Self>) {
        h.on(|me: &mut Timed, ctx: &mut Ctx<Self>, _from, t: Tick| {
            let _ = me.out.send(t.0);
            if t.0 == 2 {
                if let Some(id) = me.cancel_me.take() {
                    assert!(ctx.cancel(id));
                }
            }
        });
    }
    fn started(&mut self, ctx: &mut Ctx<Self>) {
        ctx.delay(Duration::from_secs(10), Tick(10));
        ctx.delay(Duration::from_secs(5), Tick(5));
        ctx.delay(Duration::from_secs(2), Tick(2));
        self.cancel_me = Some(ctx.delay(Duration::from_secs(7), Tick(7)));
        ctx.after(Duration::from_secs(5), |me, _| {
            let _ = me.out.send(55);
        });
    }
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn delays_fire_only_when_the_clock_is_advanced() {
    tokio::task::LocalSet::new()
        .run_until(async {
            let node = Node::bind(NodeConfig::local().transport(MemNetwork::new()))
                .await
                .unwrap();
            let (tx, mut rx) = mpsc::unbounded_channel();
            node.spawn(
                "timed",
                Timed {
                    out: tx,
                    cancel_me: None,
                },
            )
            .unwrap();
            node.settle().await;
            assert!(rx.try_recv().is_err(), "nothing may fire before time moves");

            tokio::time::advance(Duration::from_millis(1999)).await;
            node.settle().await;
            assert!(rx.try_recv().is_err(), "2 s timer fired early");

            tokio::time::advance(Duration::from_millis(1)).await;
            node.settle().await;
            assert_eq!(rx.try_recv().ok(), Some(2));
            assert!(rx.try_recv().is_err());

            tokio::time::advance(Duration::from_secs(3)).await;
            node.settle().await;
            // Two timers due at 5 s fire in the order they were set.
            assert_eq!(rx.try_recv().ok(), Some(5));
            assert_eq!(rx.try_recv().ok(), Some(55));

            tokio::time::advance(Duration::from_secs(5)).await;
            node.settle().await;
            // The 7 s timer was cancelled by the 2 s tick.
            assert_eq!(rx.try_recv().ok(), Some(10));
            assert!(rx.try_recv().is_err());
        })
        .await;
}
