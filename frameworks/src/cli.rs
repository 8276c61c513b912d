//! Helpers shared by the framework binaries (`mesos-execute`, the example frameworks, the
//! command executor): reading `--master` (fixed or ZooKeeper), picking the address to listen on, logging, and
//! the seed and wall clock that binaries (unlike the library) may take from the OS.

use std::net::{IpAddr, Ipv4Addr, SocketAddr, ToSocketAddrs, UdpSocket};
use std::time::{SystemTime, UNIX_EPOCH};

use detector::MasterAddress;

/// Parses `--master`: `host:port`, `ip:port`, a full PID `master@ip:port`, or a ZooKeeper
/// URL `zk://host:port[,host:port…]/path` (the leader among the masters contending there).
pub fn parse_master(text: &str) -> Result<MasterAddress, String> {
    text.parse::<MasterAddress>()
        .map_err(|e| format!("--master: {e}"))
}

/// The address to listen on so that the master at `master` can reach us: for a fixed
/// master, the local address routed to it; for ZooKeeper, the local address routed to the
/// first ZooKeeper server (the masters are usually on the same network). See
/// [`listen_addr_for`].
pub fn listen_addr_for_master(master: &MasterAddress) -> SocketAddr {
    match master {
        MasterAddress::Standalone(pid) => listen_addr_for(pid.addr()),
        MasterAddress::ZooKeeper(url) => {
            let first = url.servers.split(',').next().unwrap_or_default();
            let peer = first
                .to_socket_addrs()
                .ok()
                .and_then(|mut addrs| addrs.find(|a| a.is_ipv4()))
                .unwrap_or(SocketAddr::from((Ipv4Addr::LOCALHOST, 2181)));
            listen_addr_for(peer)
        }
    }
}

/// The address to listen on so that `peer` can reach us: `LIBPROCESS_IP` if set, otherwise
/// the local address the OS would route to `peer` from (no packet is sent), with port 0
/// (or `LIBPROCESS_PORT`).
pub fn listen_addr_for(peer: SocketAddr) -> SocketAddr {
    let port = std::env::var("LIBPROCESS_PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    if let Some(ip) = std::env::var("LIBPROCESS_IP")
        .ok()
        .and_then(|ip| ip.parse::<IpAddr>().ok())
    {
        return SocketAddr::new(ip, port);
    }
    let bind: SocketAddr = if peer.is_ipv4() {
        (Ipv4Addr::UNSPECIFIED, 0).into()
    } else {
        (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let ip = UdpSocket::bind(bind)
        .and_then(|s| {
            s.connect(peer)?;
            s.local_addr()
        })
        .map(|a| a.ip())
        .unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST));
    SocketAddr::new(ip, port)
}

/// Logs to stderr with `RUST_LOG`-style filtering (default `default_level`).
pub fn init_logging(default_level: &str) {
    libproc::logging::init(default_level);
}

/// Logs to stdout (the command executor keeps stderr for the task's own output).
pub fn init_logging_stdout(default_level: &str) {
    libproc::logging::init_stdout(default_level);
}

/// Seconds since the Unix epoch (for display timestamps).
pub fn wall_clock() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// A seed from the clock and the OS pid: binaries may use ambient entropy, the library never.
pub fn os_seed() -> u64 {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    nanos ^ ((std::process::id() as u64) << 32) ^ 0x6d65_736f_735f_7273
}

/// The user to run tasks as: `$USER`, else `root`.
pub fn current_user() -> String {
    std::env::var("USER")
        .ok()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| "root".to_string())
}

/// Parses `--name=value` flags or exits: `--help` prints and exits 0; errors print and
/// exit 2.
pub fn flags_or_exit(program: &str, specs: &[libproc::flags::Flag]) -> libproc::flags::Flags {
    let args = std::env::args().skip(1);
    match libproc::flags::Flags::parse(program, specs, args, "MESOS_", |k| std::env::var(k).ok()) {
        Ok(f) => f,
        Err(libproc::flags::FlagsError::Help(h)) => {
            print!("{h}");
            std::process::exit(0);
        }
        Err(e) => usage_error(program, &e.to_string()),
    }
}

/// `--enable_fault_injection` (see [`libproc::fault::FLAG`]) or exits 2 on a bad value.
pub fn fault_injection_or_exit(program: &str, flags: &libproc::flags::Flags) -> bool {
    libproc::fault::enabled(flags).unwrap_or_else(|e| usage_error(program, &e.to_string()))
}

/// Prints `error: <message>` with a pointer to `--help` and exits 2.
pub fn usage_error(program: &str, message: &str) -> ! {
    eprintln!("{program}: error: {message}\nTry '{program} --help' for the list of flags.");
    std::process::exit(2);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn master_forms() {
        let fixed = |t: &str| match parse_master(t).unwrap() {
            MasterAddress::Standalone(pid) => pid.to_string(),
            other => panic!("{other:?}"),
        };
        assert_eq!(fixed("127.0.0.1:5050"), "master@127.0.0.1:5050");
        assert_eq!(fixed("master@10.0.0.1:5050"), "master@10.0.0.1:5050");
        let zk = parse_master("zk://127.0.0.1:2181,127.0.0.2:2181/mesos").unwrap();
        assert!(matches!(&zk, MasterAddress::ZooKeeper(u) if u.path == "/mesos"));
        assert!(listen_addr_for_master(&zk).ip().is_loopback());
        assert!(parse_master("zk://h:2181")
            .unwrap_err()
            .contains("--master"));
        assert!(parse_master("nonsense").unwrap_err().contains("host:port"));
        assert!(parse_master("127.0.0.1:0").is_err());
        assert!(listen_addr_for("127.0.0.1:5050".parse().unwrap())
            .ip()
            .is_loopback());
    }
}
