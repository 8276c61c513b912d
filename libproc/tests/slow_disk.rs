//! A slow disk write holds the process that made it, in the runtime's (here virtual) time:
//! it handles nothing more until the write is done, what it sent before the write has
//! left, what it sends after leaves only then, and the other processes go on meanwhile.

mod common;

use std::time::Duration;

use common::{paused, Event, Ping, Recorder};
use libproc::fault::{disk_write, set_thread_disk_rule, DiskTarget, DiskVerdict};
use libproc::{Ctx, Handlers, MemNetwork, Node, NodeConfig, Pid, Process};
use tokio::time::Instant;

/// Tells the recorder `10n` before a checkpoint write and `10n + 1` after it.
struct Writer {
    recorder: Pid,
}

impl Writer {
    fn write(&mut self, ctx: &mut Ctx<Self>, n: u64) {
        let ping = |seq| Ping {
            seq,
            text: String::new(),
        };
        ctx.send(&self.recorder, ping(10 * n));
        disk_write(DiskTarget::Checkpoint).expect("a slow write still succeeds");
        ctx.send(&self.recorder, ping(10 * n + 1));
    }
}

impl Process for Writer {
    fn install(_: &mut Handlers<Self>) {}
}

/// Runs two writes back to back and returns when the recorder saw each ping, from the
/// start, plus when a call on the recorder made 1 s in came back.
async fn two_writes() -> (Vec<(u64, Duration)>, Duration) {
    let node = Node::bind(NodeConfig::local().transport(MemNetwork::new()))
        .await
        .unwrap();
    let (recorder, mut seen) = Recorder::new();
    let recorder = node.spawn("recorder", recorder).unwrap();
    let writer = node
        .spawn(
            "writer",
            Writer {
                recorder: recorder.pid().clone(),
            },
        )
        .unwrap();
    let start = Instant::now();
    // Stamps each ping as it arrives.
    let stamped = tokio::task::spawn_local(async move {
        let mut at = Vec::new();
        while at.len() < 4 {
            let e = libproc::testing::within(Duration::from_secs(60), "four pings", seen.recv())
                .await
                .unwrap();
            if let Event::Ping(_, seq) = e {
                at.push((seq, start.elapsed()));
            }
        }
        at
    });
    for n in [1, 2] {
        let w = writer.clone();
        tokio::task::spawn_local(async move { w.call(move |me, ctx| me.write(ctx, n)).await });
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let answered = recorder
        .call(|_, _| Instant::now())
        .await
        .unwrap()
        .duration_since(start);
    let at = stamped.await.unwrap();
    (at, answered)
}

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

#[test]
fn a_slow_write_holds_its_process_and_what_it_sends_after_the_write() {
    set_thread_disk_rule(Some(Box::new(|t| match t {
        DiskTarget::Checkpoint => DiskVerdict::Slow(secs(5)),
        _ => DiskVerdict::Write,
    })));
    let (at, answered) = paused(two_writes());
    set_thread_disk_rule(None);
    assert_eq!(
        at,
        vec![(10, secs(0)), (11, secs(5)), (20, secs(5)), (21, secs(10))],
        "the second write starts when the first is done; each after-write ping waits for it"
    );
    assert_eq!(answered, secs(1), "another process went on meanwhile");
}

#[test]
fn without_a_slow_rule_nothing_waits() {
    let (at, answered) = paused(two_writes());
    assert_eq!(
        at,
        vec![(10, secs(0)), (11, secs(0)), (20, secs(0)), (21, secs(0))]
    );
    assert_eq!(answered, secs(1));
}
