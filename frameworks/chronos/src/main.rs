//! `chronos`: distributed cron on Mesos.
//!
//! ```text
//! chronos --master=zk://127.0.0.1:2181/mesos --zk_hosts=127.0.0.1:2181 --http_port=4400
//! ```
//!
//! With `--zk_hosts` the jobs live in ZooKeeper under `--zk_path` and several `chronos`
//! processes elect a leader there; the others answer API requests with a redirect to it.
//! Without it, the jobs live in memory (one process, nothing survives a restart).

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::process::ExitCode;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use chronos::core::Chronos;
use chronos::framework::{wall_clock, ChronosScheduler};
use chronos::http::{Backend, HttpState};
use chronos::store::{MemStore, Store, ZkStore};
use detector::contender::{ContenderEvent, Lease};
use detector::ZkUrl;
use frameworks::cli;
use frameworks::scheduler::{self, SchedulerConfig};
use libproc::flags::Flag;
use libproc::{Node, NodeConfig};
use proto::{FrameworkCapability, FrameworkId, FrameworkInfo};

const FLAGS: &[Flag] = &[
    Flag::required(
        "master",
        "The Mesos master: host:port, or zk://host:port[,host:port]/path to follow the leader.",
    ),
    Flag::new("http_port", "4400", "Port of the REST API and web UI."),
    Flag::new("http_address", "127.0.0.1", "Address the HTTP server listens on."),
    Flag::new(
        "hostname",
        "",
        "Host name other chronos processes redirect clients to (default: --http_address).",
    ),
    Flag::new(
        "zk_hosts",
        "",
        "ZooKeeper servers (host:port,...) for the job store and leader election; empty: in memory, one process.",
    ),
    Flag::new("zk_path", "/chronos/state", "ZooKeeper path of the store and the election."),
    Flag::new("zk_timeout", "10", "ZooKeeper session timeout, seconds."),
    Flag::new("mesos_framework_name", "chronos", "Framework name."),
    Flag::new("mesos_role", "*", "Framework role."),
    Flag::new("user", "", "User tasks run as (default: the current user)."),
    Flag::new(
        "failover_timeout",
        "604800",
        "Seconds the master keeps the framework and its tasks while no chronos leads.",
    ),
    libproc::fault::FLAG,
];

fn main() -> ExitCode {
    let flags = cli::flags_or_exit("chronos", FLAGS);
    let fault_injection = cli::fault_injection_or_exit("chronos", &flags);
    let bad = |m: String| -> ! { cli::usage_error("chronos", &m) };
    let master =
        cli::parse_master(flags.str("master").unwrap_or_default()).unwrap_or_else(|e| bad(e));
    let http_port: u16 = flags
        .get("http_port")
        .unwrap_or_else(|e| bad(e.to_string()));
    let http_ip: Ipv4Addr = flags
        .str("http_address")
        .unwrap_or("127.0.0.1")
        .parse()
        .unwrap_or_else(|e| bad(format!("--http_address: {e}")));
    let hostname = match flags.str("hostname").unwrap_or_default() {
        "" => http_ip.to_string(),
        h => h.to_string(),
    };
    let zk_timeout: f64 = flags
        .get("zk_timeout")
        .unwrap_or_else(|e| bad(e.to_string()));
    if !zk_timeout.is_finite() || zk_timeout <= 0.0 {
        bad("--zk_timeout must be a number of seconds > 0".into());
    }
    let zk_timeout = Duration::from_secs_f64(zk_timeout);
    let zk_hosts = flags.str("zk_hosts").unwrap_or_default().to_string();
    let zk_path = flags.str("zk_path").unwrap_or("/chronos/state").to_string();
    let zk: Option<ZkUrl> = if zk_hosts.is_empty() {
        None
    } else {
        Some(
            format!("zk://{zk_hosts}{zk_path}")
                .parse()
                .unwrap_or_else(|e| bad(format!("--zk_hosts/--zk_path: {e}"))),
        )
    };
    let failover_timeout: f64 = flags
        .get("failover_timeout")
        .unwrap_or_else(|e| bad(e.to_string()));
    let mut framework = FrameworkInfo::new(
        flags.str("mesos_framework_name").unwrap_or("chronos"),
        match flags.str("user").unwrap_or_default() {
            "" => cli::current_user(),
            u => u.to_string(),
        },
    );
    framework.failover_timeout = failover_timeout;
    framework.checkpoint = true;
    framework
        .capabilities
        .push(FrameworkCapability::PartitionAware);
    let role = flags.str("mesos_role").unwrap_or("*");
    if role != "*" {
        framework.role = Some(role.to_string());
    }
    framework.webui_url = Some(format!("http://{hostname}:{http_port}"));
    cli::init_logging("warn");

    actix::System::new().block_on(async move {
        let local = tokio::task::LocalSet::new();
        local
            .run_until(run(
                master,
                framework,
                zk,
                zk_timeout,
                SocketAddrV4::new(http_ip, http_port),
                hostname,
                fault_injection,
            ))
            .await
    })
}

