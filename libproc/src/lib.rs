#![doc = include_str!("../RUNTIME.md")]
#![warn(missing_docs)]

pub mod connection;
pub mod docker;
pub mod duration;
pub mod fault;
pub mod files_read;
pub mod filter;
pub mod flags;
pub mod fxhash;
pub mod http;
pub mod http_auth;
mod limits;
pub mod logging;
pub mod message;
pub mod metrics;
pub mod node;
pub mod offload;
pub mod pid;
pub mod process;
pub mod procfs;
pub mod rng;
pub mod testing;
pub mod tls;
pub mod transport;
pub mod wall_clock;
pub mod wire;

pub use connection::ConnectionId;
pub use filter::{Filters, Match};
pub use http::{HttpRequest, HttpResponse, Responder};
pub use message::{Envelope, Exited, Message};
pub use node::{LinkMode, Node, NodeConfig, NodeStats, SpawnError};
pub use pid::{Pid, PidParseError};
pub use process::{Ctx, Gone, Handlers, Process, ProcessActor, ProcessRef, Reach, TimerId};
pub use transport::{MemNetwork, TcpTransport, Transport};
