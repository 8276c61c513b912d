//! `marathon`: long-running services on Mesos with Marathon's `/v2` REST API.
//!
//! ```text
//! marathon --master=zk://127.0.0.1:2181/mesos --zk=zk://127.0.0.1:2181/marathon --http_port=8080
//! ```
//!
//! With `--zk`, state lives in ZooKeeper (one znode per app, deployment and instance) and
//! several `marathon` processes elect a leader there; the others proxy the API to it. A new
//! leader re-registers with the stored FrameworkID and adopts the running tasks. Losing
//! leadership (or ZooKeeper) ends the process: a supervisor restarts it (Marathon's
//! fail-fast). Without `--zk`, state is in memory and this process always leads.

use std::net::{Ipv4Addr, SocketAddr};
use std::process::ExitCode;
use std::rc::Rc;
use std::time::Duration;

use frameworks::cli;
use frameworks::scheduler::{self, SchedulerConfig};
use libproc::flags::Flag;
use libproc::{Node, NodeConfig};
use marathon::core::Core;
use marathon::shell::{Info, Marathon, Shared};
use marathon::store::{MemStore, Store, ZkStore};
use proto::{FrameworkInfo, MasterInfo};

const FLAGS: &[Flag] = &[
    Flag::required(
        "master",
        "The Mesos master: host:port, or zk://host:port[,host:port]/path to follow the leader.",
    ),
    Flag::new("http_port", "8080", "Port of the REST API and UI."),
    Flag::optional(
        "zk",
        "zk://host:port[,host:port]/path for state and leader election (e.g. zk://localhost:2181/marathon). \
         Without it, state is in memory and this instance always leads.",
    ),
    Flag::new("hostname", "127.0.0.1", "Host name other instances and clients reach this one at."),
    Flag::new("framework_name", "marathon", "Framework name registered with Mesos."),
    Flag::new(
        "failover_timeout",
        "604800",
        "Seconds Mesos keeps the tasks after the scheduler went away (Marathon: one week).",
    ),
    Flag::new(
        "reconciliation_interval",
        "600",
        "Seconds between periodic task reconciliations (besides one after every registration).",
    ),
    Flag::new("zk_session_timeout", "10", "ZooKeeper session timeout in seconds."),
    Flag::optional("mesos_user", "User tasks run as (default: the current user)."),
    libproc::fault::FLAG,
];

