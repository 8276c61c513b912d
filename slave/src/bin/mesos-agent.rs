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
        Err(FlagsError::Version) => {
            println!("mesos {}", proto::MESOS_VERSION);
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("mesos-agent: {e}");
            return ExitCode::from(2);
        }
    };
    let logged = slave::config::logging(&flags).and_then(|(level, dir)| {
        libproc::logging::init_with_dir("mesos-agent", level, dir.as_deref())
    });
    if let Err(e) = logged {
        eprintln!("mesos-agent: {e}");
        return ExitCode::from(2);
    }
    let fault_injection = match libproc::fault::enabled(&flags) {
        Ok(on) => on,
        Err(e) => {
            eprintln!("mesos-agent: {e}");
            return ExitCode::from(2);
        }
    };
    let (config, (listen, advertise_ip, advertise_port)) = match slave::config::from_flags(&flags) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("mesos-agent: {e}");
            return ExitCode::from(2);
        }
    };
    actix::System::new().block_on(async move {
        let nc = NodeConfig::new(listen)
            .advertising(advertise_ip, advertise_port)
            .fault_injection(fault_injection);
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
        if agent.aborted() {
            eprintln!("mesos-agent: a checkpoint write failed; exiting to recover from the last good checkpoint on restart");
            return ExitCode::from(1);
        }
        ExitCode::SUCCESS
    })
}
