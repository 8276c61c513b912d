//! Mesos's v1 HTTP APIs on the master, as another door into the same core: an HTTP
//! scheduler is a framework whose connection is an event stream instead of a PID. The
//! shell gives each stream a PID of its own ([`stream_pid`]) that the core treats like
//! any scheduler's; effects the core addresses to such a PID go to the stream as v1
//! events instead of over the wire. This module holds the pure parts: decoding calls and
//! encoding events; the shell's glue is `process::scheduler_api`.

pub mod operator;
pub mod scheduler;

use libproc::Pid;
use std::net::SocketAddr;

/// The PID standing for HTTP scheduler stream `stream_id` on the master at `addr`.
pub fn stream_pid(stream_id: &str, addr: SocketAddr) -> Pid {
    proto::v1::stream_pid("scheduler", stream_id, addr)
}

pub use proto::v1::is_stream_pid;