fn main() -> ExitCode {
    let flags = cli::flags_or_exit("marathon", FLAGS);
    let fault_injection = cli::fault_injection_or_exit("marathon", &flags);
    let bad = |m: String| -> ! { cli::usage_error("marathon", &m) };
    let master_text = flags.str("master").unwrap_or_default().to_string();
    let master = cli::parse_master(&master_text).unwrap_or_else(|e| bad(e));
    let http_port: u16 = flags
        .get("http_port")
        .unwrap_or_else(|e| bad(e.to_string()));
    let failover_timeout: f64 = flags
        .get("failover_timeout")
        .unwrap_or_else(|e| bad(e.to_string()));
    let reconcile: f64 = flags
        .get("reconciliation_interval")
        .unwrap_or_else(|e| bad(e.to_string()));
    let zk_timeout: f64 = flags
        .get("zk_session_timeout")
        .unwrap_or_else(|e| bad(e.to_string()));
    let positive = |x: f64| x.is_finite() && x > 0.0;
    let valid = positive(reconcile)
        && positive(zk_timeout)
        && failover_timeout.is_finite()
        && failover_timeout >= 0.0;
    if !valid {
        bad("intervals and timeouts must be positive".into());
    }
    let zk_url: Option<detector::ZkUrl> = flags.str("zk").map(|z| {
        z.parse()
            .unwrap_or_else(|e: detector::MasterAddressError| bad(e.to_string()))
    });
    let hostname = flags.str("hostname").unwrap_or("127.0.0.1").to_string();
    let name = flags
        .str("framework_name")
        .unwrap_or("marathon")
        .to_string();
    let user = flags
        .str("mesos_user")
        .map(str::to_string)
        .unwrap_or_else(cli::current_user);
    cli::init_logging("info");
    let info = Info {
        master: master_text,
        zk: zk_url.as_ref().map(|z| z.to_string()).unwrap_or_default(),
        http_port,
        me: format!("{hostname}:{http_port}"),
        framework_name: name.clone(),
    };
    actix::System::new().block_on(async move {
        let listener = match tokio::net::TcpListener::bind(SocketAddr::from(([0, 0, 0, 0], http_port))).await {
            Ok(l) => l,
            Err(e) => {
                eprintln!("marathon: cannot listen on port {http_port}: {e}");
                return ExitCode::from(1);
            }
        };
        let session = Duration::from_secs_f64(zk_timeout);
        let zk_store = match &zk_url {
            Some(url) => match ZkStore::connect(&url.servers, &url.path, session).await {
                Ok(s) => Some(s),
                Err(e) => {
                    eprintln!("marathon: {e}");
                    return ExitCode::from(1);
                }
            },
            None => None,
        };
        let store: Rc<dyn Store> = match &zk_store {
            Some(s) => Rc::new(s.clone()),
            None => Rc::new(MemStore::default()),
        };
        let shared = Shared::new(Core::new(cli::os_seed()), store, info.clone());
        tokio::task::spawn_local(marathon::server::serve(listener, shared.clone()));
        // Leader election (with --zk): wait until elected, following the leader meanwhile.
        let (elected_tx, mut elected_rx) = tokio::sync::mpsc::unbounded_channel::<Result<(), String>>();
        if let Some(url) = &zk_url {
            let url = detector::ZkUrl {
                servers: url.servers.clone(),
                path: format!("{}/leader", url.path),
            };
            let me = MasterInfo::new(
                format!("marathon-{}", std::process::id()),
                hostname.parse().unwrap_or(Ipv4Addr::LOCALHOST),
                http_port,
                hostname.clone(),
                "marathon",
            );
            let lease = detector::contender::Lease::new();
            *shared.lease.borrow_mut() = Some(lease.clone());
            let sh = shared.clone();
            let fenced = zk_store.clone();
            tokio::task::spawn_local(detector::contender::contend(url, session, me, lease, move |ev| {
                use detector::contender::ContenderEvent;
                match ev {
                    ContenderEvent::Leader(l) => {
                        *sh.leader.borrow_mut() =
                            l.map(|m| format!("{}:{}", m.address.hostname, m.address.port));
                    }
                    ContenderEvent::Elected => {
                        let _ = elected_tx.send(Ok(()));
                    }
                    ContenderEvent::Lost(why) => {
                        let _ = elected_tx.send(Err(why));
                    }
                    // Every write checks this candidacy still exists (a deposed leader's
                    // write cannot overwrite its successor's).
                    ContenderEvent::Contending(path) => {
                        if let Some(s) = &fenced {
                            s.set_fence(Some(path));
                        }
                    }
                }
            }));
            match elected_rx.recv().await {
                Some(Ok(())) => {}
                other => {
                    eprintln!("marathon: leadership candidacy lost before election: {other:?}");
                    return ExitCode::from(1);
                }
            }
        }
        *shared.leader.borrow_mut() = Some(info.me.clone());
        // Elected: read the state, then register with the stored FrameworkID.
        match shared.store.load().await {
            Ok(entries) => {
                if let Err(e) = shared.core.borrow_mut().load(entries) {
                    eprintln!("marathon: stored state is unreadable: {e}");
                    return ExitCode::from(1);
                }
            }
            Err(e) => {
                eprintln!("marathon: cannot read state: {e}");
                return ExitCode::from(1);
            }
        }
        let mut framework = FrameworkInfo::new(name, user);
        framework.checkpoint = true;
        framework.failover_timeout = failover_timeout;
        framework.id = shared.core.borrow().framework_id.clone().map(Into::into);
        tracing::info!(framework_id = ?framework.id, apps = shared.core.borrow().apps.len(), "elected; registering");
        let bind = cli::listen_addr_for_master(&master);
        let node = match Node::bind(NodeConfig::new(bind).fault_injection(fault_injection)).await {
            Ok(n) => n,
            Err(e) => {
                eprintln!("marathon: cannot listen on {bind}: {e}");
                return ExitCode::from(1);
            }
        };
        let config = SchedulerConfig {
            seed: cli::os_seed(),
            reconcile_on_registration: true,
            ..Default::default()
        };
        let sched = Marathon::new(shared.clone(), Duration::from_secs_f64(reconcile));
        let handle = match scheduler::run_with(&node, master, framework, sched, config) {
            Ok(h) => h,
            Err(e) => {
                eprintln!("marathon: {e}");
                return ExitCode::from(1);
            }
        };
        *shared.driver.borrow_mut() = Some(handle.process.clone());
        // Fail fast: losing leadership or the driver ends the process.
        tokio::select! {
            biased;
            reason = handle.stopped() => {
                eprintln!("marathon: driver stopped: {reason:?}");
            }
            lost = elected_rx.recv(), if zk_url.is_some() => {
                eprintln!("marathon: leadership lost: {lost:?}; exiting");
            }
        }
        node.shutdown();
        ExitCode::from(1)
    })
}
