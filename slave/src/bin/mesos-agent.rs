//! `mesos-agent`: runs one agent on its own node.
//!
//! ```text
//! mesos-agent --master=127.0.0.1:5050 --work_dir=/tmp/mesos [--port=5051] [--resources=...]
//! ```
//! Every flag also reads `MESOS_<NAME>` from the environment; `--help` lists them.

use std::process::ExitCode;

use libproc::flags::{Flags, FlagsError};
use libproc::{Node, NodeConfig};

fn main() -> ExitCode {
    libproc::logging::init("info");
    let flags = match Flags::parse(
        "mesos-agent",
        slave::config::FLAGS,
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
            eprintln!("mesos-agent: {e}");
            return ExitCode::from(2);
        }
    };
    let (config, listen, advertise) = match slave::config::from_flags(&flags) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("mesos-agent: {e}");
            return ExitCode::from(2);
        }
    };
    actix::System::new().block_on(async move {
        let mut nc = NodeConfig::new(listen);
        if let Some(ip) = advertise {
            nc.advertise = Some(std::net::SocketAddr::new(ip, listen.port()));
        }
        let node = match Node::bind(nc).await {
            Ok(n) => n,
            Err(e) => {
                eprintln!("mesos-agent: cannot listen on {listen}: {e}");
                return ExitCode::from(1);
            }
        };
        let agent = match slave::spawn(&node, config) {
            Ok(a) => a,
            Err(e) => {
                eprintln!("mesos-agent: {e}");
                return ExitCode::from(1);
            }
        };
        node.set_delegate(agent.pid().id());
        tracing::info!(pid = %agent.pid(), "mesos-agent running");
        agent.stopped().await;
        node.shutdown();
        ExitCode::SUCCESS
    })
}