async fn run(
    master: scheduler::MasterAddress,
    mut framework: FrameworkInfo,
    zk: Option<ZkUrl>,
    zk_timeout: Duration,
    http: SocketAddrV4,
    hostname: String,
    fault_injection: bool,
) -> ExitCode {
    let (http_ip, http_port) = (*http.ip(), http.port());
    let addr = SocketAddr::from(http);
    let listener = match tokio::net::TcpListener::bind(addr).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("chronos: cannot listen on {addr}: {e}");
            return ExitCode::from(1);
        }
    };
    let http = Arc::new(HttpState::default());
    if let Ok(mut me) = http.me.lock() {
        *me = format!("{hostname}:{http_port}");
    }
    tokio::task::spawn_local(chronos::http::serve(listener, http.clone()));
    println!("chronos: HTTP on {addr}");

    // Leadership.
    let lease = Lease::new();
    let zk_store = zk.as_ref().map(|u| ZkStore::new(u, zk_timeout));
    let mut events = match &zk {
        None => {
            lease.renew(tokio::time::Instant::now() + Duration::from_secs(3600 * 24 * 365 * 100));
            None
        }
        Some(url) => {
            let id = format!(
                "chronos-{}-{}",
                std::process::id(),
                cli::os_seed() % 1_000_000
            );
            let info = chronos::leader::candidacy(&id, http_ip, http_port, &hostname);
            Some(chronos::leader::start(
                url.clone(),
                zk_timeout,
                info,
                lease.clone(),
            ))
        }
    };
    if let Some(rx) = events.as_mut() {
        loop {
            match rx.recv().await {
                Some(ContenderEvent::Contending(path)) => {
                    if let Some(s) = &zk_store {
                        s.set_fence(Some(path));
                    }
                }
                Some(ContenderEvent::Leader(Some(info))) => {
                    let l = chronos::leader::http_address(&info);
                    println!("chronos: leader is {l}");
                    http.set(Backend::Follower(l));
                }
                Some(ContenderEvent::Leader(None)) => http.set(Backend::Unknown),
                Some(ContenderEvent::Elected) => break,
                Some(ContenderEvent::Lost(why)) => {
                    eprintln!("chronos: lost the candidacy: {why}");
                    return ExitCode::from(3);
                }
                None => return ExitCode::from(3),
            }
        }
    }
    println!("chronos: elected leader");
    http.set(Backend::Unknown);

    // Recover the jobs and the framework id.
    let store: Rc<dyn Store> = match &zk_store {
        Some(s) => Rc::new(s.clone()),
        None => Rc::new(MemStore::new()),
    };
    let (records, fid) = loop {
        match (store.load().await, store.framework_id().await) {
            (Ok(r), Ok(f)) => break (r, f),
            (Err(e), _) | (_, Err(e)) => {
                eprintln!("chronos: cannot load the jobs: {e}; retrying");
                if !lease.valid() {
                    eprintln!("chronos: lost the lease while recovering");
                    return ExitCode::from(3);
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    };
    let (core, problems) = Chronos::recover(records, chrono::Utc::now());
    for p in problems {
        eprintln!("chronos: {p}");
    }
    println!("chronos: recovered {} job(s)", core.jobs().len());
    if let Some(id) = fid {
        println!("chronos: failing over framework {id}");
        framework.id = Some(FrameworkId::from(id));
    }
    let node = match Node::bind(
        NodeConfig::new(cli::listen_addr_for_master(&master)).fault_injection(fault_injection),
    )
    .await
    {
        Ok(n) => n,
        Err(e) => {
            eprintln!("chronos: cannot bind the libprocess node: {e}");
            return ExitCode::from(1);
        }
    };
    let lease2 = lease.clone();
    let sched = ChronosScheduler::new(core, store, wall_clock(), Rc::new(move || lease2.valid()));
    let config = SchedulerConfig {
        seed: cli::os_seed(),
        reconcile_on_registration: true,
        implicit_acknowledgements: false,
        ..Default::default()
    };
    let handle = match scheduler::run_with(&node, master, framework, sched, config) {
        Ok(h) => h,
        Err(e) => {
            eprintln!("chronos: {e}");
            return ExitCode::from(1);
        }
    };
    http.set(Backend::Leader(handle.process.clone()));
    let code = match events.as_mut() {
        None => {
            let reason = handle.stopped().await;
            eprintln!("chronos: driver stopped: {reason:?}");
            ExitCode::from(1)
        }
        Some(rx) => {
            let lost = async {
                loop {
                    match rx.recv().await {
                        Some(ContenderEvent::Lost(why)) => return why,
                        None => return "contender ended".to_string(),
                        Some(_) => {}
                    }
                }
            };
            tokio::select! {
                biased;
                why = lost => {
                    eprintln!("chronos: lost leadership: {why}; exiting");
                    ExitCode::from(3)
                }
                reason = handle.stopped() => {
                    eprintln!("chronos: driver stopped: {reason:?}");
                    ExitCode::from(1)
                }
            }
        }
    };
    node.shutdown();
    code
}
