//! `mesos-chaos`: fault rules and named fault scenarios for a running cluster, applied
//! through each node's `/fault/rules` endpoint (see `cluster::chaos` and
//! `docs/fault-injection.md`).

use std::process::ExitCode;

use cluster::chaos::{run, Command, USAGE};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--help" || a == "-h") {
        println!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    let cmd = match Command::parse(&args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("mesos-chaos: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("mesos-chaos: cannot start a runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match rt.block_on(run(cmd)) {
        Ok(out) => {
            println!("{}", out.trim_end());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("mesos-chaos: {e}");
            ExitCode::from(1)
        }
    }
}
