//! libproc benchmarks, modelled on Mesos's libprocess benchmarks (`benchmarks.cpp`).
//!
//! ```text
//! cargo run --release -p libproc --example bench -- --json     # full run, one JSON object on stdout
//! cargo run --release -p libproc --example bench -- --quick    # CI smoke (< 20 s), human-readable
//! ```
//!
//! Figures (see `BENCHMARKS.md` for the latest results):
//! * `local_msgs_per_s` vs `baseline_local_msgs_per_s`: one-way tells between two processes on
//!   one arbiter vs a tokio unbounded channel between two tasks on the same thread.
//! * `remote_msgs_per_s` vs `baseline_remote_msgs_per_s`: one-way 64-byte tells to a node in
//!   another OS process (this binary re-executed with `--child-node`) vs raw tokio TCP writing
//!   the same frames (encoded per message) to a child started with `--child-raw`.
//! * `remote_rtt_*` vs `baseline_rtt_*`: ping-pong with one message in flight, 64-byte bodies,
//!   libproc and raw TCP measured in alternating blocks (loopback RTT on a small VM depends on
//!   whether the scheduler put both processes on one core, which drifts during a run).
//! * `throughput_round_trips_per_s`: Process_BENCHMARK_ThroughputPerformance (8 pairs, 15 M
//!   round trips, ≤ 1,000 in flight per client, clock stops when 7 of 8 clients finish).
//! * `client_server_rpcs_per_s`: Process_BENCHMARK_ClientServer (1 server, 8 linked clients,
//!   10,000 requests each, ≤ 250 outstanding, 3-byte bodies).
//!
//! `--only local,remote,remote_base,rtt,tp2,tp1,cs_one_arbiter,cs_server_apart,cs_split`
//! runs a subset (for profiling, e.g. under `perf record`); skipped figures are null.
//! `--count N` makes every section move about `N` messages (round trips count two), for
//! instruction counting under `valgrind --tool=callgrind`.
//!
//! `foreign_cpu_fraction` is the share of the machine other programs used during the run
//! (from `/proc/stat`); anything above ~0.05 means the figures are skewed: run again.
//!
//! Benchmarks may read the wall clock; library code may not.

use std::future::Future;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context as _};
use bytes::BytesMut;
use libproc::{message, wire, Ctx, Handlers, Message, Node, NodeConfig, Pid, Process, ProcessRef};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};

mod child;
mod client_server;
mod cpu;
mod local;
mod messages;
mod remote;
mod rtt;
mod support;
mod throughput;

use child::*;
use client_server::*;
use cpu::*;
use local::*;
use messages::*;
use remote::*;
use rtt::*;
use support::*;
use throughput::*;

// ---------------------------------------------------------------------------------------------
// Parameters
// ---------------------------------------------------------------------------------------------

/// Size of the remote message body (bytes).
const BODY: usize = 64;
/// Messages a sender queues before yielding to the runtime (local and remote tells).
const CHUNK: u64 = 1_000;
/// The remote sink acknowledges every this many messages ...
const ACK_EVERY: u64 = 8_192;
/// ... and the remote sender keeps at most this many unacknowledged (flow control, so the
/// sender cannot queue the whole run in memory as libprocess does).
const WINDOW: u64 = 8 * ACK_EVERY;
/// Frame limit for the raw-TCP baseline's splitter.
const MAX_FRAME: usize = 16 * 1024 * 1024;
/// Generous bound on any single wait, so a lost message fails the run instead of hanging it.
const WAIT: Duration = Duration::from_secs(180);

struct Params {
    quick: bool,
    /// `--only a,b`: run only these sections (for profiling); the others report null.
    only: Option<Vec<String>>,
    local_msgs: u64,
    remote_msgs: u64,
    remote_warmup: u64,
    rtt_warmup: usize,
    rtt_samples: usize,
    rtt_blocks: usize,
    tp_total: u64,
    tp_pairs: usize,
    tp_in_flight: u64,
    cs_clients: usize,
    cs_requests: u64,
    cs_outstanding: u64,
    cs_reps: usize,
}

