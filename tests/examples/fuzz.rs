//! Fuzzes every decoder that reads bytes from outside for a bounded time, on the stable
//! toolchain, and prints JSON figures: per target, inputs tried, seconds and crashes.
//!
//! ```text
//! cargo run -p cluster --example fuzz -- --seconds-per-target=4
//! cargo run -p cluster --example fuzz -- --self-test --seconds-per-target=2   # exits 1
//! ```
//!
//! **Approach.** cargo-fuzz (libFuzzer) needs a nightly toolchain for its coverage
//! instrumentation; CI has stable only. So this is a seeded *mutation* fuzzer without
//! coverage feedback: each target has a seed corpus of well-formed inputs (frames, message
//! bodies, JSON calls, records, registries, manifests, flags); each round takes a seed or
//! an earlier mutant and applies 1–8 random mutations (bit flips, random or "interesting"
//! bytes such as `0xff…` lengths, inserts, deletes, duplicated ranges, splices with other
//! seeds, truncation), driven by `libproc::rng::SplitMix64` with a fixed seed, so a run is
//! reproducible (`--seed=N`). Mutating well-formed inputs reaches deep into the decoders
//! (a valid frame with a forged length, a JSON call with one wrong type) where random bytes
//! would stop at the first check; the proptests in the crates cover the same decoders with
//! generated structures.
//!
//! **What counts as a crash.** Per input: a panic (caught with `catch_unwind`), one
//! allocation larger than [`ALLOCATION_CAP`] (the inputs are at most [`MAX_INPUT`] bytes,
//! so a bigger allocation can only come from a length read from the input and not
//! checked; a counting global allocator sees it), or an input that takes longer than
//! [`INPUT_TIME_LIMIT`] (a hang: a watchdog thread ends the run with the input if one
//! exceeds [`HANG_ABORT`]). Crashing inputs are written to `target/fuzz-crashes/` and the
//! program exits 1; each one found becomes a regression test in the crate that owns the
//! decoder.

use std::alloc::{GlobalAlloc, Layout, System};
use std::panic::AssertUnwindSafe;
use std::path::Path;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use libproc::rng::SplitMix64;
use libproc::Message;
use serde_json::json;

/// The largest input tried.
const MAX_INPUT: usize = 64 * 1024;
/// One allocation above this while decoding an input is a crash.
const ALLOCATION_CAP: usize = 64 * 1024 * 1024;
/// An input that takes longer is a crash (reported at the end).
const INPUT_TIME_LIMIT: Duration = Duration::from_secs(1);
/// An input still running after this ends the run at once (it may never return).
const HANG_ABORT: Duration = Duration::from_secs(10);

/// Passes everything to the system allocator and remembers the largest single request
/// since the last reset.
struct Guard;

