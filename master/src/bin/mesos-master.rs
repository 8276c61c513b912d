//! `mesos-master`: one master (with its allocator on its own thread) serving the actor
//! protocol and the operator HTTP API on `--ip:--port` until SIGTERM or ctrl-c.

use std::net::SocketAddr;
use std::process::ExitCode;

use libproc::flags::{Flags, FlagsError};
use libproc::{Node, NodeConfig};
use master::{MasterConfig, FLAGS};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let flags = match Flags::parse("mesos-master", FLAGS, args, "MESOS_", |k| {
        std::env::var(k).ok()
    }) {
        Ok(f) => f,
        Err(FlagsError::Help(text)) => {
            print!("{text}");
            return ExitCode::SUCCESS;
        }
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
    let default_level = if config.quiet { "warn" } else { "info" };
    libproc::logging::init(default_level);

    // The master id only needs to differ between runs: seed it from the time and our pid.
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    config.id_seed = nanos ^ ((std::process::id() as u64) << 32);

    let addr = SocketAddr::new(config.ip, config.port);
    let system = actix::System::new();
    let result: Result<(), String> = system.block_on(async move {
        let node = Node::bind(NodeConfig::new(addr)).await.map_err(|e| {
            format!("cannot listen on {addr}: {e} (is another master running? pick another --port)")
        })?;
        let arbiter = actix::Arbiter::new();
        let handle = master::spawn(&node, config, Some(&arbiter.handle()))
            .map_err(|e| format!("cannot start the master: {e}"))?;
        tracing::info!(pid = %handle.pid(), "Master started at {}", handle.pid());
        eprintln!("mesos-master: master PID {}", handle.pid());
        wait_for_shutdown().await;
        tracing::info!("shutting down");
        node.shutdown();
        arbiter.stop();
        Ok(())
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
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
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}
