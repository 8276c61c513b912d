//! Runs seeds of the whole-cluster simulation (`cluster::sim`) and prints JSON: seeds run,
//! faults injected by kind, invariant breaks (each failing seed with its breaks), simulated
//! seconds per wall second and seeds per minute.
//!
//! ```text
//! cargo run -p cluster --example chaos -- --seeds 1000 [--first 0] [--jobs N]
//! cargo run -p cluster --example chaos -- --seed 42      # replay one seed, print its trace
//! cargo run -p cluster --example chaos -- --seeds 200 --marathon-chronos none|all|N
//! cargo run -p cluster --example chaos -- --seeds 250 --zk-followers  # agents' and the scheduler's ZooKeeper sessions get faults too
//! cargo run -p cluster --example chaos -- --seeds 200 --replay-check  # run every seed twice: any difference is a bug
//! cargo run -p cluster --example chaos -- --seed 51 --masters 3 --zk-followers --fault-kinds stop25  # as its pinned test runs it
//! ```
//!
//! `--fault-kinds stop25|wall-clock-steps|all` (default all) picks the fault kinds
//! (`SimConfig::fault_kinds`): a pinned seed replays with the set it was found with.
//!
//! `--replay-check` runs the seeds a second time (on the same worker threads, in another
//! interleaving) and lists as `nondeterministic_seeds` those whose network digest differs
//! between the runs; it exits 1 if there is any. With `SIM_NET_LOG=1` it also prints the
//! first frame where the two runs part.
//!
//! `--marathon-chronos` picks the seeds that also run Marathon and Chronos (default: as
//! `SimConfig::default()`).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use cluster::sim::services::SeedShare;
use cluster::sim::{run_seed, run_seeds, SimConfig};

const USAGE: &str =
    "usage: chaos [--seeds N] [--first S] [--jobs N] [--fault-secs N] [--masters N] [--marathon-chronos none|all|N] [--zk-followers] [--fault-kinds stop25|wall-clock-steps|all] [--replay-check] | chaos --seed S [--masters N] [--marathon-chronos none|all|N] [--zk-followers] [--fault-kinds K]";

