//! `mesos-local`: a master and N agents in one process on one port, as Mesos's
//! `mesos-local`. Frameworks and `mesos-execute` connect to it with `--master=IP:PORT`.

use std::process::ExitCode;

use cluster::local::{LocalCluster, LocalConfig};
use libproc::flags::{Flag, Flags, FlagsError};
use libproc::{Node, NodeConfig};

const FLAGS: &[Flag] = &[
    Flag::new("num_slaves", "1", "Number of agents to run."),
    Flag::new("ip", "127.0.0.1", "IP address to listen on."),
    Flag::new("port", "5050", "Port to listen on (master and agents share it)."),
    Flag::new("work_dir", "/tmp/mesos-local", "Work directory; agent N uses <work_dir>/agent-N."),
    Flag::optional("resources", "Resources of each agent, e.g. 'cpus:2;mem:2048;disk:4096;ports:[31000-32000]' (default: detected)."),
    Flag::optional("attributes", "Attributes of each agent, e.g. 'rack:a'."),
    Flag::new("allocation_interval", "1secs", "Time between batch allocations."),
    Flag::new("agent_ping_timeout", "15secs", "Time between master pings of an agent."),
    Flag::new("max_agent_ping_timeouts", "5", "Missed pings before an agent is unreachable."),
    Flag::optional("launcher_dir", "Directory holding mesos-executor (default: this binary's directory)."),
    Flag::optional("hostname", "Host name the master advertises."),
    libproc::fault::FLAG,
];

fn config(flags: &Flags) -> Result<(LocalConfig, std::net::SocketAddr), String> {
    let e = |x: FlagsError| x.to_string();
    let num: usize = flags.get("num_slaves").map_err(e)?;
    if num == 0 {
        return Err("invalid value for --num_slaves: '0' (expected at least 1)".into());
    }
    let ip: std::net::IpAddr = flags.get("ip").map_err(e)?;
    let port: u16 = flags.get("port").map_err(e)?;
    let mut c = LocalConfig::new(num, flags.str("work_dir").unwrap_or("/tmp/mesos-local"));
    c.master.ip = ip;
    c.master.port = port;
    c.master.allocation_interval = flags.duration("allocation_interval").map_err(e)?;
    c.master.agent_ping_timeout = flags.duration("agent_ping_timeout").map_err(e)?;
    c.master.max_agent_ping_timeouts = flags.get("max_agent_ping_timeouts").map_err(e)?;
    c.master.hostname = flags.opt("hostname").map_err(e)?;
    c.master.id_seed = std::process::id() as u64 ^ (master::config::wall_clock() * 1e6) as u64;
    if let Some(r) = flags.str("resources") {
        c.agent_resources = Some(
            r.parse()
                .map_err(|err| format!("invalid value for --resources: {err}"))?,
        );
    }
    if let Some(a) = flags.str("attributes") {
        c.agent_attributes = a
            .parse()
            .map_err(|err| format!("invalid value for --attributes: {err}"))?;
    }
    c.launcher_dir = flags.opt("launcher_dir").map_err(e)?;
    Ok((c, std::net::SocketAddr::new(ip, port)))
}

fn main() -> ExitCode {
    let flags = match Flags::parse(
        "mesos-local",
        FLAGS,
        std::env::args().skip(1),
        "MESOS_",
        |k| std::env::var(k).ok(),
    ) {
        Ok(f) => f,
        Err(FlagsError::Help(h)) => {
            println!("{h}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let fault_injection = match libproc::fault::enabled(&flags) {
        Ok(on) => on,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let (config, addr) = match config(&flags) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    libproc::logging::init("info");
    actix::System::new().block_on(async move {
        let node = match Node::bind(NodeConfig::new(addr).fault_injection(fault_injection)).await {
            Ok(n) => n,
            Err(err) => {
                eprintln!("error: cannot listen on {addr}: {err}");
                return ExitCode::from(1);
            }
        };
        let num = config.num_agents;
        let cluster = match LocalCluster::start(&node, config) {
            Ok(c) => c,
            Err(err) => {
                eprintln!("error: {err}");
                return ExitCode::from(1);
            }
        };
        tracing::info!(master = %cluster.master_pid(), agents = num, "mesos-local is up; try: mesos-execute --master={} --name=hello --command='echo hello'", node.addr());
        wait_for_shutdown_signal().await;
        tracing::info!("shutting down");
        for a in &cluster.agents {
            a.shutdown().await;
        }
        ExitCode::SUCCESS
    })
}

/// Returns on SIGINT or SIGTERM.
async fn wait_for_shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                biased;
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
