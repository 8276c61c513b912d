//! Mesos's v1 HTTP APIs' wire format, shared by the master (scheduler and operator APIs)
//! and the agent (executor API): RecordIO framing of event streams, base64 for `bytes`
//! fields, and the JSON mapping of our types (Mesos's protobuf JSON: `.proto` field names,
//! enums as strings, ids as `{"value": …}`, scalars as `{"value": x}`).

pub mod base64;
pub mod json;
pub mod operator;
pub mod recordio;

pub use json::{FieldError, Obj};

use libproc::Pid;
use std::net::SocketAddr;

/// The id prefix of PIDs that stand for v1 API event streams.
const STREAM_PID_PREFIX: &str = "http-";

/// The PID standing for the v1 `role` (`scheduler`, `executor`) stream `stream_id` of the
/// process at `addr`. A core keeps a stream client under this PID like any other peer;
/// its shell sends what the core addresses to it down the stream instead of the wire.
pub fn stream_pid(role: &str, stream_id: &str, addr: SocketAddr) -> Pid {
    Pid::new(&format!("{STREAM_PID_PREFIX}{role}-{stream_id}"), addr)
}

/// Whether `pid` stands for a v1 API stream (see [`stream_pid`]).
pub fn is_stream_pid(pid: &Pid) -> bool {
    pid.id().starts_with(STREAM_PID_PREFIX)
}

/// A new stream id, UUID-shaped as Mesos's are: unique per `(owner, n)`.
pub fn stream_id(owner: &str, n: u64) -> String {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    owner.hash(&mut h);
    let a = h.finish();
    format!(
        "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xfff,
        (n >> 48) & 0xfff,
        n & 0xffff_ffff_ffff
    )
}
