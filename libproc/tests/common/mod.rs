//! Shared test fixtures: messages, a recording process, a raw HTTP client.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::Duration;

use libproc::{Ctx, Handlers, Pid, Process};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

/// Same wire names and fields as `libproc-node`'s messages.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ping {
    pub seq: u64,
    pub text: String,
}
libproc::message!(Ping, "demo.Ping");

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pong {
    pub seq: u64,
    pub text: String,
}
libproc::message!(Pong, "demo.Pong");

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tick(pub u32);
libproc::message!(Tick, "test.Tick");

/// What a [`Recorder`] saw.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    Ping(Pid, u64),
    Pong(Pid, u64),
    Tick(u32),
    Exited(Pid),
}

/// Records pings, pongs, ticks and exits; answers pings with pongs.
pub struct Recorder {
    pub out: mpsc::UnboundedSender<Event>,
}

impl Recorder {
    pub fn new() -> (Recorder, mpsc::UnboundedReceiver<Event>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (Recorder { out: tx }, rx)
    }
}

impl Process for Recorder {
    fn install(h: &mut Handlers<Self>) {
        h.on(
            |me: &mut Recorder, ctx: &mut Ctx<Self>, from: Pid, p: Ping| {
                let _ = me.out.send(Event::Ping(from.clone(), p.seq));
                ctx.send(
                    &from,
                    Pong {
                        seq: p.seq,
                        text: p.text,
                    },
                );
            },
        );
        h.on(|me: &mut Recorder, _ctx, from, p: Pong| {
            let _ = me.out.send(Event::Pong(from, p.seq));
        });
        h.on(|me: &mut Recorder, _ctx, _from, t: Tick| {
            let _ = me.out.send(Event::Tick(t.0));
        });
    }
    fn exited(&mut self, _ctx: &mut Ctx<Self>, pid: Pid) {
        let _ = self.out.send(Event::Exited(pid));
    }
}

/// Waits (bounded) for the next event.
pub async fn next(rx: &mut mpsc::UnboundedReceiver<Event>) -> Event {
    libproc::testing::within(Duration::from_secs(10), "the next event", rx.recv())
        .await
        .expect("event channel closed")
}

/// `GET path` over a fresh connection, bounded; returns (status, body).
pub async fn http_get(addr: SocketAddr, path: &str) -> (u16, String) {
    let raw = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    http_request(addr, raw.as_bytes()).await
}

/// Sends a raw request and reads the whole response, bounded; returns (status, body).
pub async fn http_request(addr: SocketAddr, raw: &[u8]) -> (u16, String) {
    let (status, _, body) = libproc::testing::within(
        Duration::from_secs(10),
        "the HTTP response",
        libproc::testing::http_exchange(addr, raw),
    )
    .await
    .expect("HTTP exchange");
    (status, body)
}

/// Runs `fut` on a current-thread runtime whose clock starts paused, inside a `LocalSet`
/// (so actix can spawn): virtual time for a test of this crate (other crates use
/// `libproc::testing::paused`, behind the `test-util` feature).
pub fn paused<F: std::future::Future>(fut: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .expect("a current-thread runtime with a paused clock")
        .block_on(tokio::task::LocalSet::new().run_until(fut))
}