impl Params {
    fn runs(&self, section: &str) -> bool {
        self.only
            .as_ref()
            .is_none_or(|o| o.iter().any(|s| s == section))
    }

    /// `--count N`: every section moves about `N` messages (for instruction counting under
    /// valgrind: the difference between two counts is the cost of the extra messages).
    fn scale_to(&mut self, n: u64) {
        self.local_msgs = n;
        self.remote_msgs = n;
        self.remote_warmup = n / 10;
        self.rtt_warmup = 100;
        self.rtt_samples = (n / 2) as usize;
        self.rtt_blocks = 1;
        // Round trips: `n` messages in total.
        self.tp_total = (n / 2).max(self.tp_pairs as u64 * self.tp_in_flight);
        self.cs_requests = (n / 2 / self.cs_clients as u64).max(self.cs_outstanding);
        self.cs_reps = 1;
    }

    fn new(quick: bool) -> Params {
        let full = !quick;
        Params {
            quick,
            only: None,
            local_msgs: if full { 2_000_000 } else { 300_000 },
            remote_msgs: if full { 1_000_000 } else { 150_000 },
            remote_warmup: if full { 100_000 } else { 20_000 },
            rtt_warmup: if full { 2_000 } else { 500 },
            rtt_samples: if full { 20_000 } else { 3_000 },
            rtt_blocks: if full { 10 } else { 3 },
            tp_total: if full { 15_000_000 } else { 1_500_000 },
            tp_pairs: 8,
            tp_in_flight: 1_000,
            cs_clients: 8,
            cs_requests: 10_000,
            cs_outstanding: 250,
            cs_reps: if full { 15 } else { 3 },
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Driver
// ---------------------------------------------------------------------------------------------

macro_rules! progress {
    ($($t:tt)*) => { eprintln!("[bench] {}", format_args!($($t)*)) };
}

async fn run(p: &Params, arbs: &[actix::ArbiterHandle; 2]) -> anyhow::Result<serde_json::Value> {
    let watch = CpuWatch::start();
    let node = Node::bind(NodeConfig::local()).await?;
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    // Other work on the machine skews every figure; record the load the run started under.
    let loadavg = std::fs::read_to_string("/proc/loadavg").ok().and_then(|s| {
        s.split_whitespace()
            .next()
            .and_then(|x| x.parse::<f64>().ok())
    });
    if let Some(l) = loadavg.filter(|&l| l > 0.5) {
        progress!("warning: 1-minute load average is {l} at start; figures may be skewed");
    }

    let nan = f64::NAN;
    let (mut local, mut local_base) = (nan, nan);
    let (mut remote, mut remote_base) = (nan, nan);
    let (mut rtt50, mut rtt99, mut base50, mut base99) = (nan, nan, nan, nan);
    let (mut tp_two, mut tp_one) = (nan, nan);
    let mut cs_by = serde_json::Map::new();
    let (mut cs_best, mut cs_where) = (nan, "");

    if p.runs("local") {
        progress!("local tells: {} messages", p.local_msgs);
        bench_local(&node, p.local_msgs / 10).await?;
        local = bench_local(&node, p.local_msgs).await?;
        bench_local_baseline(p.local_msgs / 10).await?;
        local_base = bench_local_baseline(p.local_msgs).await?;
        progress!("  libproc {:.0}/s, channel {:.0}/s", local, local_base);
    }

    // Remote: a libproc node in one child process, a raw-TCP peer in another.
    let need_node = p.runs("remote") || p.runs("rtt");
    let need_raw = p.runs("remote_base") || p.runs("rtt");
    let child = if need_node {
        Some(ChildProc::spawn("--child-node")?)
    } else {
        None
    };
    let raw = if need_raw {
        Some(ChildProc::spawn("--child-raw")?)
    } else {
        None
    };
    if let Some(child) = &child {
        if p.runs("remote") {
            let sink = Pid::new("sink", child.addr);
            progress!(
                "remote tells: {} messages of {BODY} B to {sink}",
                p.remote_msgs
            );
            remote_round(&node, &sink, p.remote_warmup).await?;
            remote = remote_round(&node, &sink, p.remote_msgs).await?;
            progress!("  libproc {:.0}/s", remote);
        }
    }
    if let Some(raw) = &raw {
        if p.runs("remote_base") {
            progress!("remote tells, raw TCP baseline: {} frames", p.remote_msgs);
            remote_round_baseline(&node, raw.addr, p.remote_warmup).await?;
            remote_base = remote_round_baseline(&node, raw.addr, p.remote_msgs).await?;
            progress!("  raw TCP {:.0}/s", remote_base);
        }
    }
    if let (Some(child), Some(raw)) = (&child, &raw) {
        if p.runs("rtt") {
            progress!(
                "remote ping-pong: {} round trips each (+ warm-up), libproc and raw TCP in {} alternating blocks",
                p.rtt_samples,
                p.rtt_blocks
            );
            let (lib, base) =
                rtt_interleaved(&node, &Pid::new("pong", child.addr), raw.addr, p).await?;
            (rtt50, rtt99) = (percentile(&lib, 0.5), percentile(&lib, 0.99));
            (base50, base99) = (percentile(&base, 0.5), percentile(&base, 0.99));
            progress!("  libproc p50 {:.1} µs, p99 {:.1} µs", rtt50, rtt99);
            progress!("  raw TCP p50 {:.1} µs, p99 {:.1} µs", base50, base99);
        }
    }
    drop(child);
    drop(raw);

    // ThroughputPerformance.
    if p.runs("tp2") {
        progress!(
            "throughput: {} round trips, {} pairs, two arbiters",
            p.tp_total,
            p.tp_pairs
        );
        tp_two = bench_throughput(&node, p, &arbs[..]).await?;
        progress!("  {:.0} round trips/s", tp_two);
    }
    if p.runs("tp1") {
        progress!(
            "throughput: {} round trips, {} pairs, one arbiter",
            p.tp_total,
            p.tp_pairs
        );
        tp_one = bench_throughput(&node, p, &[]).await?;
        progress!("  {:.0} round trips/s", tp_one);
    }
    let (tp, tp_where) = if tp_one.is_nan() || tp_two >= tp_one {
        (tp_two, "two_arbiters")
    } else {
        (tp_one, "one_arbiter")
    };

    // ClientServer.
    for placement in [
        CsPlacement::OneArbiter,
        CsPlacement::ServerApart,
        CsPlacement::Split,
    ] {
        if !p.runs(&format!("cs_{}", placement.name())) {
            continue;
        }
        client_server_once(&node, p, placement, arbs).await?; // warm-up
        let mut runs = Vec::new();
        for _ in 0..p.cs_reps {
            runs.push(client_server_once(&node, p, placement, arbs).await?);
        }
        let m = median(&mut runs);
        progress!(
            "client-server {}: median of {} runs {:.0} rpcs/s",
            placement.name(),
            p.cs_reps,
            m
        );
        cs_by.insert(placement.name().into(), serde_json::json!(m.round()));
        if cs_best.is_nan() || m > cs_best {
            (cs_best, cs_where) = (m, placement.name());
        }
    }

    let remote_ratio = remote / remote_base;
    let rtt_ratio = rtt50 / base50;
    let targets = serde_json::json!({
        "remote_ratio_min": 0.7,
        "rtt_ratio_max": 1.5,
        "throughput_round_trips_per_s_min": 5.2e6,
        "client_server_rpcs_per_s_min": 1.4e6,
    });
    let meets = serde_json::json!({
        "remote_ratio": remote_ratio >= 0.7,
        "rtt_ratio": rtt_ratio <= 1.5,
        "throughput_round_trips_per_s": tp >= 5.2e6,
        "client_server_rpcs_per_s": cs_best >= 1.4e6,
    });
    node.shutdown();
    let foreign = watch.foreign_fraction(cores);
    if let Some(f) = foreign.filter(|&f| f > 0.05) {
        progress!(
            "warning: other programs used {:.0}% of the machine during the run; figures are skewed",
            f * 100.0
        );
    }
    let r2 = |x: f64| (x * 100.0).round() / 100.0;
    Ok(serde_json::json!({
        "mode": if p.quick { "quick" } else { "full" },
        "cores": cores,
        "loadavg_1m_at_start": loadavg,
        "foreign_cpu_fraction": foreign.map(|f| (f * 1000.0).round() / 1000.0),
        "local_msgs": p.local_msgs,
        "local_msgs_per_s": local.round(),
        "baseline_local_msgs_per_s": local_base.round(),
        "local_ratio": r2(local / local_base),
        "remote_msgs": p.remote_msgs,
        "remote_body_bytes": BODY,
        "remote_window": WINDOW,
        "remote_msgs_per_s": remote.round(),
        "baseline_remote_msgs_per_s": remote_base.round(),
        "remote_ratio": r2(remote_ratio),
        "rtt_samples": p.rtt_samples,
        "rtt_blocks": p.rtt_blocks,
        "remote_rtt_p50_us": r2(rtt50),
        "remote_rtt_p99_us": r2(rtt99),
        "baseline_rtt_p50_us": r2(base50),
        "baseline_rtt_p99_us": r2(base99),
        "rtt_ratio": r2(rtt_ratio),
        "throughput_total_round_trips": p.tp_total,
        "throughput_round_trips_per_s": tp.round(),
        "throughput_placement": tp_where,
        "throughput_round_trips_per_s_two_arbiters": tp_two.round(),
        "throughput_round_trips_per_s_one_arbiter": tp_one.round(),
        "client_server_rpcs_per_s": cs_best.round(),
        "client_server_placement": cs_where,
        "client_server_rpcs_per_s_by_placement": cs_by,
        "client_server_runs_per_placement": p.cs_reps,
        "targets": targets,
        "meets": meets,
    }))
}

fn main() -> anyhow::Result<()> {
    let mut json = false;
    let mut quick = false;
    let mut only = None;
    let mut count = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--only" => {
                let list = args
                    .next()
                    .ok_or_else(|| anyhow!("--only needs a comma-separated list"))?;
                only = Some(list.split(',').map(str::to_string).collect());
            }
            "--count" => {
                let n = args
                    .next()
                    .and_then(|n| n.parse::<u64>().ok())
                    .filter(|&n| n >= 1_000)
                    .ok_or_else(|| anyhow!("--count needs a number of messages (>= 1000)"))?;
                count = Some(n);
            }
            "--json" => json = true,
            "--quick" => quick = true,
            "--child-node" => return child_node(),
            "--child-raw" => return child_raw(),
            "--bench" => {} // passed by `cargo bench`-style harnesses; ignore
            other => {
                bail!("unknown argument {other:?} (expected --json, --quick, --only SECTIONS, --count N)")
            }
        }
    }
    let mut p = Params::new(quick);
    p.only = only;
    if let Some(n) = count {
        p.scale_to(n);
    }
    let (result, arbiters) = actix::System::new().block_on(async {
        let arbiters = [actix::Arbiter::new(), actix::Arbiter::new()];
        let handles = [arbiters[0].handle(), arbiters[1].handle()];
        let result = run(&p, &handles).await;
        for a in &arbiters {
            a.stop();
        }
        (result, arbiters)
    });
    for a in arbiters {
        let _ = a.join();
    }
    let v = result?;
    if json {
        println!("{v}");
    } else {
        println!("{}", serde_json::to_string_pretty(&v)?);
    }
    Ok(())
}