fn value(args: &[String], name: &str) -> Result<Option<u64>, String> {
    match args.iter().position(|a| a == name) {
        None => Ok(None),
        Some(i) => args
            .get(i + 1)
            .and_then(|v| v.parse().ok())
            .map(Some)
            .ok_or_else(|| format!("{name} needs a number\n{USAGE}")),
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let parsed = (|| -> Result<_, String> {
        for a in &args {
            if a.starts_with("--")
                && ![
                    "--seeds",
                    "--first",
                    "--seed",
                    "--fault-secs",
                    "--jobs",
                    "--marathon-chronos",
                    "--masters",
                    "--zk-followers",
                    "--fault-kinds",
                    "--replay-check",
                ]
                .contains(&a.as_str())
            {
                return Err(format!("unknown flag {a}\n{USAGE}"));
            }
        }
        Ok((
            value(&args, "--seeds")?,
            value(&args, "--first")?,
            value(&args, "--seed")?,
            value(&args, "--fault-secs")?,
            value(&args, "--jobs")?,
        ))
    })();
    let (seeds, first, one, fault_secs, jobs) = match parsed {
        Ok(p) => p,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    let mut config = SimConfig {
        masters: 3,
        ..SimConfig::default()
    };
    match value(&args, "--masters") {
        Ok(Some(m)) if m >= 1 => config.masters = m as usize,
        Ok(None) => {}
        _ => {
            eprintln!("--masters needs a number from 1\n{USAGE}");
            std::process::exit(2);
        }
    }
    if let Some(i) = args.iter().position(|a| a == "--marathon-chronos") {
        config.marathon_chronos = match args.get(i + 1).map(String::as_str) {
            Some("none") => SeedShare::None,
            Some("all") => SeedShare::All,
            Some(n) if n.parse::<u64>().is_ok_and(|n| n > 0) => {
                SeedShare::OneIn(n.parse().unwrap_or(1))
            }
            _ => {
                eprintln!("--marathon-chronos needs none, all or N (one seed in N)\n{USAGE}");
                std::process::exit(2);
            }
        };
    }
    config.zk_faults_on_followers = args.iter().any(|a| a == "--zk-followers");
    if let Some(i) = args.iter().position(|a| a == "--fault-kinds") {
        match args.get(i + 1).map(|v| v.parse()) {
            Some(Ok(k)) => config.fault_kinds = k,
            Some(Err(e)) => {
                eprintln!("{e}\n{USAGE}");
                std::process::exit(2);
            }
            None => {
                eprintln!("--fault-kinds needs stop25, wall-clock-steps or all\n{USAGE}");
                std::process::exit(2);
            }
        }
    }
    if let Some(s) = fault_secs {
        config.fault_time = Duration::from_secs(s);
    }
    if let Some(seed) = one {
        // Replaying one seed: component logs too (RUST_LOG picks the level).
        libproc::logging::init("warn");
        let r = run_seed(seed, &config);
        for l in &r.trace {
            println!("{l}");
        }
        for l in &r.net_log {
            println!("net {l}");
        }
        println!("seed {seed}: network digest {:016x}", r.digest);
        if r.breaks.is_empty() {
            println!(
                "seed {seed}: no invariant broke ({:?} simulated in {:?})",
                r.simulated, r.wall
            );
        } else {
            println!("{}", r.explain());
            std::process::exit(1);
        }
        return;
    }
    if std::env::var_os("RUST_LOG").is_some() {
        libproc::logging::init("warn");
    }
    let first = first.unwrap_or(0);
    let n = seeds.unwrap_or(100);
    let wall = Instant::now();
    let mut faults: BTreeMap<String, u64> = BTreeMap::new();
    let mut failing = Vec::new();
    let mut simulated = Duration::ZERO;
    let workers =
        jobs.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get() as u64));
    let reports = run_seeds(first..first + n, &config, workers as usize);
    let mut nondeterministic = Vec::new();
    if args.iter().any(|a| a == "--replay-check") {
        let again = run_seeds(first..first + n, &config, workers as usize);
        for (a, b) in reports.iter().zip(&again) {
            if a.digest != b.digest || a.trace != b.trace {
                eprintln!(
                    "NONDETERMINISTIC: seed {} replayed differently (digests {:016x} and {:016x})",
                    a.seed, a.digest, b.digest
                );
                if let Some(i) = (0..a.net_log.len().max(b.net_log.len()))
                    .find(|&i| a.net_log.get(i) != b.net_log.get(i))
                {
                    eprintln!(
                        "  first frame that differs (#{i}): {:?} / {:?}",
                        a.net_log.get(i),
                        b.net_log.get(i)
                    );
                }
                nondeterministic.push(a.seed);
            }
        }
    }
    for r in reports {
        let seed = r.seed;
        simulated += r.simulated;
        for (k, v) in &r.faults {
            *faults.entry(k.clone()).or_default() += v;
        }
        if !r.breaks.is_empty() {
            eprintln!(
                "{}",
                r.explain().lines().take(60).collect::<Vec<_>>().join("\n")
            );
            failing.push(serde_json::json!({"seed": seed, "breaks": r.breaks}));
        }
    }
    let secs = wall.elapsed().as_secs_f64();
    let out = serde_json::json!({
        "seeds_run": n,
        "first_seed": first,
        "jobs": workers,
        "marathon_chronos": format!("{:?}", config.marathon_chronos),
        "profile": if cfg!(debug_assertions) { "debug" } else { "release" },
        "faults_injected": faults,
        "invariant_breaks": failing.len(),
        "failing_seeds": failing,
        "simulated_seconds": simulated.as_secs_f64(),
        "wall_seconds": secs,
        "simulated_seconds_per_wall_second": simulated.as_secs_f64() / secs,
        "seeds_per_minute": n as f64 * 60.0 / secs,
        "nondeterministic_seeds": nondeterministic,
    });
    println!("{out}");
    if !failing.is_empty() || !nondeterministic.is_empty() {
        std::process::exit(1);
    }
}