static LARGEST: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Guard {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LARGEST.fetch_max(layout.size(), Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LARGEST.fetch_max(new_size, Ordering::Relaxed);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GUARD: Guard = Guard;

/// One decoder under test: its seeds and how to feed it one input.
struct Target {
    name: &'static str,
    seeds: Vec<Vec<u8>>,
    run: fn(&[u8]),
}

fn main() {
    let mut seconds = 4.0f64;
    let mut seed = 17u64;
    let mut only: Option<String> = None;
    for arg in std::env::args().skip(1) {
        if let Some(v) = arg.strip_prefix("--seconds-per-target=") {
            seconds = v.parse().unwrap_or_else(|_| usage(&arg));
        } else if let Some(v) = arg.strip_prefix("--seed=") {
            seed = v.parse().unwrap_or_else(|_| usage(&arg));
        } else if let Some(v) = arg.strip_prefix("--target=") {
            only = Some(v.to_string());
        } else if arg == "--self-test" {
            // The harness itself: a decoder that panics and one that allocates from an
            // unchecked length must both be reported (exit 1, two crashes).
            only = Some("self_test".into());
        } else {
            usage(&arg);
        }
    }
    // Panics are expected findings, not noise: record the message, print nothing.
    let last_panic: Arc<Mutex<String>> = Arc::default();
    {
        let last_panic = last_panic.clone();
        std::panic::set_hook(Box::new(move |info| {
            if let Ok(mut p) = last_panic.lock() {
                *p = info.to_string();
            }
        }));
    }
    let watchdog = Watchdog::start();
    let crash_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/fuzz-crashes");
    let mut report = Vec::new();
    let mut total_crashes = 0u64;
    let started = Instant::now();
    let mut all = targets();
    all.push(Target {
        name: "self_test",
        seeds: vec![vec![0, 1, 2, 3, 4, 5, 6, 7]],
        run: |d| {
            if d.first() == Some(&0xff) {
                panic!("a byte 0xff");
            }
            if let Some(len) = d.get(1..5) {
                let n = u32::from_be_bytes([len[0], len[1], len[2], len[3]]) as usize;
                if n > ALLOCATION_CAP {
                    let v: Vec<u8> = Vec::with_capacity(n);
                    std::hint::black_box(v);
                }
            }
        },
    });
    for (i, target) in all.into_iter().enumerate() {
        if only.is_none() && target.name == "self_test" {
            continue;
        }
        if only.as_deref().is_some_and(|o| o != target.name) {
            continue;
        }
        let mut rng = SplitMix64::new(seed ^ (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15));
        let mut pool: Vec<Vec<u8>> = target.seeds.clone();
        let t0 = Instant::now();
        let mut inputs = 0u64;
        let mut crashes = Vec::new();
        let mut slowest = Duration::ZERO;
        while t0.elapsed().as_secs_f64() < seconds {
            // The seeds themselves first, then mutants.
            let input = if (inputs as usize) < target.seeds.len() {
                target.seeds[inputs as usize].clone()
            } else {
                let base = &pool[rng.next_u64() as usize % pool.len()];
                mutate(&mut rng, base, &target.seeds)
            };
            inputs += 1;
            watchdog.arm(target.name, &input);
            LARGEST.store(0, Ordering::Relaxed);
            let t = Instant::now();
            let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| (target.run)(&input)));
            let took = t.elapsed();
            watchdog.disarm();
            slowest = slowest.max(took);
            let largest = LARGEST.load(Ordering::Relaxed);
            let why = if outcome.is_err() {
                Some(format!(
                    "panic: {}",
                    last_panic.lock().map(|p| p.clone()).unwrap_or_default()
                ))
            } else if largest > ALLOCATION_CAP {
                Some(format!(
                    "allocation of {largest} bytes from an input of {}",
                    input.len()
                ))
            } else if took > INPUT_TIME_LIMIT {
                Some(format!("took {took:?}"))
            } else {
                None
            };
            if let Some(why) = why {
                let file = crash_dir.join(format!("{}-{}.bin", target.name, crashes.len()));
                let _ = std::fs::create_dir_all(&crash_dir);
                let _ = std::fs::write(&file, &input);
                crashes.push(json!({ "why": why, "input": file.display().to_string() }));
                if crashes.len() >= 10 {
                    break;
                }
            } else if pool.len() < 4096 && rng.next_u64() % 16 == 0 {
                // Keep some mutants to mutate further (depth without coverage feedback).
                pool.push(input);
            }
        }
        total_crashes += crashes.len() as u64;
        report.push(json!({
            "target": target.name,
            "seeds": target.seeds.len(),
            "inputs": inputs,
            "seconds": (t0.elapsed().as_secs_f64() * 100.0).round() / 100.0,
            "inputs_per_second": (inputs as f64 / t0.elapsed().as_secs_f64()).round(),
            "slowest_input_ms": (slowest.as_secs_f64() * 1e5).round() / 100.0,
            "crashes": crashes.len(),
            "crash_inputs": crashes,
        }));
    }
    let total_inputs: u64 = report.iter().filter_map(|r| r["inputs"].as_u64()).sum();
    let out = json!({
        "benchmark": "fuzz",
        "seed": seed,
        "seconds_per_target": seconds,
        "targets": report,
        "total_inputs": total_inputs,
        "total_seconds": (started.elapsed().as_secs_f64() * 100.0).round() / 100.0,
        "total_crashes": total_crashes,
    });
    println!("{}", serde_json::to_string_pretty(&out).unwrap_or_default());
    if total_crashes > 0 {
        std::process::exit(1);
    }
}

fn usage(arg: &str) -> ! {
    eprintln!(
        "fuzz: bad argument '{arg}'\nusage: fuzz [--seconds-per-target=SECONDS] [--seed=N] [--target=NAME]"
    );
    std::process::exit(2)
}

