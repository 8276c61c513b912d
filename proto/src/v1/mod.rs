//! Mesos's v1 HTTP APIs' wire format, shared by the master (scheduler and operator APIs)
//! and the agent (executor API): RecordIO framing of event streams, base64 for `bytes`
//! fields, and the JSON mapping of our types (Mesos's protobuf JSON: `.proto` field names,
//! enums as strings, ids as `{"value": …}`, scalars as `{"value": x}`).

pub mod base64;
pub mod json;
pub mod recordio;

pub use json::{FieldError, Obj};
