//! `libproc-node`: a tiny node for demos and multi-process tests.
//!
//! ```text
//! libproc-node serve [--listen=127.0.0.1:0]
//!     Starts a node with process `echo`, which answers every `demo.Ping` with a
//!     `demo.Pong` and serves `GET /echo/hello`. Prints `listening <pid>` when ready.
//! libproc-node ping --to=echo@IP:PORT [--count=N] [--listen=127.0.0.1:0]
//!     Starts a node with process `pinger`, links to the target, sends N pings, prints each
//!     pong and `done`, and exits 0 (3 if the target exits first).
//! ```

use std::net::SocketAddr;
use std::process::ExitCode;

use libproc::{Ctx, Handlers, HttpResponse, Node, NodeConfig, Pid, Process};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

#[derive(Serialize, Deserialize)]
struct Ping {
    seq: u64,
    text: String,
}
libproc::message!(Ping, "demo.Ping");

#[derive(Serialize, Deserialize)]
struct Pong {
    seq: u64,
    text: String,
}
libproc::message!(Pong, "demo.Pong");

struct Echo {
    answered: u64,
}

impl Process for Echo {
    fn install(h: &mut Handlers<Self>) {
        h.on(
            |me: &mut Echo, ctx: &mut Ctx<Self>, from: Pid, ping: Ping| {
                me.answered += 1;
                ctx.send(
                    &from,
                    Pong {
                        seq: ping.seq,
                        text: format!("pong to {}", ping.text),
                    },
                );
            },
        );
        h.route("hello", |me: &mut Echo, ctx, _req| {
            HttpResponse::json(
                &serde_json::json!({"pid": ctx.pid().to_string(), "answered": me.answered}),
            )
        });
    }
}

enum Outcome {
    Pong(u64, String),
    Exited(Pid),
}

struct Pinger {
    target: Pid,
    count: u64,
    out: mpsc::UnboundedSender<Outcome>,
}

impl Process for Pinger {
    fn install(h: &mut Handlers<Self>) {
        h.on(|me: &mut Pinger, _ctx, _from, pong: Pong| {
            let _ = me.out.send(Outcome::Pong(pong.seq, pong.text));
        });
    }
    fn started(&mut self, ctx: &mut Ctx<Self>) {
        ctx.link(&self.target);
        for seq in 1..=self.count {
            ctx.send(
                &self.target,
                Ping {
                    seq,
                    text: format!("ping {seq}"),
                },
            );
        }
    }
    fn exited(&mut self, _ctx: &mut Ctx<Self>, pid: Pid) {
        let _ = self.out.send(Outcome::Exited(pid));
    }
}

const USAGE: &str = "usage: libproc-node serve [--listen=IP:PORT]\n       libproc-node ping --to=ID@IP:PORT [--count=N] [--listen=IP:PORT]";

struct Args {
    mode: String,
    listen: SocketAddr,
    to: Option<Pid>,
    count: u64,
}

fn parse(args: &[String]) -> Result<Args, String> {
    let mode = args
        .first()
        .cloned()
        .ok_or("missing mode (serve or ping)")?;
    if mode != "serve" && mode != "ping" {
        return Err(format!("unknown mode '{mode}': expected 'serve' or 'ping'"));
    }
    let mut a = Args {
        mode,
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        to: None,
        count: 3,
    };
    for arg in &args[1..] {
        let (k, v) = arg
            .split_once('=')
            .ok_or(format!("'{arg}' is not of the form --name=value"))?;
        match k {
            "--listen" => {
                a.listen = v
                    .parse()
                    .map_err(|_| format!("--listen='{v}' is not IP:PORT (e.g. 127.0.0.1:0)"))?
            }
            "--to" => a.to = Some(v.parse().map_err(|e| format!("--to: {e}"))?),
            "--count" => {
                a.count = v
                    .parse()
                    .map_err(|_| format!("--count='{v}' is not a whole number"))?
            }
            _ => return Err(format!("unknown flag '{k}'")),
        }
    }
    if a.mode == "ping" && a.to.is_none() {
        return Err("ping needs --to=ID@IP:PORT".into());
    }
    Ok(a)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args = match parse(&args) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("error: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    actix::System::new().block_on(async move {
        let node = match Node::bind(NodeConfig::new(args.listen)).await {
            Ok(n) => n,
            Err(e) => {
                eprintln!("error: cannot listen on {}: {e}", args.listen);
                return ExitCode::from(1);
            }
        };
        if args.mode == "serve" {
            let echo = match node.spawn("echo", Echo { answered: 0 }) {
                Ok(e) => e,
                Err(e) => {
                    eprintln!("error: {e}");
                    return ExitCode::from(1);
                }
            };
            node.set_delegate("echo");
            println!("listening {}", echo.pid());
            std::future::pending::<()>().await;
            ExitCode::SUCCESS
        } else {
            let (tx, mut rx) = mpsc::unbounded_channel();
            let target = args.to.clone().expect("checked in parse");
            let _pinger = node.spawn(
                "pinger",
                Pinger {
                    target,
                    count: args.count,
                    out: tx,
                },
            );
            let mut got = 0;
            while let Some(o) = rx.recv().await {
                match o {
                    Outcome::Pong(seq, text) => {
                        println!("pong {seq}: {text}");
                        got += 1;
                        if got == args.count {
                            println!("done");
                            return ExitCode::SUCCESS;
                        }
                    }
                    Outcome::Exited(pid) => {
                        println!("exited {pid}");
                        return ExitCode::from(3);
                    }
                }
            }
            ExitCode::from(1)
        }
    })
}
