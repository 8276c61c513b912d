//! `mesos-master`: one master (with its allocator on its own thread) serving the actor
//! protocol and the operator HTTP API on `--ip:--port` until SIGTERM or ctrl-c. With
//! `--zk` it contends for leadership and exits (code 3) when it loses it; see
//! [`EXIT_CODES`].

use std::net::SocketAddr;
use std::process::ExitCode;

use libproc::flags::{Flags, FlagsError};
use libproc::{Ctx, Handlers, Node, NodeConfig, Pid, Process};
use master::{MasterConfig, FLAGS};

/// The exit codes, as `--help` lists them.
const EXIT_CODES: &str = "\nExit codes:\n  0  stopped by SIGTERM or ctrl-c\n  1  could not start (cannot listen on --ip:--port, cannot start the master)\n  2  invalid flags\n  3  lost leadership: the ZooKeeper session expired, the candidacy znode vanished, or\n     the registry could not be recovered; a supervisor should restart the master\n     (Mesos's \"committing suicide\": two masters must never act at once)\n";

/// Tells `main` when the master process stops on its own (lost leadership).
struct Watchdog {
    master: Pid,
    tx: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Process for Watchdog {
    /// Watches the master on its own node.
    const REACH: libproc::Reach = libproc::Reach::LocalOnly;
    fn install(_h: &mut Handlers<Self>) {}
    fn started(&mut self, ctx: &mut Ctx<'_, Self>) {
        ctx.link(&self.master);
    }
    fn exited(&mut self, _ctx: &mut Ctx<'_, Self>, pid: Pid) {
        if pid == self.master {
            if let Some(tx) = self.tx.take() {
                let _ = tx.send(());
            }
        }
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let flags = match Flags::parse("mesos-master", FLAGS, args, "MESOS_", |k| {
        std::env::var(k).ok()
    }) {
        Ok(f) => f,
        Err(FlagsError::Help(text)) => {
            print!("{text}{EXIT_CODES}");
            return ExitCode::SUCCESS;
        }
        Err(FlagsError::Version) => {
            println!("mesos {}", master::config::MESOS_VERSION);
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("mesos-master: {e}");
            return ExitCode::from(2);
        }
    };
    let fault_injection = match libproc::fault::enabled(&flags) {
        Ok(on) => on,
        Err(e) => {
            eprintln!("mesos-master: {e}");
            return ExitCode::from(2);
        }
    };
    let mut config = match MasterConfig::from_flags(&flags) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("mesos-master: {e}");
            return ExitCode::from(2);
        }
    };
    let default_level = if config.quiet && config.logging_level == "info" {
        "warn"
    } else {
        config.logging_level
    };
    let log_file = match libproc::logging::init_with_dir(
        "mesos-master",
        default_level,
        config.log_dir.as_deref(),
    ) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("mesos-master: {e}");
            return ExitCode::from(2);
        }
    };
    for warning in master::config::deprecations(&flags) {
        tracing::warn!("{warning}");
    }

    // The master id only needs to differ between runs: seed it from the time and our pid.
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    config.id_seed = nanos ^ ((std::process::id() as u64) << 32);

    let addr = SocketAddr::new(config.ip, config.port);
    let system = actix::System::new();
    let result: Result<ExitCode, String> = system.block_on(async move {
        let node_config = NodeConfig::new(addr)
            .advertising(config.advertise_ip, config.advertise_port)
            .fault_injection(fault_injection);
        let node = Node::bind(node_config).await.map_err(|e| match e.kind() {
            std::io::ErrorKind::AddrInUse => format!(
                "cannot listen on {addr}: {e} (is another master running? pick another --port)"
            ),
            _ => format!("cannot listen on {addr}: {e}"),
        })?;
        let arbiter = actix::Arbiter::new();
        let handle = master::spawn(&node, config, Some(&arbiter.handle()))
            .map_err(|e| format!("cannot start the master: {e}"))?;
        // With --log_dir, the log is readable at /files/read?path=/master/log (web UI).
        if let Some(file) = log_file {
            node.spawn("files", master::log_files::LogFiles::new(file))
                .map_err(|e| format!("cannot start the master: {e}"))?;
        }
        tracing::info!(pid = %handle.pid(), "Master started at {}", handle.pid());
        eprintln!("mesos-master: master PID {}", handle.pid());
        let (tx, lost) = tokio::sync::oneshot::channel();
        node.spawn(
            "master-watchdog",
            Watchdog {
                master: handle.pid().clone(),
                tx: Some(tx),
            },
        )
        .map_err(|e| format!("cannot start the master: {e}"))?;
        let code = tokio::select! {
            biased;
            _ = wait_for_shutdown() => {
                tracing::info!("shutting down");
                ExitCode::SUCCESS
            }
            _ = lost => {
                eprintln!("mesos-master: lost leadership; exiting (code 3) so a supervisor can restart this master");
                ExitCode::from(3)
            }
        };
        node.shutdown();
        arbiter.stop();
        Ok(code)
    });
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("mesos-master: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn wait_for_shutdown() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                biased;
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}
