//! Mesos's v1 HTTP APIs on the master, as another door into the same core: an HTTP
//! scheduler is a framework whose connection is an event stream instead of a PID. The
//! shell gives each stream a PID of its own ([`stream_pid`]) that the core treats like
//! any scheduler's; effects the core addresses to such a PID go to the stream as v1
//! events instead of over the wire. This module holds the pure parts: decoding calls and
//! encoding events; the shell's glue is `process::scheduler_api`.

pub mod scheduler;

use libproc::Pid;
use std::net::SocketAddr;

/// The id prefix of the PIDs that stand for HTTP scheduler streams.
const STREAM_PID_PREFIX: &str = "scheduler-http-";

/// The PID standing for HTTP scheduler stream `stream_id` on the master at `addr`.
pub fn stream_pid(stream_id: &str, addr: SocketAddr) -> Pid {
    Pid::new(&format!("{STREAM_PID_PREFIX}{stream_id}"), addr)
}

/// Whether `pid` stands for an HTTP scheduler stream (such a framework has no PID to
/// show: Mesos omits `pid` for HTTP frameworks).
pub fn is_stream_pid(pid: &Pid) -> bool {
    pid.id().starts_with(STREAM_PID_PREFIX)
}