/// Ends the run, naming the input, if one input runs longer than [`HANG_ABORT`].
struct Watchdog {
    /// Milliseconds since `epoch` when the current input started; 0 when idle.
    since: Arc<AtomicU64>,
    current: Arc<Mutex<(&'static str, Vec<u8>)>>,
    epoch: Instant,
}

impl Watchdog {
    fn start() -> Watchdog {
        let w = Watchdog {
            since: Arc::default(),
            current: Arc::new(Mutex::new(("", Vec::new()))),
            epoch: Instant::now(),
        };
        let (since, current, epoch) = (w.since.clone(), w.current.clone(), w.epoch);
        std::thread::spawn(move || loop {
            std::thread::sleep(Duration::from_millis(250));
            let s = since.load(Ordering::Relaxed);
            if s != 0 && epoch.elapsed().as_millis() as u64 - s > HANG_ABORT.as_millis() as u64 {
                let (name, input) = current.lock().map(|c| c.clone()).unwrap_or_default();
                let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/fuzz-crashes");
                let _ = std::fs::create_dir_all(&dir);
                let file = dir.join(format!("{name}-hang.bin"));
                let _ = std::fs::write(&file, &input);
                println!(
                    "{}",
                    json!({"benchmark": "fuzz", "hang": name, "input": file.display().to_string(), "total_crashes": 1})
                );
                std::process::exit(1);
            }
        });
        w
    }

    fn arm(&self, name: &'static str, input: &[u8]) {
        if let Ok(mut c) = self.current.lock() {
            c.0 = name;
            c.1.clear();
            c.1.extend_from_slice(input);
        }
        let now = self.epoch.elapsed().as_millis() as u64;
        self.since.store(now.max(1), Ordering::Relaxed);
    }

    fn disarm(&self) {
        self.since.store(0, Ordering::Relaxed);
    }
}

/// Byte values that tend to break decoders: length prefixes at their limits, msgpack and
/// JSON structure bytes.
const INTERESTING: &[&[u8]] = &[
    &[0xff, 0xff, 0xff, 0xff],
    &[0x7f, 0xff, 0xff, 0xff],
    &[0x80, 0, 0, 0],
    &[0, 0, 0, 0],
    &[0xdd, 0xff, 0xff, 0xff, 0xff],
    &[0xdf, 0xff, 0xff, 0xff, 0xff],
    &[0xdb, 0xff, 0xff, 0xff, 0xff],
    &[0xc6, 0xff, 0xff, 0xff, 0xff],
    &[0xcb, 0x7f, 0xf8, 0, 0, 0, 0, 0, 0],
    b"-1",
    b"1e999",
    b"18446744073709551616",
    b"NaN",
    b"null",
    b"[[[[[[[[[[[[[[[[",
    b"{\"\":",
    b"\"\\u0000\"",
    b"\\ud800",
];

fn mutate(rng: &mut SplitMix64, base: &[u8], seeds: &[Vec<u8>]) -> Vec<u8> {
    let mut v = base.to_vec();
    let rounds = 1 + rng.next_u64() % 8;
    for _ in 0..rounds {
        let len = v.len();
        let at = |rng: &mut SplitMix64| {
            if len == 0 {
                0
            } else {
                rng.next_u64() as usize % (len + 1)
            }
        };
        match rng.next_u64() % 9 {
            0 if len > 0 => {
                let i = rng.next_u64() as usize % len;
                v[i] ^= 1 << (rng.next_u64() % 8);
            }
            1 if len > 0 => {
                let i = rng.next_u64() as usize % len;
                v[i] = rng.next_u64() as u8;
            }
            2 => {
                let i = at(rng);
                let n = 1 + rng.next_u64() as usize % 8;
                let bytes: Vec<u8> = (0..n).map(|_| rng.next_u64() as u8).collect();
                v.splice(i..i, bytes);
            }
            3 if len > 0 => {
                let i = rng.next_u64() as usize % len;
                let n = 1 + rng.next_u64() as usize % (len - i).min(16);
                v.drain(i..i + n);
            }
            4 if len > 0 => {
                // Duplicate a range (repeated structure, nesting).
                let i = rng.next_u64() as usize % len;
                let n = 1 + rng.next_u64() as usize % (len - i).min(64);
                let piece = v[i..i + n].to_vec();
                let j = at(rng);
                v.splice(j..j, piece);
            }
            5 => {
                let pick = INTERESTING[rng.next_u64() as usize % INTERESTING.len()];
                let i = at(rng);
                if rng.next_u64() % 2 == 0 && i + pick.len() <= len {
                    v[i..i + pick.len()].copy_from_slice(pick);
                } else {
                    v.splice(i..i, pick.iter().copied());
                }
            }
            6 if !seeds.is_empty() => {
                // Splice: our head, another seed's tail.
                let other = &seeds[rng.next_u64() as usize % seeds.len()];
                let i = at(rng);
                let j = if other.is_empty() {
                    0
                } else {
                    rng.next_u64() as usize % other.len()
                };
                v.truncate(i);
                v.extend_from_slice(&other[j..]);
            }
            7 if len > 0 => {
                v.truncate(rng.next_u64() as usize % len);
            }
            _ => {
                // A 4-byte big-endian length somewhere, near a limit or random.
                let n: u32 = match rng.next_u64() % 3 {
                    0 => u32::MAX,
                    1 => (rng.next_u64() % 70_000) as u32,
                    _ => rng.next_u64() as u32,
                };
                let i = at(rng);
                v.splice(i..i, n.to_be_bytes());
            }
        }
    }
    v.truncate(MAX_INPUT);
    v
}

fn named<T: serde::Serialize>(t: &T) -> Vec<u8> {
    rmp_serde::to_vec_named(t).unwrap_or_default()
}

fn text(data: &[u8]) -> std::borrow::Cow<'_, str> {
    String::from_utf8_lossy(data)
}

fn targets() -> Vec<Target> {
    use proto::messages as m;
    let fw = proto::FrameworkInfo::new("fuzz", "root");
    let fid = proto::FrameworkId::from("f-1");
    let frames: Vec<Vec<u8>> = vec![
        libproc::wire::encode_frame_bytes(
            "scheduler(1)@127.0.0.1:4000",
            "master",
            m::KillTaskMessage::NAME,
            &named(&m::KillTaskMessage {
                framework_id: fid.clone(),
                task_id: proto::TaskId::from("t"),
                kill_policy: None,
            }),
        )
        .to_vec(),
        libproc::wire::encode_frame_bytes("a@[::1]:1", "slave(1)", "x", b"").to_vec(),
        libproc::wire::handshake("127.0.0.1:5050".parse().expect("an address")),
    ];
    // Message bodies: one byte picks the name, the rest is the body.
    let names = message_names();
    let mut bodies: Vec<Vec<u8>> = Vec::new();
    let samples: Vec<(&str, Vec<u8>)> = vec![
        (
            m::RegisterFrameworkMessage::NAME,
            named(&m::RegisterFrameworkMessage {
                framework: fw.clone(),
            }),
        ),
        (
            m::UnregisterFrameworkMessage::NAME,
            named(&m::UnregisterFrameworkMessage {
                framework_id: fid.clone(),
            }),
        ),
        (
            m::KillTaskMessage::NAME,
            named(&m::KillTaskMessage {
                framework_id: fid.clone(),
                task_id: proto::TaskId::from("t"),
                kill_policy: None,
            }),
        ),
    ];
    for (name, body) in samples {
        if let Some(i) = names.iter().position(|n| *n == name) {
            let mut v = vec![i as u8];
            v.extend(body);
            bodies.push(v);
        }
    }
    for i in 0..names.len().min(256) {
        bodies.push(vec![i as u8, 0x80]);
    }
    let scheduler_calls: Vec<Vec<u8>> = [
        r#"{"type":"SUBSCRIBE","subscribe":{"framework_info":{"user":"root","name":"f","principal":"ops","roles":["*"],"capabilities":[{"type":"MULTI_ROLE"}]}}}"#,
        r#"{"framework_id":{"value":"f-1"},"type":"ACCEPT","accept":{"offer_ids":[{"value":"o-1"}],"operations":[{"type":"LAUNCH","launch":{"task_infos":[{"name":"t","task_id":{"value":"t"},"agent_id":{"value":"a"},"resources":[{"name":"cpus","type":"SCALAR","scalar":{"value":1.5}}],"command":{"value":"echo hi","shell":true}}]}}],"filters":{"refuse_seconds":5}}}"#,
        r#"{"framework_id":{"value":"f-1"},"type":"KILL","kill":{"task_id":{"value":"t"}}}"#,
        r#"{"framework_id":{"value":"f-1"},"type":"ACKNOWLEDGE","acknowledge":{"agent_id":{"value":"a"},"task_id":{"value":"t"},"uuid":"AAAAAAAAAAAAAAAAAAAAAA=="}}"#,
        r#"{"framework_id":{"value":"f-1"},"type":"RECONCILE","reconcile":{"tasks":[{"task_id":{"value":"t"}}]}}"#,
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect();
    let executor_calls: Vec<Vec<u8>> = [
        r#"{"type":"SUBSCRIBE","framework_id":{"value":"f"},"executor_id":{"value":"e"},"subscribe":{"unacknowledged_tasks":[],"unacknowledged_updates":[]}}"#,
        r#"{"type":"UPDATE","framework_id":{"value":"f"},"executor_id":{"value":"e"},"update":{"status":{"task_id":{"value":"t"},"state":"TASK_RUNNING","source":"SOURCE_EXECUTOR","uuid":"AAAAAAAAAAAAAAAAAAAAAA=="}}}"#,
        r#"{"type":"MESSAGE","framework_id":{"value":"f"},"executor_id":{"value":"e"},"message":{"data":"aGk="}}"#,
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect();
    let operator_calls: Vec<Vec<u8>> = [
        r#"{"type":"GET_STATE"}"#,
        r#"{"type":"SET_QUOTA","set_quota":{"quota_request":{"role":"eng","guarantee":[{"name":"cpus","type":"SCALAR","scalar":{"value":2}}]}}}"#,
        r#"{"type":"RESERVE_RESOURCES","reserve_resources":{"agent_id":{"value":"a"},"resources":[{"name":"mem","type":"SCALAR","scalar":{"value":64},"reservations":[{"type":"STATIC","role":"eng"}]}]}}"#,
        r#"{"type":"UPDATE_WEIGHTS","update_weights":{"weight_infos":[{"role":"eng","weight":2.5}]}}"#,
        r#"{"type":"TEARDOWN","teardown":{"framework_id":{"value":"f-1"}}}"#,
        r#"{"type":"GET_METRICS","get_metrics":{"timeout":{"nanoseconds":1000000}}}"#,
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect();
    let recordio = vec![
        b"20\n{\"type\":\"HEARTBEAT\"}5\nhello".to_vec(),
        b"0\n".to_vec(),
    ];
    let master_flags = b"--port=5050\n--quorum=2\n--work_dir=/var/lib/mesos\n--authenticate_frameworks\n--weights=eng=2.5,ops=1\n--max_agent_ping_timeouts=5\n--agent_ping_timeout=15secs\n--offer_timeout=1mins".to_vec();
    let agent_flags = b"--master=zk://127.0.0.1:2181/mesos\n--resources=cpus:4;mem:1024;ports:[31000-32000]\n--attributes=rack:a;zone:b\n--executor_registration_timeout=1mins\n--registration_backoff_factor=100ms".to_vec();
    let mut update_log = Vec::new();
    for record in [
        br#"{"ACK":{"uuid":"AAAAAAAAAAAAAAAAAAAAAA=="}}"#.as_slice(),
        br#"{}"#.as_slice(),
    ] {
        update_log.extend_from_slice(&(record.len() as u32).to_be_bytes());
        update_log.extend_from_slice(record);
    }
    let registry = master::registry::Registry::default().encode();
    let master_info = br#"{"id":"m-1","ip":16777343,"port":5050,"pid":"master@127.0.0.1:5050","hostname":"localhost","version":"1.11.0","address":{"hostname":"localhost","ip":"127.0.0.1","port":5050}}"#.to_vec();
    let manifests = vec![
        br#"{"generation":3,"chunks":2,"bytes":900000}"#.to_vec(),
        br#"{"generation":0,"chunks":0,"bytes":0}"#.to_vec(),
    ];
    let credentials = vec![
        br#"{"credentials":[{"principal":"ops","secret":"s3cret"}]}"#.to_vec(),
        b"ops s3cret\ndev other\n".to_vec(),
    ];
    vec![
        Target {
            name: "wire_frames",
            seeds: frames,
            run: |d| {
                let _ = libproc::wire::parse_handshake_addr(d);
                let mut buf = BytesMut::from(d);
                while let Ok(Some(frame)) = libproc::wire::split_frame(&mut buf, 1 << 20) {
                    let _ = libproc::wire::decode_frame_raw(&frame);
                }
            },
        },
        Target {
            name: "message_bodies",
            seeds: bodies,
            run: |d| {
                let Some((&pick, body)) = d.split_first() else {
                    return;
                };
                let names = message_names();
                let name = names[pick as usize % names.len()];
                let _ = decode_message(name, body);
            },
        },
        Target {
            name: "v1_scheduler_calls",
            seeds: scheduler_calls,
            run: |d| {
                let _ = master::http_api::scheduler::decode_call(d);
            },
        },
        Target {
            name: "v1_executor_calls",
            seeds: executor_calls,
            run: |d| {
                let _ = slave::v1_executor::decode_call(d);
            },
        },
        Target {
            name: "v1_operator_calls",
            seeds: operator_calls,
            run: |d| {
                let _ = proto::v1::operator::decode(d, proto::v1::operator::MASTER_TYPES);
                let _ = proto::v1::operator::decode(d, proto::v1::operator::AGENT_TYPES);
            },
        },
        Target {
            name: "recordio",
            seeds: recordio,
            run: |d| {
                // Fed whole, then in pieces (the decoder keeps state across feeds).
                let _ = proto::v1::recordio::Decoder::new().feed(d);
                let mut dec = proto::v1::recordio::Decoder::new();
                for piece in d.chunks(7) {
                    if dec.feed(piece).is_err() {
                        break;
                    }
                }
            },
        },
        Target {
            name: "flags",
            seeds: vec![master_flags, agent_flags],
            run: |d| {
                let args = || text(d).split('\n').map(String::from).collect::<Vec<_>>();
                let _ = libproc::flags::Flags::parse(
                    "mesos-master",
                    master::config::FLAGS,
                    args(),
                    "MESOS_",
                    |_| None,
                );
                let _ = libproc::flags::Flags::parse(
                    "mesos-agent",
                    slave::config::FLAGS,
                    args(),
                    "MESOS_",
                    |_| None,
                );
                for line in text(d).split('\n') {
                    let value = line.split_once('=').map_or(line, |(_, v)| v);
                    let _ = libproc::flags::parse_duration(value);
                    let _ = libproc::flags::parse_bytes(value);
                    let _ = master::config::parse_weights(value);
                    let _ = slave::config::parse_master(value);
                    let _ = value.parse::<proto::Resources>();
                }
            },
        },
        Target {
            name: "agent_checkpoints",
            seeds: vec![update_log],
            run: |d| {
                let _ = slave::checkpoint::parse_update_log(d, Path::new("task.updates"));
                let _ = serde_json::from_slice::<proto::FrameworkInfo>(d);
                let _ = serde_json::from_slice::<proto::TaskInfo>(d);
            },
        },
        Target {
            name: "registry",
            seeds: vec![registry],
            run: |d| {
                let _ = master::registry::Registry::decode(d);
            },
        },
        Target {
            name: "zk_master_info",
            seeds: vec![master_info],
            run: |d| {
                let _ = proto::MasterInfo::from_json(&text(d));
            },
        },
        Target {
            name: "zk_store_manifest",
            seeds: manifests,
            run: |d| {
                let _ = detector::zk_store::parse_manifest(d);
            },
        },
        Target {
            name: "credentials",
            seeds: credentials,
            run: |d| {
                let _ = proto::authentication::parse_credentials(&text(d));
                let _ = proto::authentication::parse_credential(&text(d));
            },
        },
    ]
}

/// Every message name a master, agent or driver decodes from the network.
fn message_names() -> Vec<&'static str> {
    let mut v: Vec<&'static str> = proto::messages::NAMES.to_vec();
    v.extend(AUTHENTICATION_NAMES.iter().map(|(n, _)| *n));
    v
}

type Decode = fn(&[u8]) -> Result<(), String>;

const AUTHENTICATION_NAMES: &[(&str, Decode)] = {
    use proto::authentication as a;
    fn body<M: libproc::Message>(d: &[u8]) -> Result<(), String> {
        libproc::message::Payload::Remote(bytes::Bytes::copy_from_slice(d))
            .decode::<M>()
            .map(drop)
            .map_err(|e| e.to_string())
    }
    &[
        (
            <a::AuthenticateMessage as libproc::Message>::NAME,
            body::<a::AuthenticateMessage>,
        ),
        (
            <a::AuthenticationStepMessage as libproc::Message>::NAME,
            body::<a::AuthenticationStepMessage>,
        ),
        (
            <a::AuthenticationCompletedMessage as libproc::Message>::NAME,
            body::<a::AuthenticationCompletedMessage>,
        ),
        (
            <a::AuthenticationFailedMessage as libproc::Message>::NAME,
            body::<a::AuthenticationFailedMessage>,
        ),
    ]
};

fn decode_message(name: &str, body: &[u8]) -> Option<Result<(), String>> {
    proto::messages::decode_body(name, body).or_else(|| {
        AUTHENTICATION_NAMES
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, f)| f(body))
    })
}
